"""Alpaca market data into the data stream: historical bars (backtests, warm-up), live bars, trades and quotes.

``ingenium run services.ingestors.alpaca:AlpacaHistoricalBars --symbols AAPL,MSFT -p start=2024-01-02 -p period=1m``
loads history page by page; ``ingenium run services.ingestors.alpaca:AlpacaLiveBars --symbols AAPL`` follows the
live minute bars. Both publish ``DataEvent``s whose ids derive from (symbol, period, bar start), and both start
after the last bar of the same period already stored for each symbol, so a re-run stores nothing new and an
interrupted load resumes where it stopped. ``-p trades=true`` / ``-p quotes=true`` make the live one publish the
trades and quotes too. See docs/venues.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from ingenium.component import Params, ParamsT
from ingenium.errors import ConfigurationError
from ingenium.events import DataEvent, Trade
from ingenium.fields import PositiveDuration
from ingenium.ingestor import Ingestor
from ingenium.lastbar import last_trade
from ingenium.period import parse_period
from services.ingestors.feed import FeedBar
from services.venues.alpaca_data import (
    AlpacaBars,
    AlpacaDataSettings,
    BarStream,
    parse_bar,
    parse_quote,
    parse_trade,
    timeframe,
)

Feed = Literal["iex", "sip"]
Adjustments = Literal["raw", "split", "dividend", "all"]


class _AlpacaIngestor(Ingestor[ParamsT]):
    """What both ingestors share: the symbols, the last stored bar per symbol, publishing Alpaca's bars."""

    period: str = "1m"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.symbols:
            raise ConfigurationError(f"{self.name}: give the symbols to load (--symbols AAPL,MSFT)")
        self.last: dict[str, datetime] = {}  # symbol → start of the last bar stored
        self.published = 0
        self.duplicates = 0

    async def stored_until(self) -> None:
        """Learn the start of the last bar of this period already in the stream, for every symbol (live only)."""
        self.last.update(await self.last_stored(self.symbols or (), self.period))

    def resume_at(self, symbol: str, start: datetime | None) -> datetime | None:
        """Where loading ``symbol`` starts: after its last stored bar, and not before ``start``."""
        last = self.last.get(symbol)
        after = last + parse_period(self.period) if last is not None else None
        candidates = [moment for moment in (start, after) if moment is not None]
        return max(candidates) if candidates else None

    async def publish_bars(self, bars: list[FeedBar]) -> None:
        """Publish bars newer than the last stored one of their symbol, in order."""
        fresh = [b for b in bars if (last := self.last.get(b.symbol)) is None or b.start > last]
        if not fresh:
            return
        events = [self.bar(b.symbol, b.start, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume,
                           period=b.period) for b in fresh]
        for outcome in await self.emit(events):
            self.published += 1
            self.duplicates += outcome.duplicate
        for b in fresh:
            self.last[b.symbol] = max(b.start, self.last.get(b.symbol, b.start))


class AlpacaHistoryParams(Params):
    """What history to load from Alpaca's REST API."""

    start: datetime = Field(description="First bar to load (UTC unless an offset is given).")
    end: datetime | None = Field(default=None, description="Last bar to load; unset: up to the latest.")
    period: str = Field(default="1m", description="Bar length: 1m to 59m, 1h to 23h, 1d or 1w.")
    feed: Feed = Field(default="iex", description="Alpaca's feed: iex (free) or sip (subscription).")
    adjustment: Adjustments = Field(default="raw", description="Corporate-action adjustment: raw, split, "
                                    "dividend or all.")
    page_size: int = Field(default=10_000, ge=1, le=10_000, description="Bars per REST page (published as it "
                           "arrives, so an interrupted load resumes after the last page stored).")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        timeframe(value)
        return value


@dataclass(frozen=True, slots=True)
class HistoricalResult:
    """What one load did."""

    pages: int
    published: int
    duplicates: int
    resumed_at: dict[str, datetime | None]


