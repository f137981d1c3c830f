"""The backtest worker: ``python -m services.web.worker RUN_ID`` runs one queued run and stores its results.

Progress goes to the run's row and, live, to a core NATS subject the UI's SSE stream forwards.
"""

from __future__ import annotations

import asyncio
import json
import sys

from ingenium.backtest import BacktestConfig, Engine
from ingenium.bars import read_bars
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ledger import runs
from services.web.runs import progress_subject


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
        config = BacktestConfig.model_validate(run.config)
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
        result = engine.result(run_id=run_id, kind="backtest", source=bars.source, warnings=bars.warnings)
        await runs.save_result(url, run_id, result)
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
