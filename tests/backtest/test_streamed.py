"""A run fed in many small batches is the run fed whole: same fills, trades, equity curve, statistics and files."""

from __future__ import annotations

import asyncio
import pickle
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from ingenium.backtest import BacktestConfig, BacktestResult, Bars, Engine, backtest_async
from ingenium.backtest.engine import default_run_id
from tests.backtest.helpers import make_bars

SMA = BacktestConfig(
    strategy="services.strategies:SmaCross", strategy_params={"fast": 3, "slow": 7},
    portfolio="services.portfolio:RiskPortfolio",
    portfolio_params={"sizing": "equity_fraction", "equity_fraction": "0.9", "long_only": False},
    executor="services.executor:PaperExecutor", cash=Decimal(100_000), fill="next_open",
)


def walk(n: int) -> Bars:
    rng = random.Random(7)
    price, closes = 10_000, []
    for _ in range(n):
        price = max(1_000, price + rng.randint(-20, 20))
        closes.append(f"{price / 100:.2f}")
    return make_bars(list(closes))


async def streamed(config: BacktestConfig, bars: Bars, size: int, run_id: str) -> BacktestResult:
    """Feed ``bars`` as consecutive slices of ``size`` rows, each its own ``Bars`` (as a streamed file gives)."""
    engine = Engine(config)
    await engine.start()
    for begin in range(0, len(bars), size):
        await engine.feed(Bars(bars.table.slice(begin, size), source=bars.source, rows=bars.rows))
    await engine.stop()
    return engine.result(run_id=run_id, kind="backtest", source=bars.source)


def files(directory: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.iterdir())}


@pytest.mark.parametrize("size", [1, 7, 500])
def test_small_batches_give_the_whole_run(size: int, tmp_path: Path) -> None:
    bars = walk(3_000)
    whole = asyncio.run(backtest_async(SMA, bars))
    assert len(whole.fills) > 100  # a trading run, so the comparison means something
    run_id = default_run_id("backtest", SMA, bars.source, bars.id_at(0), bars.id_at(len(bars) - 1))
    parts = asyncio.run(streamed(SMA, bars, size, run_id))
    assert parts.fills == whole.fills and parts.round_trips == whole.round_trips
    assert list(parts.times) == list(whole.times) and len(parts.times) == len(bars)
    assert [str(v) for v in parts.equity] == [str(v) for v in whole.equity]  # exact, text and all
    assert parts.stats.as_dict() == whole.stats.as_dict()
    assert parts.summary() == whole.summary()
    assert files(parts.write(tmp_path / "parts")) == files(whole.write(tmp_path / "whole"))


def test_the_curve_reads_back_exactly_what_was_appended() -> None:
    result = asyncio.run(backtest_async(SMA, walk(200)))
    equity, times = result.equity, result.times
    assert equity[-1] == result.stats.final_equity and equity[0] == equity[:1][0]
    assert times[-1] == times[len(times) - 1] and times[::50] == list(times)[::50]
    with pytest.raises(IndexError):
        equity[len(equity)]
    again = pickle.loads(pickle.dumps(result))  # a sweep's worker hands results back pickled
    assert again.equity == equity and again.times == times and again.prices == result.prices


def test_two_symbols_fed_in_small_batches_keep_each_price_line() -> None:
    one, two = walk(300), make_bars([f"{50 + i % 9}.{i % 100:02d}" for i in range(300)], symbol="beta")
    bars = Bars(pa.concat_tables([one.table, two.table]).sort_by([("start", "ascending"), ("symbol", "ascending")]),
                source="two")
    whole = asyncio.run(backtest_async(SMA, bars))
    parts = asyncio.run(streamed(SMA, bars, 7, whole.run_id))
    assert sorted(parts.prices) == ["acme", "beta"]
    for symbol, (starts, closes) in whole.prices.items():
        assert list(parts.prices[symbol][0]) == list(starts) and len(starts) == 300
        assert [str(c) for c in parts.prices[symbol][1]] == [str(c) for c in closes]
    assert [str(c) for c in parts.prices["beta"][1]][:3] == ["50.00", "51.01", "52.02"]


def test_fills_and_round_trips_read_back_exactly_what_the_account_recorded() -> None:
    # Recorded through a bus tap, the events the account saw are the truth the compact columns must give back.
    seen: list[tuple[object, ...]] = []
    engine = Engine(SMA)

    async def run() -> BacktestResult:
        engine.bus.tap("execution", lambda e: seen.append(
            (e.execution_timestamp, e.symbol, e.side, e.quantity, e.price, e.commission or Decimal(0), e.order_id))
            if e.update.moves_quantity else None)
        await engine.start()
        await engine.feed(walk(1_000))
        await engine.stop()
        return engine.result(run_id="r", kind="backtest", source="walk")

    result = asyncio.run(run())
    assert len(seen) > 20 and [tuple(f) for f in result.fills] == seen
    assert [str(f.price) for f in result.fills] == [str(row[4]) for row in seen]  # exact text, not just equal
    assert result.fills[-1] == result.fills[len(result.fills) - 1] and result.fills[1:3] == list(result.fills)[1:3]
    trips = list(result.round_trips)
    assert trips and trips[0].direction in ("long", "short") and result.round_trips[0] == trips[0]
    again = pickle.loads(pickle.dumps(result))
    assert again.fills == result.fills and again.round_trips == result.round_trips
