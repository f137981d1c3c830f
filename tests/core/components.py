"""Small components the core tests run live, in-process and as real child processes."""

from __future__ import annotations

from pathlib import Path

from ingenium.component import Params
from ingenium.events import DataEvent, SignalEvent
from ingenium.strategy import Strategy


class EchoParams(Params):
    """Where to record handled bar ids (one line per handler call), if anywhere."""

    record: str = ""


class Echo(Strategy[EchoParams]):
    """Emits a long signal per bar; records each call so tests can count handler runs."""

    def on_data(self, event: DataEvent) -> SignalEvent:
        if self.params.record:
            with Path(self.params.record).open("a") as f:
                f.write(event.id + "\n")
        return self.long(event.symbol, event.bar.close)


class FlakyParams(Params):
    """How many times each message fails before it succeeds."""

    failures: int = 2


class Flaky(Strategy[FlakyParams]):
    """Fails the first ``failures`` attempts at each bar, then signals."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.attempts: dict[str, int] = {}
        self.succeeded: list[str] = []

    def on_data(self, event: DataEvent) -> SignalEvent:
        n = self.attempts[event.id] = self.attempts.get(event.id, 0) + 1
        if n <= self.params.failures:
            raise RuntimeError(f"transient failure {n} on {event.id}")
        self.succeeded.append(event.id)
        return self.long(event.symbol)


class AlwaysFails(Strategy):
    """A handler with a bug: every call raises."""

    def on_data(self, event: DataEvent) -> None:
        raise ValueError(f"cannot handle {event.symbol}")
