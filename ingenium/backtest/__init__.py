"""Backtests and replays: the live strategy, portfolio and executor on history, in one process, deterministically."""

from ingenium.backtest.account import Account, Fill, RoundTrip
from ingenium.backtest.bus import HandlerFailed, InMemoryBus
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.engine import Engine, backtest, backtest_async
from ingenium.backtest.replay import ReplayRange, replay
from ingenium.backtest.results import BacktestResult
from ingenium.backtest.stats import Stats
from ingenium.backtest.sweep import SweepResult, parse_grid, sweep
from ingenium.bars import BarFileError, Bars, read_bars

__all__ = [
    "Account",
    "BacktestConfig",
    "BacktestResult",
    "BarFileError",
    "Bars",
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
    "parse_grid",
    "read_bars",
    "replay",
    "sweep",
]
