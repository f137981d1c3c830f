"""Backtests and replays: the live strategy, portfolio and executor on history, in one process, deterministically."""

from ingenium.backtest.account import Account, Fill, RoundTrip
from ingenium.backtest.bars import Bars
from ingenium.backtest.bus import HandlerFailed, InMemoryBus
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.datafile import load_bars
from ingenium.backtest.engine import Engine, backtest, backtest_async
from ingenium.backtest.replay import ReplayRange, replay
from ingenium.backtest.results import BacktestResult
from ingenium.backtest.stats import Stats
from ingenium.backtest.sweep import SweepResult, parse_grid, sweep
from ingenium.backtest.validation import DataError

__all__ = [
    "Account",
    "BacktestConfig",
    "BacktestResult",
    "Bars",
    "DataError",
    "Engine",
    "Fill",
    "HandlerFailed",
    "InMemoryBus",
    "ReplayRange",
    "RoundTrip",
    "Stats",
    "SweepResult",
    "backtest",
    "backtest_async",
    "load_bars",
    "parse_grid",
    "replay",
    "sweep",
]
