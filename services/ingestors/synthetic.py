"""A synthetic live feed: seeded random-walk bars in real time or accelerated, for demos and soak tests.

``ingenium ingest synthetic --symbols acme,globex --seed 7 --speed 60`` (one simulated minute per second), or
``ingenium run services.ingestors.synthetic:SyntheticFeed --symbols acme --param speed=max``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from ingenium.component import Params
from ingenium.errors import ConfigurationError
from ingenium.period import parse_period
from services.ingestors.feed import BarFeed, FeedBar
from services.ingestors.random_walk import RandomWalk


def _speed(value: Any) -> Any:
    return 0 if isinstance(value, str) and value.strip().lower() == "max" else value


class SyntheticParams(Params):
    """Shape and pace of the random walk."""

    seed: int = Field(default=7, description="Seed of the walk; the same seed gives the same bars.")
    start_price: Decimal = Field(default=Decimal(100), gt=0, description="Price before the first bar.")
    volatility: float = Field(default=0.0015, ge=0, le=0.5, description="Std. deviation of one bar's log return.")
    period: str = Field(default="1m", description="Bar length (1s, 1m, 1h …).")
    speed: Annotated[float, BeforeValidator(_speed)] = Field(
        default=1.0, ge=0, description="Simulated time per real time: 1 real time, 60 a minute per second, "
        "0 or 'max' as fast as the bus takes them."
    )
    start: datetime | None = Field(
        default=None, description="Start of the first bar (UTC); default: now, rounded down to the period."
    )
    count: int | None = Field(default=None, ge=1, description="Bars per symbol before stopping; unset: forever.")

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        parse_period(value)
        return value


class SyntheticFeed(BarFeed[SyntheticParams]):
    """Publishes one bar per symbol per period, as a market feed would once each bar closes.

    With a fixed ``start`` and ``seed`` the feed is fully reproducible, and a restart resumes it: the walk is
    replayed without pause (or publishing) up to the last bar already stored for each symbol, so a feed
    killed mid-run continues where it stopped, storing no bar twice even after the stream's duplicate window.
    Set the symbols with the component's ``symbols`` (``--symbols`` on the CLI).
    """

    async def bars(self) -> AsyncIterator[list[FeedBar]]:
        """Yield one tick of bars per period, paced by ``speed``."""
        if not self.symbols:
            raise ConfigurationError(f"{self.name}: give the symbols to generate (--symbols acme,globex)")
        p = self.params
        length = parse_period(p.period)
        start = p.start.astimezone(UTC) if p.start is not None else _floor(self.clock.now(), length)
        walks = [RandomWalk(s, seed=p.seed, start_price=p.start_price, volatility=p.volatility) for s in self.symbols]
        pause = length.total_seconds() / p.speed if p.speed > 0 else 0.0
        stored = await self.last_stored(self.symbols, p.period) if p.start is not None else {}
        index = 0
        while p.count is None or index < p.count:
            bar_start = start + index * length
            tick = []
            for walk in walks:
                o, h, low, c, v = walk.step()  # every step, stored or not: the walk must reach the same prices
                if (last := stored.get(walk.symbol)) is None or bar_start > last:
                    tick.append(FeedBar(walk.symbol, bar_start, o, h, low, c, v, p.period))
            if tick:
                if pause:
                    await asyncio.sleep(pause)
                yield tick
            index += 1


def _floor(moment: datetime, length: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // length) * length
