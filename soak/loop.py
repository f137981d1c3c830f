"""The loop under test as real ``ingenium`` processes, started with the CLI and restartable one by one.

The cast: the synthetic feed (``ingenium ingest synthetic``), two replicas of one strategy (the same name, so
the same durable consumer: they share its work), the portfolio, the paper executor, and two ledger projectors
(``ingenium ledger serve``: one writes, the other waits on the lock as a hot standby).

The configuration makes every decision of the portfolio a function of the signal stream alone, so the checks can
re-derive it: fixed-quantity sizing, long and short (a signal targets +10 or -10), cash and age limits that never
bind, and market orders that the executor always fills in full (in fills of at most 4, so most orders have
several). An order the executor rejects would be a finding, not noise.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from ingenium.component import Component
from ingenium.config import Settings
from ingenium.testing import spawn
from soak.config import SoakConfig
from tests.cluster.trading import Process, Spec

log = logging.getLogger("soak")

STARTING_CASH = Decimal(1_000_000_000)
#: The portfolio's position size: a long signal targets +QUANTITY, a short one -QUANTITY.
QUANTITY = Decimal(10)
FEED_START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)

STRATEGY = Spec("services.strategies.sma_cross:SmaCross", "sma", {"fast": "2", "slow": "5"})
PORTFOLIO = Spec("services.portfolio.portfolio:RiskPortfolio", "pf", {
    "sizing": "quantity", "quantity": str(QUANTITY), "cash": str(STARTING_CASH), "long_only": "false",
    "max_signal_age": "1h", "max_leverage": "100",
})
EXECUTOR = Spec("services.executor.paper:PaperExecutor", "paper", {
    "max_fill_quantity": "4", "slippage_bps": "2", "commission_per_share": "0.005", "max_order_age": "1h",
})
#: Members by name: the two strategy replicas run the same spec.
REPLICAS = ("sma-1", "sma-2")
LEDGERS = ("ledger-a", "ledger-b")
FEED = "feed"
#: The one line a component exits with when NATS is unreachable at its start (ingenium.connection).
_NATS_REFUSED = "error: cannot reach NATS at"


def components() -> list[Component]:
    """The consuming components, built in this process only to name their durable consumers."""
    return [spec.build() for spec in (STRATEGY, PORTFOLIO, EXECUTOR)]


def feed_args(config: SoakConfig) -> list[str]:
    """``ingenium ingest synthetic`` arguments for the whole run (a restarted feed resumes after its last bar)."""
    return ["ingest", "synthetic", "--symbols", ",".join(config.symbols), "--seed", str(config.seed),
            "--period", config.period, "--count", str(config.bars), "--speed", f"{config.speed:g}",
            "--start", FEED_START.isoformat(), "--volatility", "0.001"]


def cast_args(config: SoakConfig) -> dict[str, list[str]]:
    """Every member's ``ingenium`` arguments, by member name."""
    ledger = ["ledger", "serve", "--starting-cash", str(STARTING_CASH)]
    return {
        **{name: ledger for name in LEDGERS},
        **{name: STRATEGY.args() for name in REPLICAS},
        PORTFOLIO.name: PORTFOLIO.args(),
        EXECUTOR.name: EXECUTOR.args(),
        FEED: feed_args(config),
    }


@dataclass
class Member:
    """One process of the cast: its arguments, the process running now, and what happened to it."""

    name: str
    args: list[str]
    process: Process | None = None
    kills: int = 0
    #: Exits nobody asked for (a crash), as ``exit code N: last log line``.
    crashes: list[str] = field(default_factory=list)
    #: Starts refused because NATS was down (by design a component fails fast at start; a supervisor restarts it).
    refusals: int = 0

    @property
    def alive(self) -> bool:
        """Whether its process runs."""
        return self.process is not None and self.process.popen.poll() is None


class Cast:
    """The members, started, killed and restarted as real processes with ``settings`` in their environment."""

    def __init__(self, config: SoakConfig, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.members = {name: Member(name, args) for name, args in cast_args(config).items()}

    def start(self, name: str) -> None:
        """Start (or restart) one member; its log grows across restarts."""
        member = self.members[name]
        path = self.logs / f"{name}.log"
        member.process = Process(name, spawn(member.args, self.settings, log=path), path)

    def kill(self, name: str) -> None:
        """SIGKILL one member, as a crash or an OOM kill would stop it."""
        member = self.members[name]
        if member.process is not None and member.alive:
            member.process.popen.send_signal(signal.SIGKILL)
            member.process.popen.wait()
            member.kills += 1

    @property
    def feed_done(self) -> bool:
        """Whether the feed has published its last bar and exited by itself."""
        process = self.members[FEED].process
        return process is not None and process.popen.poll() == 0

    def watch(self, *, killed: set[str], nats_was_down: bool = False) -> None:
        """Restart every member that exited by itself (but the finished feed), as a supervisor would.

        ``killed`` are the members chaos has down on purpose right now. An exit is a crash unless it is a start
        refused while NATS was down (``nats_was_down``: during or just after a NATS strike).
        """
        for name, member in self.members.items():
            if member.process is None or member.alive or name in killed:
                continue
            code = member.process.popen.returncode
            if name == FEED and code == 0:
                continue
            last = (member.process.tail(3).splitlines()[-1:] or [""])[0]
            if code == 1 and nats_was_down and _NATS_REFUSED in last:
                member.refusals += 1
                log.warning("%s could not start while NATS was down; restarting it", name)
            else:
                member.crashes.append(f"exit code {code}: {last}")
                log.error("%s exited by itself (code %s); restarting it", name, code)
            self.start(name)

    def stop(self) -> dict[str, int]:
        """SIGTERM every running member, then its exit code (0 is a clean stop)."""
        for member in self.members.values():
            if member.process is not None:
                member.process.terminate()
        return {name: member.process.stop() for name, member in self.members.items()
                if member.process is not None and name != FEED}
