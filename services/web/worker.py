"""The backtest worker: ``python -m services.web.worker RUN_ID`` runs one queued run and stores its results.

A run is a backtest of a data file, a sweep of a parameter grid over one, or a replay of the recorded data
stream; what it reads is its stored plan (``ledger.runs.run_config``). Progress goes to the run's row and, live,
to a core NATS subject the UI's SSE stream forwards.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from nats.aio.client import Client

from ingenium.backtest import BacktestConfig, Engine, ReplayRange, replay, sweep
from ingenium.bars import read_bars
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ledger import runs
from services.web.runs import progress_subject

Report = Callable[[str, float], Coroutine[Any, Any, None]]


async def _backtest(url: str, run: runs.Run, config: BacktestConfig, report: Report) -> None:
    bars = await asyncio.to_thread(read_bars, run.data_source, gaps="accept")
    engine = Engine(config)
    await engine.start()
    total = max(1, len(bars))
    pending: list[asyncio.Task[None]] = []

    def progress(done: int) -> None:
        pending.append(asyncio.get_running_loop().create_task(report("running", round(done / total, 4))))

    await engine.feed(bars, progress, every=max(1, total // 20))
    await engine.stop()
    await asyncio.gather(*pending)
    result = engine.result(run_id=run.run_id, kind="backtest", source=bars.source, warnings=bars.warnings)
    await runs.save_result(url, run.run_id, result)


async def _sweep(url: str, run: runs.Run, config: BacktestConfig, plan: dict[str, Any], report: Report) -> None:
    bars = await asyncio.to_thread(read_bars, run.data_source, gaps="accept")
    loop = asyncio.get_running_loop()

    def progress(done: int, total: int) -> None:  # called from the sweep's thread
        asyncio.run_coroutine_threadsafe(report("running", round(done / max(1, total), 4)), loop)

    result = await asyncio.to_thread(sweep, config, bars, plan["grid"], metric=plan.get("metric", "sharpe"),
                                     progress=progress)
    await runs.save_sweep(url, run.run_id, result, bars=len(bars), symbols=sorted(bars.symbol_names))


async def _replay(url: str, run: runs.Run, config: BacktestConfig, plan: dict[str, Any], settings: Settings,
                  nc: Client | None, report: Report) -> None:
    span = plan["replay"]
    when = {k: datetime.fromisoformat(span[k]) if span.get(k) else None for k in ("since", "until")}
    result = await replay(config, settings, ReplayRange(tuple(span.get("symbols") or ()), when["since"],
                                                        when["until"]), run_id=run.run_id, nc=nc)
    await report("running", 0.99)
    await runs.save_result(url, run.run_id, result)


async def work(run_id: str) -> int:
    """Run ``run_id``; returns the exit status (1 when the run failed, its error stored)."""
    settings = Settings()
    url = settings.database_url
    if not url:
        print("error: INGENIUM_DATABASE_URL is not set", file=sys.stderr)
        return 2
    run = await runs.get_run(url, run_id)
    if run is None:
        print(f"error: no run {run_id}", file=sys.stderr)
        return 2
    nc = await connect_nats(settings, name=f"ingenium-worker-{run_id}") if settings.nats_url else None
    subject = progress_subject(settings, run_id)

    async def report(status: str, progress: float, error: str | None = None) -> None:
        await runs.mark(url, run_id, status=status, progress=progress, error=error)
        if nc is not None:
            await nc.publish(subject, json.dumps({"run_id": run_id, "status": status, "progress": progress,
                                                  "error": error}).encode())
            await nc.flush()

    try:
        await report("running", 0.0)
        config, plan = runs.run_config(run)
        if run.kind == "sweep":
            await _sweep(url, run, config, plan, report)
        elif run.kind == "replay":
            await _replay(url, run, config, plan, settings, nc, report)
        else:
            await _backtest(url, run, config, report)
        if nc is not None:
            await nc.publish(subject, json.dumps({"run_id": run_id, "status": "done", "progress": 1}).encode())
        return 0
    except Exception as exc:
        await report("failed", float(run.progress), f"{exc.__class__.__name__}: {exc}")
        print(f"error: run {run_id} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if nc is not None:
            await nc.drain()


def main() -> None:
    """Entry point."""
    if len(sys.argv) != 2:
        sys.exit("usage: python -m services.web.worker RUN_ID")
    sys.exit(asyncio.run(work(sys.argv[1])))


if __name__ == "__main__":
    main()
