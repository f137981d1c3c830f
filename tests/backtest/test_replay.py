"""Replay of a recorded data stream on a real nats-server: isolated, repeatable, and equal to a backtest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client

from ingenium.backtest import backtest_async
from ingenium.backtest.replay import ReplayRange, replay
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.errors import ConfigurationError
from ingenium.streams import list_streams
from tests.backtest.helpers import T0, config, make_bars, recorded

CLOSES: list[str | int] = [100, 100, 94, 93, 96, 100, 106, 107, 104, 100, 93, 92, 95, 99, 108, 104]


def same_outputs(a: Path, b: Path) -> None:
    for name in ("trades.csv", "equity.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


async def test_replay_equals_backtest_twice_and_stays_isolated(
    bus: JetStreamBus, nc: Client, settings: Settings, tmp_path: Path
) -> None:
    acme = make_bars(CLOSES, symbol="acme")
    other = make_bars([50] * len(CLOSES), symbol="zed")
    third = make_bars([70] * len(CLOSES), symbol="xyz")  # not replayed: asked for two of the three symbols
    await bus.publish_many(recorded(acme) + recorded(other) + recorded(third))
    before = {s.name: s.messages for s in await list_streams(nc.jetstream(), settings)}

    first = await replay(config(), settings, ReplayRange(symbols=("acme",)), nc=nc)
    second = await replay(config(), settings, ReplayRange(symbols=("acme",)), nc=nc)
    offline = await backtest_async(config(), acme)
    assert first.bars == len(CLOSES) and first.events == offline.events and first.stats.fills == 4
    same_outputs(first.write(tmp_path / "r1"), second.write(tmp_path / "r2"))
    same_outputs(first.write(tmp_path / "r1"), offline.write(tmp_path / "bt"))
    assert first.stats.as_dict() == offline.stats.as_dict()
    assert first.run_id == second.run_id and first.kind == "replay"

    both = await replay(config(), settings, ReplayRange(symbols=("ACME", "zed")), nc=nc)
    assert both.bars == 2 * len(CLOSES) and both.symbols == ["acme", "zed"]

    after = {s.name: s.messages for s in await list_streams(nc.jetstream(), settings)}
    assert after == before, "the replay published nothing to the server"
    subjects = settings.subjects
    assert after[subjects.stream("signal")] == after[subjects.stream("order")] == 0


async def test_replay_of_a_time_range_equals_a_backtest_of_it(bus: JetStreamBus, settings: Settings) -> None:
    acme = make_bars(CLOSES, symbol="acme")
    await bus.publish_many(recorded(acme))
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=12)
    part = await replay(config(), settings, ReplayRange(since=since, until=until), speed=None)
    offline = await backtest_async(config(), acme.between(since, until))
    assert part.bars == 10 and part.equity == offline.equity and part.stats.as_dict() == offline.stats.as_dict()
    from_seq = await replay(config(), settings, ReplayRange(start_sequence=3))
    assert from_seq.bars == len(CLOSES) - 2
    assert from_seq.equity == (await backtest_async(config(), acme.between(since))).equity


async def test_paced_replay_and_empty_or_missing_streams(bus: JetStreamBus, settings: Settings) -> None:
    acme = make_bars(CLOSES[:4], symbol="acme")
    await bus.publish_many(recorded(acme))
    paced = await replay(config(), settings, speed=3600.0)  # four minutes of bars in about 0.07 s
    assert paced.bars == 4
    with pytest.raises(ConfigurationError, match=r"nothing to replay in \S*INGENIUM_DATA\[nothing\]: no message"):
        await replay(config(), settings, ReplayRange(symbols=("nothing",)))
    late = T0 + timedelta(days=1)
    with pytest.raises(ConfigurationError, match=r"read \S*INGENIUM_DATA seq 1-4, no bar in the range"):
        await replay(config(), settings, ReplayRange(since=late))
    with pytest.raises(ConfigurationError, match="speed must be a positive factor"):
        await replay(config(), settings, speed=0)
    elsewhere = settings.model_copy(update={"namespace": "nobodyhome"})
    with pytest.raises(ConfigurationError, match="no stream NOBODYHOME_INGENIUM_DATA on the server"):
        await replay(config(), elsewhere)
