"""Alpaca market data into the data stream, through the SDK against the fake Alpaca, as real child processes.

History: pages followed, 429s waited out, a load killed halfway resumes after the last stored bar, a re-run
stores nothing new (even beyond the duplicate window), prices are the exact decimals Alpaca sent. Live: warm-up
over REST, live bars, a dropped stream whose missed bars are backfilled over REST before live bars resume, with a
live bar arriving during the backfill: every bar once, in order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.events import DataEvent
from ingenium.testing import eventually, spawn, stream_events
from tests.venue.server import FakeAlpaca

START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
HISTORY = ["run", "services.ingestors.alpaca:AlpacaHistoricalBars", "--symbols", "AAPL,MSFT",
           "-p", "start=2024-01-02T14:30:00Z", "-p", "page_size=50"]


async def bars(nc: Client, settings: Settings) -> list[DataEvent]:
    return [e for e in await stream_events(nc, settings, "data") if isinstance(e, DataEvent)]


async def load(settings: Settings, log: Path) -> int:
    child = spawn(HISTORY, settings, log=log)
    return await asyncio.to_thread(child.wait, 120)


def closes(n: int, base: str = "100") -> list[str]:
    return [f"{Decimal(base) + Decimal(i) / 100:f}" for i in range(n)]


async def test_history_pages_rate_limits_resume_and_reruns_store_nothing_new(
    settings: Settings, nc: Client, alpaca: FakeAlpaca, tmp_path: Path
) -> None:
    # Re-runs must not rely on the dedup window; publish retries must stay inside it (Settings enforces that).
    settings = settings.model_copy(update={"duplicate_window_seconds": 0.1, "publish_retry_seconds": 0.05})
    log = tmp_path / "bars.log"
    market = alpaca.market
    market.publish("AAPL", START, closes(120), live=False)
    market.publish("MSFT", START, closes(30, "300"), live=False)
    market.throttle(2)  # the first two requests meet Alpaca's rate limit

    # The first load is killed when it asks for AAPL's second page: one page of 50 is stored.
    killed: list[int] = []

    def kill_on_second_page(query: dict[str, str]) -> None:
        if query.get("page_token") and not killed:
            killed.append(1)
            os.kill(child.pid, signal.SIGKILL)

    market.on_request = kill_on_second_page
    child = spawn(HISTORY, settings, log=log)
    assert await asyncio.to_thread(child.wait, 120) == -signal.SIGKILL, log.read_text()[-2000:]
    market.on_request = None
    assert market.rate_limited == 2 and len(await bars(nc, settings)) == 50

    assert await load(settings, log) == 0, log.read_text()[-2000:]
    stored = await bars(nc, settings)
    assert len(stored) == len({e.id for e in stored}) == 150
    aapl = [e.bar for e in stored if e.symbol == "AAPL"]
    assert [b.timestamp for b in aapl] == [START + timedelta(minutes=i) for i in range(120)]
    assert [b.close for b in aapl] == [Decimal(c) for c in closes(120)]  # exact decimals, not floats
    assert all(b.period == "1m" and b.volume == 100 + i for i, b in enumerate(aapl))
    resumed = [q for q in market.requests if q["symbols"] == "AAPL" and not q.get("page_token")][-1]
    assert resumed["start"] == (START + timedelta(minutes=50)).isoformat()  # after the last stored bar
    assert resumed["timeframe"] == "1Min" and resumed["feed"] == "iex" and resumed["limit"] == "50"

    # Again, long after the duplicate window: nothing is sent, nothing stored.
    await asyncio.sleep(0.3)
    assert await load(settings, log) == 0
    assert len(await bars(nc, settings)) == 150
    # Ten more bars at Alpaca: only those are stored.
    market.publish("AAPL", START + timedelta(minutes=120), closes(10, "200"), live=False)
    assert await load(settings, log) == 0
    stored = await bars(nc, settings)
    assert len(stored) == len({e.id for e in stored}) == 160


async def test_history_keeps_the_rate_limit_retries_5xx_and_stops_on_a_refusal(
    settings: Settings, nc: Client, alpaca: FakeAlpaca, tmp_path: Path
) -> None:
    log = tmp_path / "bars.log"
    market = alpaca.market
    market.limit, market.window_seconds = 2, 1.0  # two requests a second
    market.publish("AAPL", START, closes(200), live=False)
    alpaca.fail(1)  # and the first request meets a 503
    child = spawn(["run", "services.ingestors.alpaca:AlpacaHistoricalBars", "--symbols", "AAPL",
                   "-p", "start=2024-01-02T14:30:00Z", "-p", "page_size=50"], settings, log=log)
    assert await asyncio.to_thread(child.wait, 120) == 0, log.read_text()[-2000:]
    assert len(await bars(nc, settings)) == 200
    # Four pages, two per window: the ingestor waited for X-RateLimit-Reset instead of meeting a 429.
    assert len(market.requests) == 4 and market.rate_limited == 0, log.read_text()[-2000:]
    assert "rate limit used up; waiting" in log.read_text()

    refused = spawn(["run", "services.ingestors.alpaca:AlpacaHistoricalBars", "--symbols", "X_1",
                     "-p", "start=2024-01-02T14:30:00Z"], settings, log=tmp_path / "refused.log")
    assert await asyncio.to_thread(refused.wait, 120) == 1
    lines = [line for line in (tmp_path / "refused.log").read_text().splitlines() if line.startswith("error:")]
    assert lines == ["error: Alpaca refused the bars request (HTTP 422): invalid symbol: X_1"]


async def test_live_bars_backfill_missed_bars_before_live_ones_resume_and_none_is_doubled(
    settings: Settings, nc: Client, alpaca: FakeAlpaca, tmp_path: Path
) -> None:
    log = tmp_path / "live.log"
    market = alpaca.market
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    market.publish("AAPL", base, closes(5), live=False)  # history from before the ingestor starts
    child = spawn(["run", "services.ingestors.alpaca:AlpacaLiveBars", "--symbols", "AAPL", "-p", "warmup=1h"],
                  settings, log=log)
    try:
        await eventually(lambda: _count(nc, settings, 5), timeout=30)  # the warm-up, over REST
        await eventually(lambda: market.connections >= 1, timeout=30)
        market.publish("AAPL", base + timedelta(minutes=5), closes(3, "101"))
        await eventually(lambda: _count(nc, settings, 8), timeout=20)

        await market.stream_down()
        market.publish("AAPL", base + timedelta(minutes=8), closes(4, "102"))  # nobody hears these live
        market.throttle(1)
        market.reset_after = 1.5  # the backfill waits out a 429 ...
        market.stream_up()
        await eventually(lambda: market.connections >= 2, timeout=30)
        market.publish("AAPL", base + timedelta(minutes=12), closes(1, "103"))  # ... while this one arrives live
        await eventually(lambda: _count(nc, settings, 13), timeout=30)
        market.publish("AAPL", base + timedelta(minutes=13), closes(1, "104"))
        await eventually(lambda: _count(nc, settings, 14), timeout=20)
    finally:
        _stop(child)

    stored = await bars(nc, settings)
    assert [e.bar.timestamp for e in stored] == [base + timedelta(minutes=i) for i in range(14)], (
        log.read_text()[-3000:])
    assert len({e.id for e in stored}) == 14
    assert [e.bar.close for e in stored][5:9] == [Decimal("101"), Decimal("101.01"), Decimal("101.02"),
                                                   Decimal("102")]
    assert market.rate_limited == 1
    # The bar that came live during the backfill was fetched by it too, and published once.
    assert f"live bar AAPL {(base + timedelta(minutes=12)).isoformat()} was published by the backfill" in (
        log.read_text())
    backfills = [q for q in market.requests if "page_token" not in q or not q["page_token"]]
    assert backfills[-1]["start"] == (base + timedelta(minutes=8)).isoformat()  # after the last live bar


async def _count(nc: Client, settings: Settings, n: int) -> bool:
    return len(await bars(nc, settings)) >= n


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def test_every_ingestor_parameter_is_documented_in_docs_venues() -> None:
    from services.ingestors.alpaca import AlpacaHistoricalBars, AlpacaLiveBars

    text = (Path(__file__).resolve().parents[2] / "docs" / "venues.md").read_text()
    for component in (AlpacaHistoricalBars, AlpacaLiveBars):
        fields = component.params_model.model_fields
        assert [name for name in fields if f"`{name}`" not in text] == [], component.__name__
        assert all(field.description for field in fields.values())
