"""The ingestors on real NATS: a file load is idempotent on re-run, the synthetic feed is reproducible."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.events import DataEvent
from ingenium.runtime import Runner
from ingenium.testing import stream_events
from services.data import SAMPLE_SYMBOLS, sample_csv
from services.ingestors import HistoricalIngestor, SyntheticFeed


async def data_events(nc: Client, settings: Settings) -> list[DataEvent]:
    return [e for e in await stream_events(nc, settings, "data") if isinstance(e, DataEvent)]


async def load(path: Path, settings: Settings, nc: Client, **params: object) -> HistoricalIngestor:
    ingestor = HistoricalIngestor(path=path, **params)
    await Runner(ingestor, settings, nc=nc).run()
    assert ingestor.result is not None
    return ingestor


async def test_reloading_a_file_adds_nothing_even_beyond_the_duplicate_window(
    settings: Settings, nc: Client, tmp_path: Path
) -> None:
    # The shortest duplicate window JetStream allows: the second load must not rely on it.
    settings = settings.model_copy(update={"duplicate_window_seconds": 0.1})
    path = tmp_path / "bars.csv"
    path.write_text(sample_csv(bars=30))
    first = await load(path, settings, nc)
    assert first.result is not None and first.result.published == 30 * len(SAMPLE_SYMBOLS)
    second = await load(path, settings, nc)
    assert second.result is not None
    assert (second.result.published, second.result.duplicates, second.result.skipped) == (0, 0, 120)  # none sent

    # A longer file with the same start: only the new bars are stored.
    path.write_text(sample_csv(bars=40))
    third = await load(path, settings, nc)
    assert third.result is not None and third.result.published == 10 * len(SAMPLE_SYMBOLS)
    events = await data_events(nc, settings)
    assert len(events) == len({e.id for e in events}) == 40 * len(SAMPLE_SYMBOLS)
    times = [e.bar.timestamp for e in events]
    assert times == sorted(times)  # published in time order across symbols



async def test_reload_sends_the_same_ids_which_jetstream_drops(settings: Settings, nc: Client, tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(sample_csv(bars=5))
    await load(path, settings, nc)
    again = await load(path, settings, nc, skip_loaded=False)
    assert again.result is not None and (again.result.published, again.result.duplicates) == (0, 20)
    assert len(await data_events(nc, settings)) == 20


async def test_synthetic_feed_is_reproducible(settings: Settings, nc: Client) -> None:
    start = datetime(2024, 5, 1, 13, 30, tzinfo=UTC)
    params: dict[str, Any] = {"seed": 3, "speed": "max", "count": 25, "start": start}
    feed = SyntheticFeed(symbols=["ACME", "GLOBEX"], **params)
    await Runner(feed, settings, nc=nc).run()
    events = await data_events(nc, settings)
    assert len(events) == 50
    assert {e.symbol for e in events} == {"ACME", "GLOBEX"}
    assert [e.bar.timestamp for e in events[::2]] == [start.replace(minute=30 + i) for i in range(25)]
    # The same seed and start again: the same ids, which JetStream drops.
    await Runner(SyntheticFeed(symbols=["ACME", "GLOBEX"], **params), settings, nc=nc).run()
    assert len(await data_events(nc, settings)) == 50
    other = SyntheticFeed(symbols=["ACME"], **{**params, "seed": 4, "count": 1})
    await Runner(other, settings, nc=nc).run()
    latest = (await data_events(nc, settings))[-1]
    assert latest.bar.close != events[0].bar.close


async def test_a_restarted_synthetic_feed_resumes_after_its_last_stored_bar(settings: Settings, nc: Client) -> None:
    # A window shorter than the feed's restart: JetStream would store a re-sent bar again, so none may be re-sent.
    settings = settings.model_copy(update={"duplicate_window_seconds": 0.1})
    start = datetime(2024, 5, 1, 13, 30, tzinfo=UTC)
    params: dict[str, Any] = {"seed": 5, "speed": "max", "start": start}
    await Runner(SyntheticFeed(symbols=["ACME", "GLOBEX"], count=10, **params), settings, nc=nc).run()
    assert len(await data_events(nc, settings)) == 20
    resumed = SyntheticFeed(symbols=["ACME", "GLOBEX"], count=25, **params)
    await Runner(resumed, settings, nc=nc).run()

    events = await data_events(nc, settings)
    assert len(events) == len({e.id for e in events}) == 50
    uninterrupted = [b async for tick in SyntheticFeed(symbols=["ACME", "GLOBEX"], count=25, **params).bars()
                     for b in tick]
    assert [(e.symbol, e.bar.timestamp, e.bar.close) for e in events] == [
        (b.symbol, b.start, b.close) for b in uninterrupted
    ]
