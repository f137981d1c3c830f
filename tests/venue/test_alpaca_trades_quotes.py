"""Alpaca's live trades and quotes: the real ingestor (a child process, through the SDK) against the fake Alpaca's
msgpack stream publishes them with the exact decimals Alpaca sent, a trade sent twice is stored once, a strategy
that asks for trades and quotes receives them while a bar-only one does not, and after a dropped stream the trades
made in the gap are backfilled over REST (``GET /v2/stocks/trades``) once, with the bars, and so are those made
while the ingestor was stopped; quotes in the gap are lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.events import DataEvent, DataType
from ingenium.testing import eventually, spawn, stream_events
from services.ingestors.alpaca import AlpacaLiveBars
from services.venues.alpaca_data import parse_quote, parse_trade
from tests.services.live import running
from tests.services.test_trades_quotes_delivery import Bars, Tape
from tests.venue.server import FakeAlpaca
from tests.venue.test_alpaca_bars import _stop, closes

LIVE = ["run", "services.ingestors.alpaca:AlpacaLiveBars", "--symbols", "AAPL", "-p", "warmup=1h",
        "-p", "trades=true", "-p", "quotes=true"]


async def data(nc: Client, settings: Settings, kind: DataType) -> list[DataEvent]:
    return [e for e in await stream_events(nc, settings, "data") if isinstance(e, DataEvent) and e.type is kind]


async def test_live_trades_and_quotes_reach_the_strategies_that_ask_once_and_exactly(
    settings: Settings, nc: Client, alpaca: FakeAlpaca, tmp_path: Path
) -> None:
    log = tmp_path / "live.log"
    market = alpaca.market
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    market.publish("AAPL", base, closes(3), live=False)
    at = datetime.now(UTC).replace(microsecond=123456)
    async with running(settings, nc) as loop:
        tape, bars_only = Tape(name="tape"), Bars(name="bars")
        await loop.start(tape)
        await loop.start(bars_only)
        child = spawn(LIVE, settings, log=log)
        try:
            await eventually(lambda: market.connections >= 1, timeout=30)
            await eventually(lambda: _count(nc, settings, DataType.OHLC, 3), timeout=30)  # the warm-up
            assert market.publish_trade("AAPL", at, "187.015", 50, trade_id=52983525029461,
                                        conditions=("@", "I")) == 1
            market.publish_quote("AAPL", at + timedelta(milliseconds=1), "187.01", 3, "187.02", 4)
            market.publish_trade("AAPL", at, "187.015", 50, trade_id=52983525029461,
                                 conditions=("@", "I"))  # Alpaca sends it again: stored once
            await eventually(lambda: _count(nc, settings, DataType.QUOTE, 1), timeout=20)
            await eventually(lambda: _count(nc, settings, DataType.TRADE, 1), timeout=20)

            await market.stream_down()
            gap = market.publish_trade("AAPL", at + timedelta(seconds=1), "188", 1, trade_id=2)
            lost = market.publish_quote("AAPL", at + timedelta(seconds=1), "187.9", 1, "188.1", 1)
            market.publish("AAPL", base + timedelta(minutes=3), closes(2, "101"))  # bars: backfilled over REST
            market.stream_up()
            await eventually(lambda: market.connections >= 2, timeout=30)
            await eventually(lambda: _count(nc, settings, DataType.OHLC, 5), timeout=30)
            market.publish_trade("AAPL", at + timedelta(seconds=2), "188.5", 7, trade_id=3)
            await eventually(lambda: _count(nc, settings, DataType.TRADE, 3), timeout=20)
        finally:
            await asyncio.to_thread(_stop, child)
        await loop.settle([tape, bars_only])

    assert gap == lost == 0  # nobody was connected: the trade came over REST, the quote is lost
    trades = await data(nc, settings, DataType.TRADE)
    assert [t.trade.id for t in trades if t.trade] == ["52983525029461", "2", "3"], log.read_text()[-3000:]
    assert trades[1].trade is not None and trades[1].trade.price == Decimal("188")
    trade_backfills = [q for q in market.requests if "timeframe" not in q]
    assert [q["start"] for q in trade_backfills] == [at.isoformat()]  # from the last trade stored before the drop
    first = trades[0].trade
    assert first is not None and trades[0].symbol == "AAPL"
    assert (first.price, first.size, first.timestamp) == (Decimal("187.015"), Decimal(50), at)
    assert (first.exchange, first.conditions, first.tape) == ("V", ("@", "I"), "C")
    (quote,) = [q.quote for q in await data(nc, settings, DataType.QUOTE)]
    assert quote is not None
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (
        Decimal("187.01"), Decimal(3), Decimal("187.02"), Decimal(4))
    assert (quote.bid_exchange, quote.ask_exchange, quote.timestamp) == ("V", "Q", at + timedelta(milliseconds=1))
    bars = await data(nc, settings, DataType.OHLC)
    assert [b.bar.timestamp for b in bars] == [base + timedelta(minutes=i) for i in range(5)]

    # The ingestor restarted after a trade it did not see: that one is backfilled from the last trade stored.
    market.publish_trade("AAPL", at + timedelta(seconds=3), "189", 2, trade_id=4)
    child = spawn(LIVE, settings, log=log)
    try:
        await eventually(lambda: _count(nc, settings, DataType.TRADE, 4), timeout=30)
        await eventually(lambda: market.connections >= 3, timeout=30)
    finally:
        await asyncio.to_thread(_stop, child)
    after = await data(nc, settings, DataType.TRADE)
    assert [t.trade.id for t in after if t.trade] == ["52983525029461", "2", "3", "4"], log.read_text()[-3000:]
    assert [q["start"] for q in market.requests if "timeframe" not in q][-1] == (at + timedelta(seconds=2)).isoformat()

    assert [e.type for e in tape.seen] == [DataType.TRADE, DataType.QUOTE, DataType.TRADE, DataType.TRADE]
    assert [e.id for e in tape.seen] == [trades[0].id, (await data(nc, settings, DataType.QUOTE))[0].id,
                                         trades[1].id, trades[2].id]
    assert [e.id for e in bars_only.seen] == [b.id for b in bars]


async def _count(nc: Client, settings: Settings, kind: DataType, n: int) -> bool:
    return len(await data(nc, settings, kind)) >= n


def test_a_malformed_trade_or_quote_is_refused_in_one_line_naming_it() -> None:
    with pytest.raises(ValueError, match=r"^Alpaca trade for AAPL is not a trade \(price: .*\): \{[^\n]*\}$"):
        parse_trade({"T": "t", "S": "AAPL", "i": 1, "s": 5, "t": "2024-01-02T14:30:00Z"})
    with pytest.raises(ValueError, match=r"^Alpaca trade for AAPL is not a trade \(size: Input should be greater "):
        parse_trade({"S": "AAPL", "p": 1.0, "s": 0, "t": "2024-01-02T14:30:00Z"})
    with pytest.raises(ValueError, match=r"^Alpaca quote for AAPL is not a quote \(no 't'\)"):
        parse_quote({"T": "q", "S": "AAPL", "bp": 1.5, "bs": 1, "ap": 1.6, "as": 2})


def test_trade_and_quote_ids_derive_from_what_they_are() -> None:
    ingestor = AlpacaLiveBars(symbols=["AAPL"])
    raw = {"T": "t", "S": "AAPL", "i": 9, "x": "V", "p": 187.01, "s": 5, "c": ["@"], "t": "2024-01-02T14:30:00Z"}
    assert ingestor.trade("AAPL", parse_trade(raw)).id == ingestor.trade("AAPL", parse_trade(dict(raw))).id
    assert ingestor.trade("AAPL", parse_trade(raw)).id != ingestor.trade("AAPL", parse_trade({**raw, "i": 10})).id
    anonymous = {k: v for k, v in raw.items() if k != "i"}  # no venue id: the fields make the id
    assert ingestor.trade("AAPL", parse_trade(anonymous)).id != ingestor.trade(
        "AAPL", parse_trade({**anonymous, "s": 6})).id
    q = {"T": "q", "S": "AAPL", "bp": 1.5, "bs": 1, "ap": 1.6, "as": 2, "t": "2024-01-02T14:30:00Z"}
    assert ingestor.quote("AAPL", parse_quote(q)).id == ingestor.quote("AAPL", parse_quote(dict(q))).id
    assert ingestor.quote("AAPL", parse_quote(q)).id != ingestor.quote("AAPL", parse_quote({**q, "as": 3})).id
