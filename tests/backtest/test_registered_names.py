"""Components by their registered names (the ``ingenium.components`` entry points the services package declares).

The backtest's defaults are such names (``risk-portfolio``, ``paper``); a run records the class each stands for,
so its files read as before. A misspelt name is one line with the nearest registered one.
"""

from __future__ import annotations

import json
from pathlib import Path

from ingenium.backtest.config import DEFAULT_EXECUTOR, DEFAULT_PORTFOLIO, BacktestConfig
from ingenium.loader import load_class, registered
from services.executor import PaperExecutor
from services.portfolio import RiskPortfolio
from services.strategies import RsiReversion, SmaCross
from tests.backtest.helpers import make_bars, write_csv
from tests.core.test_cli import assert_one_line_error, cli

CLOSES: list[str | int] = [100, 100, 94, 93, 96, 100, 106, 107, 104, 100, 98, 97, 99, 103, 108]


def test_the_services_register_their_components_and_the_defaults_are_names() -> None:
    assert {"sma-cross", "rsi", "risk-portfolio", "paper"} <= set(registered())
    assert (DEFAULT_PORTFOLIO, DEFAULT_EXECUTOR) == ("risk-portfolio", "paper")
    classes = [load_class(name) for name in ("sma-cross", "rsi", "risk-portfolio", "paper")]
    assert classes == [SmaCross, RsiReversion, RiskPortfolio, PaperExecutor]
    config = BacktestConfig(strategy="sma-cross")
    assert (config.strategy, config.portfolio, config.executor) == (
        "services.strategies:SmaCross", "services.portfolio:RiskPortfolio", "services.executor:PaperExecutor")
    assert load_class("services.strategies.sma_cross:SmaCross") is SmaCross  # module:Class stays accepted


def test_backtest_command_takes_a_registered_strategy(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "acme.csv", make_bars(CLOSES))
    done = cli("backtest", "-s", "sma-cross", "-d", str(data), "-p", "fast=2", "-p", "slow=4", "--out",
               str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "out" / "summary.json").read_text())["config"]
    assert (config["strategy"], config["portfolio"], config["executor"]) == (
        "services.strategies:SmaCross", "services.portfolio:RiskPortfolio", "services.executor:PaperExecutor")


def test_a_misspelt_name_is_one_line_with_the_nearest(tmp_path: Path) -> None:
    assert_one_line_error(cli("run", "sma-cros"), "'sma-cros' is neither a registered component",
                          "did you mean 'sma-cross'?")
    data = write_csv(tmp_path / "acme.csv", make_bars(CLOSES))
    assert_one_line_error(cli("backtest", "-s", "sma-cross", "--portfolio", "risk-portfolo", "-d", str(data)),
                          "did you mean 'risk-portfolio'?")
