"""Helpers for the services' live tests: components in Runners, the ledger projector, waiting for quiet."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import warnings
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from nats.aio.client import Client

from ingenium.component import Component
from ingenium.config import Settings
from ingenium.events import Event
from ingenium.runtime import Runner
from ingenium.testing import settings_env
from ledger.config import LedgerConfig
from ledger.migrate import upgrade
from ledger.projector import Projector
from services.settle import LoopTimeout, busy_consumers, consumers_of, finish, ledger_lag, wait_until

E = TypeVar("E", bound=Event)


@dataclass
class Result:
    """What a command printed, and how it exited."""

    returncode: int
    stdout: str
    stderr: str


async def ingenium(settings: Settings, *args: str) -> Result:
    """Run ``ingenium ARGS`` as a child process with ``settings`` in its environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingenium", *args, env=settings_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def fresh(event: E, *, age: timedelta = timedelta(0)) -> E:
    """``event`` stamped ``age`` ago by the wall clock (the factories stamp ``T0``, which live components see as
    stale: they drop signals older than ``max_signal_age`` and orders older than ``max_order_age``)."""
    return event.model_copy(update={"timestamp": datetime.now(UTC) - age})


def migrate(url: str) -> None:
    """Create the ledger's tables."""
    with warnings.catch_warnings():
        # alembic 1.16 deprecates the ledger's `version_path_separator`; the ledger's alembic.ini owns that fix.
        warnings.filterwarnings("ignore", message="No path_separator found", category=DeprecationWarning)
        upgrade(url)


@dataclass
class Loop:
    """Components running in this process, and the ledger projector when there is a database."""

    settings: Settings
    nc: Client
    runners: list[tuple[Runner, asyncio.Task[None]]] = field(default_factory=list)
    projector: tuple[asyncio.Event, asyncio.Task[None]] | None = None
    ledger: Projector | None = None

    async def start(self, component: Component) -> Runner:
        runner = Runner(component, self.settings, nc=self.nc)
        task = asyncio.create_task(runner.run())
        self.runners.append((runner, task))
        ready = asyncio.create_task(runner.ready.wait())
        await asyncio.wait([ready, task], timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert ready.done(), f"{component.name} did not start"
        return runner

    async def stop(self, runner: Runner) -> None:
        for entry in list(self.runners):
            if entry[0] is runner:
                runner.stop()
                await entry[1]
                self.runners.remove(entry)

    async def start_ledger(self, starting_cash: int = 100_000) -> None:
        assert self.settings.database_url is not None
        await asyncio.to_thread(migrate, self.settings.database_url)
        stop = asyncio.Event()
        projector = Projector(self.settings, LedgerConfig(starting_cash=starting_cash, lock_poll_seconds=0.05))
        task = asyncio.create_task(projector.run(stop))
        self.projector = (stop, task)
        self.ledger = projector
        await asyncio.wait_for(projector.active.wait(), timeout=20)

    async def settle(self, components: Sequence[Component], *, within: float = 30) -> None:
        """Wait until every consumer of ``components`` is idle and the ledger (if any) has caught up."""
        js = self.nc.jetstream()
        consumers = consumers_of(components)
        await wait_until(lambda: busy_consumers(js, self.settings.subjects, consumers), within=within,
                         what="the loop", settle=2)
        if self.projector is not None:
            from ledger.database import connect

            assert self.settings.database_url is not None
            conn = await connect(self.settings.database_url)
            try:
                await wait_until(lambda: ledger_lag(js, self.settings.subjects, conn), within=within,
                                 what="the ledger")
            except LoopTimeout as exc:
                ledger = self.ledger
                state = f"role {ledger.role}, checkpoints {ledger.checkpoints}" if ledger else "?"
                raise LoopTimeout(f"{exc} (projector {state}, task done: {self.projector[1].done()})") from exc
            finally:
                await conn.close()

    async def close(self) -> None:
        for runner, _ in self.runners:
            runner.stop()
        results = await asyncio.gather(*(task for _, task in self.runners), return_exceptions=True)
        if self.projector is not None:
            self.projector[0].set()
            results.append(await finish(self.projector[1]))
        for result in results:
            if isinstance(result, BaseException):
                raise result


@contextlib.asynccontextmanager
async def running(settings: Settings, nc: Client) -> AsyncIterator[Loop]:
    loop = Loop(settings, nc)
    try:
        yield loop
    finally:
        await loop.close()
