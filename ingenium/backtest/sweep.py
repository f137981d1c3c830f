"""Parameter sweeps: every combination of a grid of strategy parameters, backtested over all cores, ranked.

``fast=5..50:5`` is 5, 10 … 50 (the stop included); ``slow=20,30,60`` lists values; ``slow=30`` is one value.
Each combination is one backtest in a worker process; the bars go to each worker once, not once per run.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingenium.backtest.bus import HandlerFailed
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.engine import backtest
from ingenium.bars import Bars
from ingenium.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

MAX_COMBINATIONS = 100_000
#: Statistics a sweep can rank by; for all of them higher is better (drawdowns are negative).
METRICS = ("sharpe", "sortino", "total_return", "cagr", "max_drawdown", "win_rate", "final_equity")
COLUMNS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "trades", "win_rate", "exposure",
           "final_equity")


def _values(name: str, text: str) -> list[str]:
    if ".." not in text:
        return [v.strip() for v in text.split(",") if v.strip()]
    span, _, step_text = text.partition(":")
    start_text, _, stop_text = span.partition("..")
    try:
        start, stop, step = Decimal(start_text), Decimal(stop_text), Decimal(step_text or "1")
    except InvalidOperation:
        raise ConfigurationError(f"parameter {name}: {text!r} is not a range such as 5..50:5") from None
    if step <= 0 or stop < start:
        raise ConfigurationError(f"parameter {name}: range {text!r} needs start <= stop and a positive step")
    count = int((stop - start) / step) + 1
    if count > MAX_COMBINATIONS:
        raise ConfigurationError(f"parameter {name}: range {text!r} has {count} values; use a coarser step")
    return [str(start + step * i) for i in range(count)]


def parse_grid(pairs: Iterable[str]) -> dict[str, list[str]]:
    """``["fast=5..15:5", "slow=30,60"]`` → ``{"fast": ["5", "10", "15"], "slow": ["30", "60"]}``."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise ConfigurationError(f"parameter {pair!r} is not name=value, name=a,b or name=start..stop:step")
        grid[name.strip()] = _values(name.strip(), text.strip())
    return grid


def is_sweep(grid: dict[str, list[str]]) -> bool:
    """Whether a grid holds more than one combination (or any range or list)."""
    return any(len(values) > 1 for values in grid.values())


def combinations(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the grid's values, the last parameter varying fastest."""
    names = list(grid)
    total = 1
    for values in grid.values():
        total *= len(values)
    if total > MAX_COMBINATIONS:
        raise ConfigurationError(f"the grid has {total:,} combinations (at most {MAX_COMBINATIONS:,}); narrow it")
    return [dict(zip(names, chosen, strict=True)) for chosen in itertools.product(*grid.values())]


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One combination's outcome: its statistics, or why it could not run."""

    params: dict[str, str]
    stats: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SweepResult:
    """All combinations, best first by ``metric`` (runs that failed or lack the metric last)."""

    metric: str
    rows: list[SweepRow]

    def to_frame(self) -> pd.DataFrame:
        """Return the ranked table as a pandas DataFrame."""
        from ingenium.backtest.results import pandas_module

        records = [{**row.params, **{c: (row.stats or {}).get(c) for c in COLUMNS}, "error": row.error}
                   for row in self.rows]
        return pandas_module().DataFrame(records)

    def write(self, path: Path) -> Path:
        """Write the ranked table as CSV (one line per combination) and return its path."""
        names = list(self.rows[0].params) if self.rows else []
        lines = [",".join(["rank", *names, *COLUMNS, "error"])]
        for rank, row in enumerate(self.rows, 1):
            stats = row.stats or {}
            cells = [str(rank), *row.params.values(), *("" if stats.get(c) is None else str(stats[c]) for c in COLUMNS),
                     '"' + (row.error or "").replace('"', "'") + '"' if row.error else ""]
            lines.append(",".join(cells))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


_BARS: Bars | None = None


def _init(bars: Bars, level: int) -> None:
    global _BARS
    _BARS = bars
    logging.getLogger("ingenium").setLevel(level)


def _run(config: BacktestConfig, params: dict[str, str]) -> SweepRow:
    assert _BARS is not None, "worker started without bars"
    try:
        result = backtest(config.model_copy(update={"strategy_params": {**config.strategy_params, **params}}), _BARS)
    except (ConfigurationError, HandlerFailed) as exc:
        return SweepRow(params, None, str(exc))
    return SweepRow(params, result.stats.as_dict())


def _context() -> multiprocessing.context.BaseContext:
    # fork hands the bars to workers without copying them, but is only safe in a process with one thread.
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def sweep(
    config: BacktestConfig, bars: Bars, grid: dict[str, list[str]], *, metric: str = "sharpe",
    workers: int | None = None, progress: Callable[[int, int], None] | None = None,
    log_level: int = logging.ERROR,
) -> SweepResult:
    """Backtest every combination of ``grid`` (strategy parameters) over ``bars`` in worker processes.

    Args:
        config: The run; each combination overrides its ``strategy_params``.
        bars: The data, shared by every run.
        grid: Values per parameter (see ``parse_grid``).
        metric: Statistic to rank by, one of ``METRICS``.
        workers: Processes; all cores when ``None``.
        progress: Called with (runs done, runs in all) as runs finish.
        log_level: Level of the components' logs in the workers.

    """
    if metric not in METRICS:
        raise ConfigurationError(f"cannot rank by {metric!r}; choose one of {', '.join(METRICS)}")
    combos = combinations(grid)
    config.classes()  # a wrong class name fails here once, not in every worker
    rows: list[SweepRow | None] = [None] * len(combos)
    processes = max(1, min(workers or os.cpu_count() or 1, len(combos)))
    with ProcessPoolExecutor(processes, mp_context=_context(), initializer=_init, initargs=(bars, log_level)) as pool:
        futures = {pool.submit(_run, config, combo): index for index, combo in enumerate(combos)}
        for done, future in enumerate(as_completed(futures), 1):
            rows[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(combos))
    return SweepResult(metric, rank([row for row in rows if row is not None], metric))


def rank(rows: Sequence[SweepRow], metric: str) -> list[SweepRow]:
    """Sort best first by ``metric``; ties keep grid order, and rows without the metric go last."""
    def key(item: tuple[int, SweepRow]) -> tuple[bool, float, int]:
        value = (item[1].stats or {}).get(metric)
        return value is None, -float(value) if value is not None else 0.0, item[0]

    return [row for _, row in sorted(enumerate(rows), key=key)]
