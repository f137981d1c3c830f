"""The one list of streams: every other list of stream keys, handlers and kinds derives from it."""

from __future__ import annotations

from typing import get_args

from ingenium.backtest.bus import KINDS
from ingenium.component import HANDLERS, SHARED_HANDLERS
from ingenium.events import CancelRequest, DataEvent, ExecutionEvent, OrderEvent, SignalEvent
from ingenium.subjects import STREAM_KEYS, STREAMS, StreamKey, Subjects


def test_the_stream_list_matches_the_stream_key_type() -> None:
    assert STREAM_KEYS == get_args(StreamKey) == ("data", "signal", "order", "execution", "deadletter")
    assert [s.key for s in STREAMS] == list(STREAM_KEYS)


def test_handlers_and_backtest_kinds_derive_from_the_streams() -> None:
    assert dict(HANDLERS) == {"data": ("on_data", DataEvent), "signal": ("on_signal", SignalEvent),
                              "order": ("on_order", OrderEvent), "execution": ("on_execution", ExecutionEvent)}
    assert dict(SHARED_HANDLERS) == {"order": (("cancel", "on_cancel", CancelRequest),)}
    assert KINDS == ("data", "signal", "order", "execution")


def test_stream_names_and_subjects_are_the_wire_contract() -> None:
    plain, spaced = Subjects(), Subjects("t-1")
    assert [plain.stream(k) for k in STREAM_KEYS] == [
        "INGENIUM_DATA", "INGENIUM_SIGNALS", "INGENIUM_ORDERS", "INGENIUM_EXECUTIONS", "INGENIUM_DEADLETTER"]
    assert spaced.stream("order") == "T_1_INGENIUM_ORDERS"
    assert plain.stream_subjects("data") == ["ingenium.ingestor.data.>"]
    assert plain.stream_subjects("order") == ["ingenium.portfolio.order", "ingenium.portfolio.cancel"]
    assert spaced.stream_subjects("execution") == ["t-1.ingenium.executor.execution"]
    assert plain.stream_subjects("deadletter") == ["ingenium.deadletter.>"]
    assert [plain.kind_subject(k) for k in ("signal", "order", "cancel", "execution")] == [
        "ingenium.strategy.signal", "ingenium.portfolio.order", "ingenium.portfolio.cancel",
        "ingenium.executor.execution"]
