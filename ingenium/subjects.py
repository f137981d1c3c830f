"""The subjects and streams components talk on, exactly as the original Go Ingenium named them.

``STREAMS`` is the one list of the streams: each stream's key, its JetStream name, and the kinds of event it
carries with their handlers. The component model, the runtime, the stream set-up and the in-memory bus all
derive from it. A ``namespace`` prefixes every subject and stream. The default, empty, gives the wire contract
(``ingenium.portfolio.order`` …); tests and replays use one to stay isolated on a shared server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ingenium.events import CancelRequest, DataEvent, Event, ExecutionEvent, OrderEvent, SignalEvent

DATA = "ingenium.ingestor.data"
SIGNAL = "ingenium.strategy.signal"
ORDER = "ingenium.portfolio.order"
#: Cancel requests ride the order stream on a subject of their own: after the order they cancel, and out of the
#: way of Go readers of ``ingenium.portfolio.order``.
CANCEL = "ingenium.portfolio.cancel"
EXECUTION = "ingenium.executor.execution"
DEAD_LETTER = "ingenium.deadletter"

StreamKey = Literal["data", "signal", "order", "execution", "deadletter"]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of event on a stream.

    Its name, its subject (data: the prefix of the per-symbol subjects), its model and the handler that takes it.
    """

    name: str
    subject: str
    event: type[Event]
    handler: str


@dataclass(frozen=True, slots=True)
class Stream:
    """One JetStream stream.

    Its key, its name without a namespace, and the kinds it carries: its own first, none for dead letters (any
    message, verbatim).
    """

    key: StreamKey
    name: str
    kinds: tuple[Kind, ...]


#: Every stream, in the order work flows through the loop (data before signals before orders …).
STREAMS: tuple[Stream, ...] = (
    Stream("data", "INGENIUM_DATA", (Kind("data", DATA, DataEvent, "on_data"),)),
    Stream("signal", "INGENIUM_SIGNALS", (Kind("signal", SIGNAL, SignalEvent, "on_signal"),)),
    # Cancel requests ride the order stream, so an executor reads them through its order consumer, after the order.
    Stream("order", "INGENIUM_ORDERS", (Kind("order", ORDER, OrderEvent, "on_order"),
                                        Kind("cancel", CANCEL, CancelRequest, "on_cancel"))),
    Stream("execution", "INGENIUM_EXECUTIONS", (Kind("execution", EXECUTION, ExecutionEvent, "on_execution"),)),
    Stream("deadletter", "INGENIUM_DEADLETTER", ()),
)
#: Every stream's key.
STREAM_KEYS: tuple[StreamKey, ...] = tuple(stream.key for stream in STREAMS)
#: The streams of events components handle (all but the dead letters).
EVENT_STREAMS: tuple[Stream, ...] = tuple(stream for stream in STREAMS if stream.kinds)
#: Each stream by its key, and each event kind by its name.
STREAM_BY_KEY: dict[StreamKey, Stream] = {stream.key: stream for stream in STREAMS}
KIND_BY_NAME: dict[str, Kind] = {kind.name: kind for stream in STREAMS for kind in stream.kinds}


@dataclass(frozen=True, slots=True)
class Subjects:
    """Subject and stream names under one namespace."""

    namespace: str = ""

    def _prefixed(self, subject: str) -> str:
        return f"{self.namespace}.{subject}" if self.namespace else subject

    def data(self, symbol: str) -> str:
        """Subject of one symbol's market data (symbol lower-cased, as the original)."""
        return self._prefixed(f"{DATA}.{symbol.lower()}")

    @property
    def all_data(self) -> str:
        """Wildcard over every symbol's data."""
        return self._prefixed(f"{DATA}.>")

    @property
    def signal(self) -> str:
        """Subject of strategy signals."""
        return self._prefixed(SIGNAL)

    @property
    def order(self) -> str:
        """Subject of portfolio orders."""
        return self._prefixed(ORDER)

    @property
    def cancel(self) -> str:
        """Subject of cancel requests (on the order stream)."""
        return self._prefixed(CANCEL)

    @property
    def execution(self) -> str:
        """Subject of executor reports."""
        return self._prefixed(EXECUTION)

    def dead_letter(self, component: str) -> str:
        """Subject a component dead-letters to."""
        return self._prefixed(f"{DEAD_LETTER}.{component}")

    @property
    def all_dead_letters(self) -> str:
        """Wildcard over every component's dead letters."""
        return self._prefixed(f"{DEAD_LETTER}.>")

    def for_event(self, event: Event) -> str:
        """The subject an event is published on."""
        if isinstance(event, DataEvent):
            return self.data(event.symbol)
        if isinstance(event, SignalEvent):
            return self.signal
        if isinstance(event, OrderEvent):
            return self.order
        if isinstance(event, ExecutionEvent):
            return self.execution
        if isinstance(event, CancelRequest):
            return self.cancel
        raise TypeError(
            f"no subject for {type(event).__name__}; publish a DataEvent, SignalEvent, OrderEvent, ExecutionEvent "
            "or CancelRequest"
        )

    def stream(self, key: StreamKey) -> str:
        """JetStream stream name for one kind of event, e.g. ``INGENIUM_ORDERS``."""
        base = STREAM_BY_KEY[key].name
        if not self.namespace:
            return base
        return f"{self.namespace.upper().replace('.', '_').replace('-', '_')}_{base}"

    def stream_subjects(self, key: StreamKey) -> list[str]:
        """The subjects a stream captures."""
        if key == "data":
            return [self.all_data]
        if key == "deadletter":
            return [self.all_dead_letters]
        return [self._prefixed(kind.subject) for kind in STREAM_BY_KEY[key].kinds]

    def kind_subject(self, kind: str) -> str:
        """The subject of one kind of event other than data (``order``, ``cancel``, ``signal``, ``execution``)."""
        if kind == "data":
            raise KeyError("data has one subject per symbol: use data(symbol) or all_data")
        return self._prefixed(KIND_BY_NAME[kind].subject)
