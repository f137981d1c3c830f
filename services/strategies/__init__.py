"""Example strategies: an SMA crossover and an RSI reversion, both with incremental indicators."""

from services.strategies.rsi import RsiReversion, RsiReversionParams
from services.strategies.sma_cross import SmaCross, SmaCrossParams

__all__ = ["RsiReversion", "RsiReversionParams", "SmaCross", "SmaCrossParams"]
