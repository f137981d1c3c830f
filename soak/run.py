"""One soak run: servers, the cast, the feed under chaos, the settle wait, the checks, and the report."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats, EmbeddedPostgres
from ingenium.streams import ensure_streams
from ingenium.testing import with_database
from ledger.database import connect
from ledger.lock import holder_pid
from ledger.migrate import upgrade
from services.settle import busy_consumers, consumers_of, ledger_lag, wait_until
from soak.chaos import Chaos, Strike, plan
from soak.checks import Check, run_checks
from soak.config import SoakConfig
from soak.loop import FEED, Cast, components

log = logging.getLogger("soak")

#: Problems printed per failed check (all of them are in the result).
SHOWN = 12


@dataclass
class SoakResult:
    """What a run did and found."""

    config: SoakConfig
    strikes: list[Strike]
    done: list[str]
    checks: list[Check] = field(default_factory=list)
    database_url: str = ""

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def report(self) -> str:
        """The printed report: the run, its chaos, each check's verdict and the first problems of a failed one."""
        c = self.config
        lines = [f"soak: {c.market} of market ({c.bars} bars of {c.period} x {len(c.symbols)} symbols) in {c.wall} "
                 f"of wall time, seed {c.seed}; {len(self.done)} strikes:"]
        lines += [f"  {line}" for line in self.done]
        for check in self.checks:
            lines.append(f"{'PASS' if check.ok else 'FAIL'} {check.name}: {check.summary}")
            lines += [f"    - {p}" for p in check.problems[:SHOWN]]
            if len(check.problems) > SHOWN:
                lines.append(f"    … and {len(check.problems) - SHOWN} more")
        failed = [check.name for check in self.checks if not check.ok]
        lines.append("soak passed" if self.ok else f"soak FAILED: {'; '.join(failed) or 'no checks ran'} "
                     f"(ledger database {self.database_url}, logs in {c.out / 'logs'})")
        return "\n".join(lines)


async def soak(config: SoakConfig) -> SoakResult:
    """Run the loop under chaos as ``config`` says, let it settle, and check what it left."""
    out = config.out.resolve()
    for part in ("nats", "logs", "chaos.log", "data"):  # a fresh run: old stores would be resumed, not checked
        path = out / part
        if path.is_dir():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    nats = EmbeddedNats(out / "nats")
    postgres = EmbeddedPostgres(out / "pg") if config.database_url is None else None
    try:
        nats_url = await asyncio.to_thread(nats.start)
        server = config.database_url if postgres is None else await asyncio.to_thread(postgres.start)
        assert server is not None
        database = f"ingenium_soak_{uuid.uuid4().hex[:10]}"
        database_url = with_database(server, database)
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        settings = Settings(nats_url=nats_url, database_url=database_url, data_dir=out / "data",
                            ack_wait_seconds=5, retry_backoff_seconds=0.1)
        return await _run(config, settings, nats, out)
    finally:
        nats.stop()
        if postgres is not None:
            postgres.stop()


async def _run(config: SoakConfig, settings: Settings, nats: EmbeddedNats, out: Path) -> SoakResult:
    assert settings.database_url is not None
    # Here rather than by `ingenium ledger migrate` and `streams init`: two interpreter starts fewer.
    await asyncio.to_thread(upgrade, settings.database_url)
    cast = Cast(config, settings, out / "logs")
    horizon = config.wall.total_seconds()
    strikes = plan(config, list(cast.members), horizon=horizon)
    result = SoakResult(config, strikes, [], database_url=settings.database_url)
    log.info("chaos plan (seed %s):\n%s", config.seed, "\n".join(s.describe() for s in strikes))
    chaos = Chaos(strikes, cast, nats, settings.database_url, out / "chaos.log")
    nc = await connect_nats(settings, name="ingenium-soak")
    conn = await connect(settings.database_url, application_name="ingenium-soak")
    try:
        await ensure_streams(nc.jetstream(), settings)
        for name in cast.members:
            if name != FEED:
                cast.start(name)
        js = nc.jetstream(timeout=10)
        consumers = consumers_of(components())

        async def not_ready() -> list[str]:
            cast.watch(killed=set())
            waiting = [b for b in await busy_consumers(js, settings.subjects, consumers) if "not created" in b]
            return waiting if await holder_pid(conn) is not None else [*waiting, "no ledger holds the lock"]

        await wait_until(not_ready, within=120, what="the cast's start", interval=0.5)
        cast.start(FEED)
        started = time.monotonic()
        stop = asyncio.Event()
        chaos_task = asyncio.create_task(chaos.run(started, stop))
        try:
            deadline = started + 3 * horizon + 120
            while not cast.feed_done:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the feed did not finish within {deadline - started:.0f}s")
                cast.watch(killed=chaos.down, nats_was_down=chaos.nats_was_down)
                await asyncio.sleep(0.5)
        finally:
            stop.set()
            await chaos_task
        result.done = chaos.done
        log.info("feed done after %.0fs; waiting for the loop to settle", time.monotonic() - started)

        async def busy() -> list[str]:
            cast.watch(killed=set(), nats_was_down=chaos.nats_was_down)
            return [*await busy_consumers(js, settings.subjects, consumers),
                    *await ledger_lag(js, settings.subjects, conn)]

        await wait_until(busy, within=config.settle_within.total_seconds(), what="the loop", interval=0.5, settle=4)
        codes = cast.stop()
        bars = config.bars * len(config.symbols)
        result.checks = [_processes(cast, codes), *await run_checks(nc, settings, conn, bars)]
        return result
    finally:
        cast.stop()
        await conn.close()
        await nc.close()


def _processes(cast: Cast, codes: dict[str, int]) -> Check:
    kills = sum(m.kills for m in cast.members.values())
    refused = sum(m.refusals for m in cast.members.values())
    check = Check("every process survived the chaos and stopped cleanly",
                  f"{len(cast.members)} processes, {kills} SIGKILLs, {refused} starts refused while NATS was down "
                  f"(restarted), exit codes {codes}")
    for name, member in cast.members.items():
        check.problems += [f"{name} exited by itself: {crash}" for crash in member.crashes]
    check.problems += [f"{name} stopped with exit code {code}" for name, code in codes.items() if code != 0]
    return check
