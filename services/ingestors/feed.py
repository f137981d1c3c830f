"""The interface for live bar feeds: a real exchange adapter subclasses ``BarFeed`` and implements ``bars()``.

``BarFeed`` does the rest: ids derived from (symbol, period, bar start), publishing with acks, and reconnecting
with a growing delay when the source drops (raise ``FeedDisconnected``). The synthetic feed is the reference
implementation; an exchange adapter has the same shape::

    class MyExchangeFeed(BarFeed[MyExchangeParams]):
        async def bars(self) -> AsyncIterator[list[FeedBar]]:
            async with connect(self.params.url) as socket:      # the exchange's client
                async for message in socket:
                    yield [to_feed_bar(message)]
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ingenium.component import ParamsT
from ingenium.errors import IngeniumError
from ingenium.ingestor import Ingestor


class FeedDisconnected(IngeniumError):
    """The feed lost its source; ``BarFeed`` reconnects by calling ``bars()`` again after a delay."""


@dataclass(frozen=True, slots=True)
class FeedBar:
    """One closed bar as a feed delivers it."""

    symbol: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    period: str


class BarFeed(Ingestor[ParamsT]):
    """Base of long-running feeds. Subclasses implement ``bars()``; ``run()`` publishes until cancelled."""

    #: First reconnect delay in seconds; doubles per failed attempt up to ``max_reconnect_delay``.
    reconnect_delay: float = 0.5
    max_reconnect_delay: float = 30.0

    @abstractmethod
    def bars(self) -> AsyncIterator[list[FeedBar]]:
        """Yield closed bars as they happen, a list per tick; end when the source ends."""

    async def run(self) -> None:
        """Publish every bar ``bars()`` yields; reconnect on ``FeedDisconnected``; return when it ends."""
        delay = self.reconnect_delay
        while True:
            try:
                async for tick in self.bars():
                    events = [
                        self.bar(b.symbol, b.start, open=b.open, high=b.high, low=b.low, close=b.close,
                                 volume=b.volume, period=b.period)
                        for b in tick
                    ]
                    if events:
                        await self.emit(events)
                    delay = self.reconnect_delay
                return
            except FeedDisconnected as exc:
                self.log.warning("%s: feed disconnected (%s); reconnecting in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_delay)
