"""The trading loop of the cluster tests: its components, as `ingenium` processes or in this process, and its
outcome (what the streams and the ledger hold), for comparing a cluster run with a single-node run.

Fill prices in a live loop depend on which bar the executor saw last, which depends on timing. Here the
portfolio sends limit orders 4.76% beyond the signal's price and the executor's slippage (10%) is larger than
that, so every fill is at its order's limit: a price fixed by the signal's bar alone. As long as the market
moves less than 4.76% between a signal and its order's arrival (the walk moves 0.05% a bar), the ledger is a
function of the feed, whatever the timing, and two runs of the same feed can be compared row by row.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client

from ingenium.bus import MSG_ID
from ingenium.component import Component
from ingenium.config import Settings
from ingenium.loader import load_class
from ingenium.streamread import read_stream
from ingenium.subjects import StreamKey
from ingenium.testing import settings_env
from ledger.rows import FillRow

SYMBOLS = ("acme", "globex", "initech")
STARTING_CASH = 10_000_000
FEED_START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
#: The synthetic feed's parameters (besides speed and count), shared by the CLI run and the in-process one.
FEED: dict[str, Any] = {"seed": "11", "period": "1m", "volatility": "0.0005"}


@dataclass(frozen=True)
class Spec:
    """One component of the loop: its class, its name (and durable consumers) and its parameters."""

    target: str
    name: str
    params: dict[str, Any]

    def args(self) -> list[str]:
        """``ingenium`` arguments that run it."""
        return ["run", self.target, "--name", self.name, *(f"-p{k}={v}" for k, v in self.params.items())]

    def build(self) -> Component:
        """An instance, for running it in this process."""
        return load_class(self.target)(name=self.name, **self.params)


COMPONENTS = (
    Spec("services.strategies.sma_cross:SmaCross", "sma", {"fast": "3", "slow": "8"}),
    Spec("services.portfolio.portfolio:RiskPortfolio", "pf", {
        "sizing": "quantity", "quantity": "10", "cash": str(STARTING_CASH), "limit_offset_bps": "476",
    }),
    Spec("services.executor.paper:PaperExecutor", "paper", {
        "max_fill_quantity": "4", "slippage_bps": "1000", "commission_per_share": "0.01",
    }),
)


def feed_args(ticks: int, speed: str) -> list[str]:
    """``ingenium ingest synthetic`` arguments for ``ticks`` bars per symbol."""
    return ["ingest", "synthetic", "--symbols", ",".join(SYMBOLS), "--seed", FEED["seed"], "--period", FEED["period"],
            "--volatility", FEED["volatility"], "--count", str(ticks), "--speed", speed,
            "--start", FEED_START.isoformat()]


@dataclass
class Process:
    """An ``ingenium`` child process with its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    terminated: bool = False

    def terminate(self) -> None:
        """Ask it to stop (one SIGTERM: a second one, during the shutdown, would kill it)."""
        if self.popen.poll() is None and not self.terminated:
            self.popen.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then the exit code (SIGKILL after ``timeout``, which counts as a failure)."""
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                return -9
        return self.popen.returncode


def start(name: str, args: list[str], settings: Settings, logs: Path, **env: str) -> Process:
    """Start ``python -m ingenium ARGS`` with ``settings`` (and ``env``) in its environment."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen([sys.executable, "-m", "ingenium", *args], env={**settings_env(settings), **env},
                                 stdout=out, stderr=subprocess.STDOUT)
    return Process(name, popen, log)


def cli(args: list[str], settings: Settings) -> subprocess.CompletedProcess[str]:
    """Run one ``ingenium`` command to completion."""
    return subprocess.run([sys.executable, "-m", "ingenium", *args], env=settings_env(settings), capture_output=True,
                          text=True, timeout=120, check=False)


@dataclass
class Outcome:
    """What one run left behind: event ids per stream (in stream order) and the ledger's tables."""

    ids: dict[StreamKey, list[str]]
    answered: dict[str, str]
    ledger: dict[str, list[tuple[Any, ...]]]
    #: The ledger's fills in execution-stream order, as the projection folded them.
    fills: list[FillRow]

    def duplicates(self) -> dict[str, list[str]]:
        """Event ids stored more than once, per stream."""
        return {key: sorted(i for i, n in Counter(ids).items() if n > 1) for key, ids in self.ids.items()
                if len(set(ids)) != len(ids)}


_LEDGER_QUERIES = {
    # Everything but stream sequences and wall-clock times, which differ between two runs of the same feed.
    "orders": "SELECT order_id, strategy_id, signal_id, symbol, side, order_type, time_in_force, quantity, "
              "limit_price, status, filled_quantity, filled_notional, average_price, commission, reason "
              "FROM ledger_orders ORDER BY order_id",
    "fills": "SELECT exec_id, order_id, symbol, side, quantity, price, commission, realized_pnl FROM ledger_fills "
             "ORDER BY exec_id",
    "positions": "SELECT symbol, quantity, average_price, cost_basis, realized_pnl, commissions, fills "
                 "FROM ledger_positions ORDER BY symbol",
    "cash": "SELECT account, starting_balance, balance, commissions, fills FROM ledger_cash ORDER BY account",
    "events": "SELECT event_type, duplicate, error IS NOT NULL, count(*) FROM ledger_events GROUP BY 1, 2, 3 "
              "ORDER BY 1, 2, 3",
    "anomalies": "SELECT kind, count(*) FROM ledger_anomalies GROUP BY 1 ORDER BY 1",
}


async def outcome(nc: Client, settings: Settings) -> Outcome:
    """Read back every stream's event ids and the ledger's tables."""
    ids: dict[StreamKey, list[str]] = {}
    answered: dict[str, str] = {}
    keys: tuple[StreamKey, ...] = ("data", "signal", "order", "execution")
    subjects = settings.subjects
    for key in keys:
        ids[key] = []
        async for msg in read_stream(nc, subjects.stream(key), subjects.stream_subjects(key)[0], batch=1000):
            payload = json.loads(msg.data or b"{}")
            assert msg.headers is not None and msg.headers.get(MSG_ID) == payload["Id"], "Nats-Msg-Id is not the Id"
            ids[key].append(payload["Id"])
            if key == "order":
                answered[payload["SignalId"]] = payload["Id"]
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        ledger = {name: [tuple(r) for r in await conn.fetch(query)] for name, query in _LEDGER_QUERIES.items()}
        fills = [FillRow.from_record(r) for r in await conn.fetch(
            f"SELECT {', '.join(FillRow.COLUMNS)} FROM ledger_fills ORDER BY stream_sequence")]
    finally:
        await conn.close()
    return Outcome(ids, answered, ledger, fills)
