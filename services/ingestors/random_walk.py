"""A seeded random walk of OHLC bars: the same seed and symbol always give the same bars."""

from __future__ import annotations

import math
import random
from decimal import Decimal

from ingenium.fields import is_valid_symbol


class RandomWalk:
    """Geometric random walk of one symbol's bars, rounded to a tick.

    The generator is seeded with ``"<seed>:<symbol>"`` (Python's ``random`` hashes string seeds with SHA-512),
    so each symbol has its own reproducible path whatever other symbols are generated beside it.

    Args:
        symbol: The symbol (also part of the seed).
        seed: Integer seed shared by all symbols of a data set.
        start_price: Price before the first bar.
        volatility: Standard deviation of one bar's log return (0.0015 ≈ 2.4% a day of 1-minute bars).
        drift: Mean of one bar's log return.
        tick: Price increment every price is rounded to.
        base_volume: Typical volume of one bar.

    """

    def __init__(
        self,
        symbol: str,
        *,
        seed: int,
        start_price: Decimal = Decimal(100),
        volatility: float = 0.0015,
        drift: float = 0.0,
        tick: Decimal = Decimal("0.01"),
        base_volume: int = 10_000,
    ) -> None:
        if not is_valid_symbol(symbol):
            raise ValueError(f"{symbol!r} is not a valid symbol")
        if start_price <= 0 or tick <= 0 or volatility < 0:
            raise ValueError("start_price and tick must be positive and volatility not negative")
        self.symbol = symbol
        self._rng = random.Random(f"{seed}:{symbol}")
        self._close = start_price.quantize(tick)
        self._volatility = volatility
        self._drift = drift
        self._tick = tick
        self._base_volume = base_volume

    def _round(self, value: float) -> Decimal:
        return max(Decimal(value).quantize(self._tick), self._tick)

    def step(self) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """The next bar as (open, high, low, close, volume); it opens at the previous close."""
        rng = self._rng
        open_ = self._close
        base = float(open_)
        close = self._round(base * math.exp(rng.gauss(self._drift, self._volatility)))
        wick_up = abs(rng.gauss(0.0, self._volatility / 2))
        wick_down = abs(rng.gauss(0.0, self._volatility / 2))
        high = max(self._round(float(max(open_, close)) * (1 + wick_up)), open_, close)
        low = min(self._round(float(min(open_, close)) * (1 - wick_down)), open_, close)
        volume = Decimal(int(self._base_volume * rng.lognormvariate(0.0, 0.5)))
        self._close = close
        return open_, high, low, close, volume
