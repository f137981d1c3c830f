"""A simple moving average updated in O(1) per value."""

from __future__ import annotations

from collections import deque
from decimal import Decimal


class MovingAverage:
    """Mean of the last ``window`` values, kept as a running sum so each update is O(1).

    The sum is exact (``Decimal``), so no rounding error accumulates over a long run, and two averages can be
    compared exactly through ``total``.

    Args:
        window: Number of values averaged; at least 1.

    """

    __slots__ = ("_total", "_values", "window")

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"moving average window must be at least 1, got {window}")
        self.window = window
        self._values: deque[Decimal] = deque()
        self._total = Decimal(0)

    def update(self, value: Decimal) -> Decimal | None:
        """Add one value; returns the average once ``window`` values were seen, else ``None``."""
        values = self._values
        values.append(value)
        self._total += value
        if len(values) > self.window:
            self._total -= values.popleft()
        elif len(values) < self.window:
            return None
        return self._total / self.window

    @property
    def ready(self) -> bool:
        """Whether ``window`` values were seen."""
        return len(self._values) == self.window

    @property
    def total(self) -> Decimal:
        """Sum of the values in the window (exact)."""
        return self._total

    @property
    def value(self) -> Decimal | None:
        """The current average, ``None`` until ``window`` values were seen."""
        return self._total / self.window if self.ready else None
