"""Incremental indicators: O(1) work per bar, exact ``Decimal`` arithmetic, no dependency on Ingenium."""

from services.indicators.rsi import RelativeStrength
from services.indicators.sma import MovingAverage, MovingAverageCross

__all__ = ["MovingAverage", "MovingAverageCross", "RelativeStrength"]
