"""``backtest(SmaCross, bars, params=SmaCrossParams(...))``: classes and typed parameters, the CLI's engine."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingenium.backtest import BacktestConfig, backtest
from ingenium.bars import read_bars
from ingenium.cli.main import app
from ingenium.errors import ConfigurationError
from services.strategies import RsiReversionParams, SmaCross, SmaCrossParams

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "services" / "data" / "sample_bars.csv"


def test_a_class_and_typed_params_run_what_the_cli_runs(tmp_path: Path) -> None:
    result = backtest(SmaCross, SAMPLE, params=SmaCrossParams(fast=5, slow=20), cash=Decimal(10_000),
                      commission=Decimal("0.01"))
    assert result.stats.fills > 0
    cli = CliRunner().invoke(app, ["backtest", "-s", "services.strategies:SmaCross", "-d", str(SAMPLE),
                                   "-p", "fast=5", "-p", "slow=20", "--cash", "10000", "--commission", "0.01",
                                   "--out", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    from_cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    from_python = json.loads((result.write(tmp_path / "python") / "summary.json").read_text())
    assert from_python["stats"] == from_cli["stats"]
    assert (tmp_path / "python" / "trades.csv").read_text() == (tmp_path / "cli" / "trades.csv").read_text()
    assert (tmp_path / "python" / "equity.csv").read_text() == (tmp_path / "cli" / "equity.csv").read_text()


def test_bars_already_read_and_a_whole_config_give_the_same_run() -> None:
    bars = read_bars(SAMPLE)
    typed = backtest(SmaCross, bars, params=SmaCrossParams(fast=5, slow=20))
    configured = backtest(BacktestConfig(strategy="services.strategies:SmaCross",
                                         strategy_params={"fast": 5, "slow": 20}), bars)
    assert typed.fills == configured.fills and typed.stats == configured.stats
    assert typed.config.strategy == "services.strategies.sma_cross:SmaCross"
    assert typed.config.strategy_params == {"fast": 5, "slow": 20}


def test_parameters_of_another_model_or_a_config_with_more_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="params is a RsiReversionParams; SmaCross takes SmaCrossParams"):
        backtest(SmaCross, SAMPLE, params=RsiReversionParams())
    with pytest.raises(ConfigurationError, match="either a BacktestConfig or a strategy class"):
        backtest(BacktestConfig(strategy="services.strategies:SmaCross"), SAMPLE, cash=Decimal(5))
