"""Runs are records: backtests, sweeps and replays stored in PostgreSQL next to the live ledger.

A run row (``runs``) says what ran (kind, strategy, parameters, data source, code version), how it went
(status, progress, timings, error) and what came out (statistics); ``run_fills``, ``run_trades`` and
``run_equity`` hold its fills, round trips and equity curve with drawdown, so a replay can be compared in SQL
with the live fills it replays.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

from ingenium.backtest import BacktestConfig, BacktestResult, SweepResult
from ingenium.config import Settings
from ledger.database import connect, no_tables
from ledger.migrate import upgrade

#: The tables migration 0003 creates.
RUN_TABLES = ("runs", "run_fills", "run_trades", "run_equity")
STATUSES = ("queued", "running", "done", "failed")


@dataclass(frozen=True, slots=True)
class Run:
    """One run, as ``runs`` stores it."""

    run_id: str
    kind: str
    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    data_source: str
    code_version: str
    status: str
    progress: Decimal
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    stats: dict[str, Any] | None
    bars: int | None
    symbols: list[str] | None

    @property
    def seconds(self) -> float | None:
        """How long it ran, once finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def code_version() -> str:
    """The git commit of the running code when it is a checkout, else the installed package version."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"ingenium {metadata.version('ingenium')}"


async def _conn(database_url: str) -> asyncpg.Connection:
    conn = await connect(database_url, application_name="ingenium-runs")
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=lambda v: json.dumps(v, default=str), decoder=json.loads,
                                  schema="pg_catalog")
    return conn


#: Key of a run's stored config that holds how its worker reads its data (a replay's range, a sweep's grid).
PLAN = "plan"


def run_config(run: Run) -> tuple[BacktestConfig, dict[str, Any]]:
    """A stored run's backtest configuration, and its plan (``{}`` for a plain backtest)."""
    stored = dict(run.config)
    plan = stored.pop(PLAN, None) or {}
    return BacktestConfig.model_validate(stored), dict(plan)


async def create_run(database_url: str, run_id: str, kind: str, config: BacktestConfig, data_source: str, *,
                     params: dict[str, Any] | None = None, plan: dict[str, Any] | None = None) -> None:
    """Record a queued run (what it will run), before a worker starts it.

    ``params`` are the strategy parameters to list (a sweep's grid; default the config's); ``plan`` says how the
    worker reads its data, stored beside the config.
    """
    stored = config.model_dump(mode="json")
    if plan:
        stored[PLAN] = plan
    conn = await _conn(database_url)
    try:
        await conn.execute(
            "INSERT INTO runs (run_id, kind, strategy, params, config, data_source, code_version, status, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8)",
            run_id, kind, config.strategy, config.strategy_params if params is None else params, stored,
            data_source, code_version(), datetime.now(UTC),
        )
    except asyncpg.UndefinedTableError as exc:
        raise no_tables(database_url) from exc
    finally:
        await conn.close()


async def mark(database_url: str, run_id: str, *, status: str | None = None, progress: float | None = None,
               error: str | None = None) -> None:
    """Move a run on: ``running`` sets ``started_at``, ``failed`` sets ``finished_at`` and the error."""
    now = datetime.now(UTC)
    conn = await _conn(database_url)
    try:
        await conn.execute(
            "UPDATE runs SET status = coalesce($2, status), progress = coalesce($3, progress), "
            "error = coalesce($4, error), "
            "started_at = CASE WHEN $2 = 'running' THEN $5 ELSE started_at END, "
            "finished_at = CASE WHEN $2 = 'failed' THEN $5 ELSE finished_at END WHERE run_id = $1",
            run_id, status, Decimal(str(progress)) if progress is not None else None, error, now,
        )
    finally:
        await conn.close()


async def save_result(database_url: str, run_id: str, result: BacktestResult) -> None:
    """Store a finished run's statistics, fills, round trips and equity curve, and mark it done, in one transaction."""
    peak = Decimal(0)
    equity_rows = []
    for seq, (at, value) in enumerate(zip(result.times, result.equity, strict=True)):
        peak = max(peak, value)
        drawdown = value / peak - 1 if peak > 0 else Decimal(0)
        equity_rows.append((run_id, seq, at, value, drawdown.quantize(Decimal("1e-12"))))
    conn = await _conn(database_url)
    try:
        async with conn.transaction():
            for table in ("run_fills", "run_trades", "run_equity"):
                await conn.execute(f"DELETE FROM {table} WHERE run_id = $1", run_id)
            await conn.copy_records_to_table(
                "run_fills", columns=["run_id", "seq", "executed_at", "symbol", "side", "quantity", "price",
                                      "commission", "order_id"],
                records=[(run_id, i, f.timestamp, f.symbol, str(f.side.value), f.quantity, f.price, f.commission,
                          f.order_id) for i, f in enumerate(result.fills)],
            )
            await conn.copy_records_to_table(
                "run_trades", columns=["run_id", "seq", "symbol", "direction", "opened_at", "closed_at", "pnl"],
                records=[(run_id, i, t.symbol, t.direction, t.opened, t.closed, t.pnl)
                         for i, t in enumerate(result.round_trips)],
            )
            await conn.copy_records_to_table(
                "run_equity", columns=["run_id", "seq", "at", "equity", "drawdown"], records=equity_rows,
            )
            await conn.execute(
                "UPDATE runs SET status = 'done', progress = 1, stats = $2, bars = $3, symbols = $4, "
                "finished_at = $5, data_source = $6 WHERE run_id = $1",
                run_id, result.stats.as_dict(), result.bars, list(result.symbols), datetime.now(UTC), result.source,
            )
    finally:
        await conn.close()


