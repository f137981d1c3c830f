"""``Ingestor``: feeds market data into ``ingenium.ingestor.data.<symbol>``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from nats.js.errors import NotFoundError

from ingenium.bus import Published
from ingenium.component import Component, ParamsT
from ingenium.errors import ConfigurationError
from ingenium.events import DataEvent, DataType, Event, Ohlc
from ingenium.ids import derive_id


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
            try:
                msg = await js.get_last_msg(subjects.stream("data"), subjects.data(symbol))
            except NotFoundError:
                continue
            event = DataEvent.from_json(msg.data or b"")
            if event.ohlc is not None and event.ohlc.period == period:
                found[symbol] = event.ohlc.timestamp
        return found

    async def emit(self, events: Sequence[Event]) -> list[Published]:
        """Publish events in order, many in flight; returns where each was stored."""
        if self.context is None:
            raise ConfigurationError(f"ingestor {self.name} is not bound to a bus; run it with ingenium.runtime")
        return await self.context.bus.publish_many(events)
