"""``Ingestor``: feeds market data into ``ingenium.ingestor.data.<symbol>``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from ingenium.bus import Published
from ingenium.component import Component, ParamsT
from ingenium.errors import ConfigurationError
from ingenium.events import DataEvent, DataType, Event, Ohlc, Quote, Trade
from ingenium.ids import derive_id
from ingenium.lastbar import last_bar


class Ingestor(Component[ParamsT], ABC):
    """Subclass and implement ``async run()``, which builds bars with ``bar(...)`` and sends them with ``emit``.

    Bar ids derive from (symbol, period, bar time), so loading the same bars again stores nothing new.
    """

    kind = "ingestor"

    @abstractmethod
    async def run(self) -> None:
        """Produce data until done (a file load) or until cancelled (a live feed)."""

    def bar(
        self,
        symbol: str,
        start: datetime,
        *,
        open: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal = Decimal(0),
        period: str = "1m",
    ) -> DataEvent:
        """An OHLC data event with an id derived from (symbol, period, start)."""
        return DataEvent(
            id=derive_id("data", symbol, period, start.isoformat()),
            timestamp=self.clock.now(),
            type=DataType.OHLC,
            symbol=symbol,
            ohlc=Ohlc(open=open, high=high, low=low, close=close, volume=volume, period=period, timestamp=start),
        )

    def trade(self, symbol: str, trade: Trade) -> DataEvent:
        """A trade event with an id derived from the trade, so the same trade sent again stores nothing new.

        The id comes from (symbol, the venue's trade id), or from every field when the venue gives no id.
        """
        key = (trade.id,) if trade.id else (trade.timestamp.isoformat(), trade.price, trade.size, trade.exchange,
                                             ",".join(trade.conditions))
        return DataEvent(id=derive_id("data", symbol.lower(), DataType.TRADE.value, *key), timestamp=self.clock.now(),
                         type=DataType.TRADE, symbol=symbol, trade=trade)

    def quote(self, symbol: str, quote: Quote) -> DataEvent:
        """A quote event; its id derives from (symbol, every field of the quote), so a re-sent quote dedups."""
        key = (quote.timestamp.isoformat(), quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size,
               quote.bid_exchange, quote.ask_exchange)
        return DataEvent(id=derive_id("data", symbol.lower(), DataType.QUOTE.value, *key), timestamp=self.clock.now(),
                         type=DataType.QUOTE, symbol=symbol, quote=quote)

    async def last_stored(self, symbols: Iterable[str], period: str) -> dict[str, datetime]:
        """Start of the last bar of ``period`` already in the data stream, per symbol (as given) that has one.

        Live only (``{}`` in a backtest): an ingestor resumes after these, so a restart long after the stream's
        duplicate window stores no bar twice.
        """
        context = self.context
        if context is None or not context.live:
            return {}
        js = context.jetstream()
        subjects = context.settings.subjects
        found: dict[str, datetime] = {}
        for symbol in symbols:
            # The last bar, not the last message: trades and quotes share the subject.
            event = await last_bar(js, subjects.stream("data"), subjects.data(symbol), period)
            if event is not None:
                found[symbol] = event.bar.timestamp
        return found

    async def emit(self, events: Sequence[Event]) -> list[Published]:
        """Publish events in order, many in flight; returns where each was stored."""
        if self.context is None:
            raise ConfigurationError(f"ingestor {self.name} is not bound to a bus; run it with ingenium.runtime")
        return await self.context.bus.publish_many(events)
