"""The subjects components talk on, exactly as the original Go Ingenium named them.

A ``namespace`` prefixes every subject and stream. The default, empty, gives the wire contract
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
        base = {
            "data": "INGENIUM_DATA",
            "signal": "INGENIUM_SIGNALS",
            "order": "INGENIUM_ORDERS",
            "execution": "INGENIUM_EXECUTIONS",
            "deadletter": "INGENIUM_DEADLETTER",
        }[key]
        if not self.namespace:
            return base
        return f"{self.namespace.upper().replace('.', '_').replace('-', '_')}_{base}"

    def stream_subjects(self, key: StreamKey) -> list[str]:
        """The subjects a stream captures."""
        return {
            "data": [self.all_data],
            "signal": [self.signal],
            "order": [self.order, self.cancel],
            "execution": [self.execution],
            "deadletter": [self.all_dead_letters],
        }[key]

    def kind_subject(self, kind: str) -> str:
        """The subject of one kind of event other than data (``order``, ``cancel``, ``signal``, ``execution``)."""
        return {"signal": self.signal, "order": self.order, "cancel": self.cancel, "execution": self.execution}[kind]
