"""Injected time: live code asks its clock, so a backtest or a test can run deterministic time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current UTC time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class LiveClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        """The current wall-clock time in UTC."""
        return datetime.now(UTC)


class SimulatedClock:
    """Time that only moves when told to (backtests, replays, tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """The simulated current time."""
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move time forward to ``moment``; time never moves back."""
        if moment.tzinfo is None:
            raise ValueError("SimulatedClock needs timezone-aware times")
        if moment > self._now:
            self._now = moment
