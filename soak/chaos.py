"""The chaos driver: a seeded plan of strikes at random moments, carried out against the running loop and logged.

Three kinds of strike: SIGKILL one member of the cast (restarted after a short downtime), SIGKILL the
nats-server (started again on the same port and store), and ``pg_terminate_backend`` of the ledger writer's
PostgreSQL connection from a separate admin connection. The plan depends on the seed alone, so a failing run can
be repeated; the first strikes cover every kind, so even a short run has one of each.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from ingenium.embedded import EmbeddedNats
from ledger.database import connect
from ledger.lock import holder_pid
from services.settle import LoopTimeout, wait_until
from soak.config import SoakConfig
from soak.loop import Cast

log = logging.getLogger("soak.chaos")

Kind = Literal["kill", "nats", "postgres"]
KINDS: tuple[Kind, ...] = get_args(Kind)
#: Seconds a PostgreSQL strike waits for a ledger to hold the lock.
_HOLDER_WAIT = 30.0


@dataclass(frozen=True)
class Strike:
    """One planned act of chaos, ``at`` seconds after the feed started."""

    at: float
    kind: Kind
    target: str = ""
    downtime: float = 0.0

    def describe(self) -> str:
        """One line for the plan and the log."""
        what = {"kill": f"SIGKILL {self.target}", "nats": "SIGKILL nats-server",
                "postgres": "terminate the ledger writer's PostgreSQL connection"}[self.kind]
        down = f", down {self.downtime:.1f}s" if self.kind != "postgres" else ""
        return f"t+{self.at:6.1f}s  {what}{down}"


def plan(config: SoakConfig, members: Sequence[str], *, horizon: float) -> list[Strike]:
    """The strikes of a run whose feed lasts ``horizon`` seconds.

    One of each kind in its first 70%, in a seeded order, then more at exponentially distributed intervals of
    mean ``config.chaos_every``.
    """
    rng = random.Random(config.seed)
    low, high = config.downtime

    def strike(at: float, kind: Kind) -> Strike:
        target = rng.choice(list(members)) if kind == "kill" else ""
        return Strike(round(at, 1), kind, target, round(rng.uniform(low, high), 1))

    first = list(KINDS)
    rng.shuffle(first)
    # Spread over the first 70%, after a tenth of the run (the loop is warm), in the shuffled order.
    moments = sorted(rng.uniform(0.1, 0.7) * horizon for _ in first)
    strikes = [strike(at, kind) for at, kind in zip(moments, first, strict=True)]
    mean = config.chaos_every.total_seconds()
    at = 0.1 * horizon
    while (at := at + rng.expovariate(1 / mean)) < 0.95 * horizon:
        strikes.append(strike(at, rng.choice(KINDS)))
    return sorted(strikes, key=lambda s: s.at)


@dataclass
class Chaos:
    """Carries out a plan against the cast, the nats-server and the ledger's database."""

    strikes: list[Strike]
    cast: Cast
    nats: EmbeddedNats
    database_url: str
    log_file: Path
    #: Members down on purpose right now (the supervisor must not count them as crashed).
    down: set[str] = field(default_factory=set)
    #: What each strike did, in order.
    done: list[str] = field(default_factory=list)
    #: When (monotonic) the nats-server last came back; infinity while it is down.
    nats_back: float = -math.inf

    @property
    def nats_was_down(self) -> bool:
        """Whether NATS is down or came back in the last half minute (a component starting then may be refused)."""
        return time.monotonic() - self.nats_back < 30

    async def run(self, started: float, stop: asyncio.Event) -> None:
        """Strike at each planned moment until the plan is done or ``stop`` is set (the feed ended)."""
        for strike in self.strikes:
            delay = started + strike.at - time.monotonic()
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await stop.wait()
                    return
                except TimeoutError:
                    pass
            if stop.is_set():
                return
            outcome = await self.strike(strike)
            self.note(f"{strike.describe()}: {outcome}")

    def note(self, line: str) -> None:
        """Log a line and keep it in the chaos log."""
        log.info("chaos %s", line)
        self.done.append(line)
        with self.log_file.open("a") as out:
            out.write(line + "\n")

    async def strike(self, strike: Strike) -> str:
        """Carry out one strike; what it hit."""
        if strike.kind == "kill":
            name = strike.target
            if not self.cast.members[name].alive:
                return f"{name} was not running (finished or restarting)"
            self.down.add(name)
            try:
                self.cast.kill(name)
                await asyncio.sleep(strike.downtime)
                self.cast.start(name)
            finally:
                self.down.discard(name)
            return f"{name} killed and restarted"
        if strike.kind == "nats":
            self.nats_back = math.inf
            self.nats.kill()
            await asyncio.sleep(strike.downtime)
            try:
                await asyncio.to_thread(self.nats.start)
            finally:
                self.nats_back = time.monotonic()
            return f"nats-server back on {self.nats.url}"
        return await self.cut_ledger_connection()

    async def cut_ledger_connection(self) -> str:
        """``pg_terminate_backend`` the session holding the projector lock.

        Right after another strike no ledger may hold it (both reconnecting): the strike waits for one that does.
        """
        admin = await connect(self.database_url, application_name="ingenium-soak-chaos")
        holder: int | None = None

        async def unheld() -> list[str]:
            nonlocal holder
            holder = await holder_pid(admin)
            return [] if holder is not None else ["no ledger holds the lock"]

        try:
            try:
                await wait_until(unheld, within=_HOLDER_WAIT, what="the ledger's lock", interval=0.2)
            except LoopTimeout:
                return f"no ledger held the lock within {_HOLDER_WAIT:.0f}s: nothing to cut"
            cut = await admin.fetchval("SELECT pg_terminate_backend($1)", holder)
        finally:
            await admin.close()
        return f"terminated backend {holder}, the lock holder" if cut else f"lock holder {holder} was gone already"