class AlpacaHistoricalBars(_AlpacaIngestor[AlpacaHistoryParams]):
    """Loads historical bars from Alpaca, symbol by symbol, one REST page at a time, then stops."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.period = self.params.period
        self.result: HistoricalResult | None = None
        self.source: AlpacaBars | None = None

    async def run(self) -> None:
        """Load every symbol from where it stopped (or ``start``) to ``end``; the result is kept in ``result``."""
        p = self.params
        source = self.source = AlpacaBars(AlpacaDataSettings(), feed=p.feed, adjustment=p.adjustment,
                                          page_size=p.page_size)
        pages = 0
        resumed: dict[str, datetime | None] = {}
        try:
            await self.stored_until()
            for symbol in self.symbols or ():
                start = resumed[symbol] = self.resume_at(symbol, p.start)
                if start is None or (p.end is not None and start > p.end):
                    continue
                async for page in source.pages(symbol, self.period, start, p.end):
                    pages += 1
                    await self.publish_bars(page)
        finally:
            source.close()
        self.result = HistoricalResult(pages, self.published - self.duplicates, self.duplicates, resumed)
        self.log.info("%s: %s", self.name, self.result)


class AlpacaLiveParams(Params):
    """Which live feed to follow, and how much history to load first."""

    feed: Feed = Field(default="iex", description="Alpaca's feed: iex (free) or sip (subscription).")
    warmup: PositiveDuration | None = Field(default=None, description="On a first start (no bar stored yet for a "
                                            "symbol), load this much history over REST before going live.")
    backfill_retry_seconds: float = Field(default=1.0, gt=0, description="Pause before a failed backfill is "
                                          "tried again; live bars wait until it succeeds.")
    trades: bool = Field(default=False, description="Also follow the symbols' trades and publish each as a "
                         "data.type.trade event (for strategies whose data_types ask for trades).")
    quotes: bool = Field(default=False, description="Also follow the symbols' best bid and ask and publish each "
                         "as a data.type.quote event (for strategies whose data_types ask for quotes).")


class AlpacaLiveBars(_AlpacaIngestor[AlpacaLiveParams]):
    """Publishes Alpaca's live minute bars; after every (re)connection, first backfills what it missed over REST.

    Live bars that arrive while a backfill runs wait for it (in the websocket's buffer), and a bar the backfill
    published already is not published again, so the stream holds every bar once, in order. With ``trades`` or
    ``quotes`` it also publishes those, each once (ids from the trade, or the quote's fields); the backfill after a
    (re)start or reconnect fetches the trades since the last one stored too, but quotes made while the stream was
    down are lost.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.period = "1m"  # Alpaca streams minute bars
        self.live = asyncio.Event()  # set while no backfill runs
        self.connections = 0
        self.backfills = 0
        self.ticks_lost = 0  # trades and quotes that could not be published (logged each time)
        #: Per symbol, the time of the last trade stored, and the ids of those at that time: a backfill starts at
        #: that time, so it skips those instead of leaning on JetStream's duplicate window.
        self.last_trade: dict[str, tuple[datetime, set[str]]] = {}
        self._began: datetime | None = None  # the first connection: bars from then on are never missed
        self._backfill: asyncio.Task[None] | None = None
        self._names = {s.upper(): s for s in self.symbols or ()}
        self.source: AlpacaBars | None = None

    async def run(self) -> None:
        """Follow the stream until cancelled (the SDK reconnects; each reconnection backfills first)."""
        settings = AlpacaDataSettings()
        self.source = AlpacaBars(settings, feed=self.params.feed)
        await self.stored_until()
        await self._trades_stored()
        stream = BarStream(self._connected, api_key=settings.key_id, secret_key=settings.secret_key,
                           raw_data=True, url_override=settings.stream_endpoint(self.params.feed))
        stream.subscribe_bars(self._on_bar, *self._names)
        if self.params.trades:
            stream.subscribe_trades(self._on_trade, *self._names)
        if self.params.quotes:
            stream.subscribe_quotes(self._on_quote, *self._names)
        try:
            await stream._run_forever()
        finally:
            if self._backfill is not None:
                self._backfill.cancel()
            await stream.stop_ws()
            await stream.close()
            self.source.close()

    async def _connected(self) -> None:
        # Runs inside the SDK's connection step: the backfill runs beside it, so the subscription is made at once
        # and no bar that closes during the backfill is missed; live bars wait for the backfill in _on_bar.
        self.connections += 1
        if self._began is None:
            self._began = self.clock.now().replace(second=0, microsecond=0)
        self._resync()

    def _resync(self) -> None:
        """Hold live bars and backfill from the last bar published (again, if one runs)."""
        self.live.clear()
        if self._backfill is not None:
            self._backfill.cancel()
        self._backfill = asyncio.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        assert self.source is not None and self._began is not None
        warmup = self.params.warmup
        # A symbol with nothing stored starts at the warm-up, else at the minute of the first connection.
        first = self._began - warmup if warmup is not None else self._began
        while True:
            try:
                for symbol in self.symbols or ():
                    start = self.resume_at(symbol, None if symbol in self.last else first)
                    assert start is not None
                    async for page in self.source.pages(symbol, self.period, start):
                        await self.publish_bars(page)
                await self._catch_up_trades()
                break
            except Exception:
                self.log.exception("%s: backfill failed; live bars wait, retrying in %.1fs", self.name,
                                   self.params.backfill_retry_seconds)
                await asyncio.sleep(self.params.backfill_retry_seconds)
        self.backfills += 1
        self.live.set()

    async def _on_bar(self, raw: Any) -> None:  # the SDK's raw message: a dict (raw_data=True)
        await self.live.wait()
        symbol = self._names.get(str(raw.get("S")), str(raw.get("S")))
        bar = parse_bar(symbol, self.period, raw)
        last = self.last.get(symbol)
        if last is not None and bar.start <= last:
            self.log.info("%s: live bar %s %s was published by the backfill already", self.name, symbol,
                          bar.start.isoformat())
            return
        try:
            await self.publish_bars([bar])
        except Exception:
            # The stream cannot deliver it again: a backfill from the last stored bar fetches it over REST.
            self.log.exception("%s: publishing a live bar failed; backfilling", self.name)
            self._resync()


    async def _trades_stored(self) -> None:
        """Learn the last trade stored per symbol (live, with ``trades``): a restart backfills the trades after it."""
        context = self.context
        if not self.params.trades or context is None or not context.live:
            return
        js, subjects = context.jetstream(), context.settings.subjects
        for symbol in self.symbols or ():
            event = await last_trade(js, subjects.stream("data"), subjects.data(symbol))
            if event is not None and event.trade is not None:
                trade = event.trade
                self.last_trade[symbol] = (trade.timestamp, {trade.id} if trade.id else set())

    async def _catch_up_trades(self) -> None:
        """Trades since the last one published, over REST: the gap of a dropped stream (ids dedup the overlap)."""
        assert self.source is not None
        if not self.params.trades:
            return
        for symbol, (since, _) in list(self.last_trade.items()):
            async for page in self.source.trade_pages(symbol, since):
                for trade in page:
                    await self._publish_trade(symbol, trade)

    async def _on_trade(self, raw: Any) -> None:  # the SDK's raw message (raw_data=True)
        await self.live.wait()  # after a reconnect, the missed trades first
        symbol = self._names.get(str(raw.get("S")), str(raw.get("S")))
        try:
            trade = parse_trade(raw)
        except ValueError:
            self.ticks_lost += 1
            self.log.exception("%s: trade %s lost (%d so far)", self.name, raw, self.ticks_lost)
            return
        await self._publish_trade(symbol, trade)

    async def _publish_trade(self, symbol: str, trade: Trade) -> None:
        """Publish a trade unless it is one published already (same time and venue id as the last ones)."""
        last = self.last_trade.get(symbol)
        if last is not None and trade.id is not None and trade.timestamp == last[0] and trade.id in last[1]:
            return  # a late print (older than the last) is published: Alpaca reports some out of order
        await self._publish_tick(lambda: self.trade(symbol, trade), "trade", trade)
        if last is None or trade.timestamp > last[0]:
            self.last_trade[symbol] = (trade.timestamp, set())
        if trade.id is not None and trade.timestamp == self.last_trade[symbol][0]:
            self.last_trade[symbol][1].add(trade.id)

    async def _on_quote(self, raw: Any) -> None:
        symbol = self._names.get(str(raw.get("S")), str(raw.get("S")))
        await self._publish_tick(lambda: self.quote(symbol, parse_quote(raw)), "quote", raw)

    async def _publish_tick(self, build: Callable[[], DataEvent], what: str, raw: Any) -> None:
        # A trade or quote the stream sent cannot be asked for again: one that fails to parse or to publish is
        # logged and counted, and the stream goes on (bars are backfilled; ticks are not).
        try:
            for outcome in await self.emit([build()]):
                self.published += 1
                self.duplicates += outcome.duplicate
        except Exception:
            self.ticks_lost += 1
            self.log.exception("%s: %s %s lost (%d so far)", self.name, what, raw, self.ticks_lost)