def sweep_stats(result: SweepResult) -> dict[str, Any]:
    """A sweep's statistics: the best combination's figures, then every combination ranked.

    The best one's figures are at the top level (what ``runs ls`` shows); ``ranked`` holds rank, params, stats and
    error of each, queryable with ``jsonb_array_elements``.
    """
    best = next((row for row in result.rows if row.stats is not None), None)
    return {**(best.stats if best is not None and best.stats else {}), "metric": result.metric,
            "combinations": len(result.rows), "best_params": best.params if best is not None else None,
            "ranked": [{"rank": rank, "params": row.params, "stats": row.stats, "error": row.error}
                       for rank, row in enumerate(result.rows, 1)]}


async def save_sweep(database_url: str, run_id: str, result: SweepResult, *, bars: int,
                     symbols: list[str]) -> None:
    """Store a finished sweep's ranked combinations and mark it done."""
    conn = await _conn(database_url)
    try:
        await conn.execute(
            "UPDATE runs SET status = 'done', progress = 1, stats = $2, bars = $3, symbols = $4, finished_at = $5 "
            "WHERE run_id = $1", run_id, sweep_stats(result), bars, symbols, datetime.now(UTC),
        )
    finally:
        await conn.close()


async def record(settings: Settings, outcome: BacktestResult | SweepResult, *, config: BacktestConfig, source: str,
                 bars: int, symbols: list[str], params: dict[str, Any] | None = None) -> str | None:
    """Store a run the command line finished (the ``ingenium.run_recorders`` plugin of the ledger).

    Returns the run's id, or ``None`` when no database is configured.
    """
    if not settings.database_url:
        return None
    url = settings.database_url
    # The database may be new (only INGENIUM_DATABASE_URL set, no `ingenium up` yet): bring its tables up first,
    # as the web UI does; a no-op when they are current.
    await asyncio.to_thread(upgrade, url)
    if isinstance(outcome, BacktestResult):
        run_id = outcome.run_id
        await delete_run(url, run_id)  # a rerun of the same range and config keeps its derived id: newest wins
        await create_run(url, run_id, outcome.kind, config, source, params=params)
        await mark(url, run_id, status="running")
        await save_result(url, run_id, outcome)
    else:
        run_id = f"sweep-{uuid.uuid4().hex[:12]}"
        await create_run(url, run_id, "sweep", config, source, params=params)
        await mark(url, run_id, status="running")
        await save_sweep(url, run_id, outcome, bars=bars, symbols=symbols)
    return run_id


async def delete_run(database_url: str, run_id: str) -> None:
    """Forget a run and its series (they cascade)."""
    conn = await _conn(database_url)
    try:
        await conn.execute("DELETE FROM runs WHERE run_id = $1", run_id)
    finally:
        await conn.close()


def _run(row: asyncpg.Record) -> Run:
    return Run(**dict(row))


async def list_runs(database_url: str, *, limit: int = 100, kind: str | None = None) -> list[Run]:
    """The newest runs first."""
    conn = await _conn(database_url)
    try:
        rows = await conn.fetch(
            "SELECT * FROM runs WHERE ($1::text IS NULL OR kind = $1) ORDER BY created_at DESC, run_id LIMIT $2",
            kind, limit,
        )
    except asyncpg.UndefinedTableError as exc:
        raise no_tables(database_url) from exc
    finally:
        await conn.close()
    return [_run(r) for r in rows]


async def get_run(database_url: str, run_id: str) -> Run | None:
    """One run, or ``None``."""
    conn = await _conn(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM runs WHERE run_id = $1", run_id)
    finally:
        await conn.close()
    return _run(row) if row is not None else None


async def run_series(database_url: str, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """A run's fills, round trips and equity points, in order."""
    conn = await _conn(database_url)
    try:
        out = {}
        for key, table in (("fills", "run_fills"), ("trades", "run_trades"), ("equity", "run_equity")):
            rows = await conn.fetch(f"SELECT * FROM {table} WHERE run_id = $1 ORDER BY seq", run_id)
            out[key] = [{k: v for k, v in dict(r).items() if k not in ("run_id",)} for r in rows]
        return out
    finally:
        await conn.close()
