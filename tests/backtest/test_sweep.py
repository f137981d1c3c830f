"""Parameter grids, and sweeps over worker processes ranked in one table."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingenium.backtest.sweep import SweepRow, combinations, parse_grid, rank, sweep
from ingenium.errors import ConfigurationError
from tests.backtest.helpers import config, make_bars

CLOSES: list[str | int] = [100, 100, 94, 93, 96, 100, 106, 107, 104, 100, 93, 92, 95, 99, 108, 104]


def test_grids() -> None:
    grid = parse_grid(["low=90..96:2", "high=104,106", "quantity=5"])
    assert grid == {"low": ["90", "92", "94", "96"], "high": ["104", "106"], "quantity": ["5"]}
    assert parse_grid(["x=0.1..0.3:0.1"]) == {"x": ["0.1", "0.2", "0.3"]}
    assert combinations({"a": ["1", "2"], "b": ["x", "y"]}) == [
        {"a": "1", "b": "x"}, {"a": "1", "b": "y"}, {"a": "2", "b": "x"}, {"a": "2", "b": "y"}]
    for bad, message in (("fast", "not name=value"), ("fast=9..1:1", "start <= stop"),
                         ("fast=a..b:1", "not a range"), ("fast=1..1000000:1", "values")):
        with pytest.raises(ConfigurationError, match=message):
            parse_grid([bad])


def test_ranking_puts_failures_last_and_keeps_grid_order_on_ties() -> None:
    rows = [SweepRow({"a": "1"}, {"sharpe": 1.0}), SweepRow({"a": "2"}, None, "bad"),
            SweepRow({"a": "3"}, {"sharpe": 2.0}), SweepRow({"a": "4"}, {"sharpe": 1.0}),
            SweepRow({"a": "5"}, {"sharpe": None})]
    assert [r.params["a"] for r in rank(rows, "sharpe")] == ["3", "1", "4", "2", "5"]


def test_sweep_over_processes_matches_single_runs(tmp_path: Path) -> None:
    from ingenium.backtest import backtest

    bars = make_bars(CLOSES)
    grid = parse_grid(["low=93..95:1", "high=105,200"])
    seen: list[int] = []
    result = sweep(config(), bars, grid, metric="total_return", workers=2, progress=lambda d, t: seen.append(d))
    assert len(result.rows) == 6 and seen[-1] == 6
    best = result.rows[0]
    single = backtest(config(strategy_params=best.params), bars)
    assert best.stats == single.stats.as_dict()
    returns = [row.stats["total_return"] for row in result.rows if row.stats]
    assert returns == sorted(returns, reverse=True)
    lines = result.write(tmp_path / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("rank,low,high,total_return") and len(lines) == 7
    with pytest.raises(ConfigurationError, match="cannot rank by 'luck'"):
        sweep(config(), bars, grid, metric="luck")


def test_invalid_combinations_are_reported_not_fatal() -> None:
    result = sweep(config(), make_bars(CLOSES), {"low": ["94", "abc"]}, workers=1)
    failed = [row for row in result.rows if row.error]
    assert len(failed) == 1 and failed[0].params == {"low": "abc"} and "valid decimal" in failed[0].error
