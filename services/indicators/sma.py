"""Simple moving averages updated in O(1) per value, alone or as a fast/slow crossover pair."""

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


class MovingAverageCross:
    """Crossings of a fast and a slow simple moving average of the same values, in O(1) per value.

    Both averages read one ring buffer of the last ``slow`` values and keep exact running sums, so they are
    compared exactly (``fast_sum * slow`` against ``slow_sum * fast``), never through a rounded mean. This is
    the state of an SMA crossover strategy, kept to the few operations a bar needs: it runs on every bar.

    Args:
        fast: Values in the fast average; at least 1 and less than ``slow``.
        slow: Values in the slow average.

    """

    __slots__ = ("_above", "_fast", "_fast_scale", "_filled", "_next", "_ring", "_slow_scale", "fast_total",
                 "slow_total")

    def __init__(self, fast: int, slow: int) -> None:
        if not 1 <= fast < slow:
            raise ValueError(f"the fast window must be at least 1 and below the slow one, got {fast} and {slow}")
        self._fast = fast
        # Zeros stand for the values not seen yet: removing one from a sum changes nothing.
        self._ring: list[Decimal] = [Decimal(0)] * slow
        self._next = 0
        self._filled = False
        self._fast_scale = Decimal(slow)
        self._slow_scale = Decimal(fast)
        self._above: bool | None = None
        #: Sum of the last ``fast`` values (exact).
        self.fast_total = Decimal(0)
        #: Sum of the last ``slow`` values (exact).
        self.slow_total = Decimal(0)

    def update(self, value: Decimal) -> int:
        """Add one value; returns 1 when the fast average crossed above the slow one, -1 below, else 0.

        Nothing is reported until ``slow`` values were seen and the two averages were once apart; equal
        averages are no crossing (the previous relation holds).
        """
        ring = self._ring
        index = self._next
        leaving_fast = ring[index - self._fast]  # the ring holds ``slow`` values: this one is ``fast`` back
        leaving_slow = ring[index]
        ring[index] = value
        index += 1
        if index == len(ring):
            index = 0
            self._filled = True
        self._next = index
        fast_total = self.fast_total = self.fast_total + value - leaving_fast
        slow_total = self.slow_total = self.slow_total + value - leaving_slow
        if not self._filled:
            return 0
        fast_scaled = fast_total * self._fast_scale
        slow_scaled = slow_total * self._slow_scale
        if fast_scaled == slow_scaled:
            return 0
        above = fast_scaled > slow_scaled
        was_above = self._above
        self._above = above
        if was_above is None or was_above is above:
            return 0
        return 1 if above else -1
