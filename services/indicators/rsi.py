"""Wilder's relative strength index, updated in O(1) per value."""

from __future__ import annotations

from decimal import Decimal

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


class RelativeStrength:
    """RSI with Wilder's smoothing, as J. Welles Wilder defined it (and as most charting tools show it).

    The first average gain/loss is the plain mean of the first ``window`` changes; each later one is
    ``(previous * (window - 1) + change) / window``. The value is ``100 - 100 / (1 + gain / loss)``, 100 when
    there was no loss and 50 when the price did not move at all.

    Args:
        window: Number of price changes smoothed; at least 1.

    """

    __slots__ = ("_avg_gain", "_avg_loss", "_count", "_last", "window")

    def __init__(self, window: int = 14) -> None:
        if window < 1:
            raise ValueError(f"RSI window must be at least 1, got {window}")
        self.window = window
        self._last: Decimal | None = None
        self._count = 0
        self._avg_gain = _ZERO
        self._avg_loss = _ZERO

    def update(self, price: Decimal) -> Decimal | None:
        """Add one price; returns the RSI once ``window`` changes were seen, else ``None``."""
        last = self._last
        self._last = price
        if last is None:
            return None
        change = price - last
        gain = change if change > 0 else _ZERO
        loss = -change if change < 0 else _ZERO
        n = self.window
        if self._count < n:
            # Seed phase: accumulate sums, turned into plain means on the window-th change.
            self._count += 1
            self._avg_gain += gain
            self._avg_loss += loss
            if self._count < n:
                return None
            self._avg_gain /= n
            self._avg_loss /= n
        else:
            self._avg_gain = (self._avg_gain * (n - 1) + gain) / n
            self._avg_loss = (self._avg_loss * (n - 1) + loss) / n
        return self.value

    @property
    def value(self) -> Decimal | None:
        """The current RSI (0-100), ``None`` until ``window`` changes were seen."""
        if self._count < self.window:
            return None
        if self._avg_loss == 0:
            return _HUNDRED if self._avg_gain > 0 else Decimal(50)
        return _HUNDRED - _HUNDRED / (1 + self._avg_gain / self._avg_loss)
