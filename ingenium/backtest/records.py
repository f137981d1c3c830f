"""Where a finished run goes besides ``--out``: the plugins of the ``ingenium.run_recorders`` entry-point group.

The ledger's plugin stores every backtest, sweep and replay in PostgreSQL when ``INGENIUM_DATABASE_URL`` is set
(``ingenium runs ls`` lists them); the library names no recorder, so it works without any installed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from importlib.metadata import entry_points
from typing import Any, Protocol

from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.results import BacktestResult
from ingenium.backtest.sweep import SweepResult
from ingenium.config import Settings
from ingenium.errors import ConfigurationError

GROUP = "ingenium.run_recorders"


class Recorder(Protocol):
    """Stores one finished run; returns its id, or ``None`` when it is not configured to store anything."""

    def __call__(self, settings: Settings, outcome: BacktestResult | SweepResult, *, config: BacktestConfig,
                 source: str, bars: int, symbols: list[str],
                 params: dict[str, Any] | None = None) -> Awaitable[str | None]:
        """Store ``outcome`` (what ``record_run`` was given)."""
        ...


async def record_run(settings: Settings, outcome: BacktestResult | SweepResult, *, config: BacktestConfig,
                     source: str, bars: int, symbols: list[str], params: dict[str, Any] | None = None) -> list[str]:
    """Hand a finished run to every installed recorder; the ids they stored it under."""
    stored = []
    for point in entry_points(group=GROUP):
        try:
            recorder: Recorder = point.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"run recorder {point.name} ({point.value}) cannot be loaded: {exc}") from exc
        run_id = await recorder(settings, outcome, config=config, source=source, bars=bars, symbols=symbols,
                                params=params)
        if run_id is not None:
            stored.append(run_id)
    return stored
