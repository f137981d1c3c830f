"""SIGKILL a real `ingenium run …AlpacaExecutor` at random points while orders are in flight, many times.

Kill points: before the order is placed, after the venue stored it but before the executor saw the answer (the
venue kills the executor from inside its request handler), and between fills (some fills happen while it is
dead). After each kill the executor restarts. In the end every order exists once at the venue, the ledger holds
every venue fill once, and the ledger's positions equal the venue's.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import Side
from ingenium.testing import eventually, order, spawn
from ledger import queries
from tests.services.live import running
from tests.venue.model import FakeOrder
from tests.venue.server import FakeAlpaca

ARGS = ["run", "services.executor.alpaca:AlpacaExecutor", "--name", "alpaca"]


def tail(log: Path) -> str:
    return log.read_text()[-4000:]


async def kill(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    await asyncio.to_thread(child.wait)


async def stop(child: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM; a child that does not exit in time dumps its threads (faulthandler) into the failure."""
    child.send_signal(signal.SIGTERM)
    for _ in range(300):
        if child.poll() is not None:
            return
        await asyncio.sleep(0.05)
    child.send_signal(signal.SIGABRT)
    child.wait()
    raise AssertionError(f"the executor did not stop on SIGTERM: {tail(log)}")


async def test_sigkill_at_random_points_leaves_one_order_and_each_fill_once(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = db_settings
    assert settings.database_url
    monkeypatch.setenv("PYTHONFAULTHANDLER", "1")
    rng = random.Random(20240102)
    log = tmp_path / "executor.log"
    kills: Counter[str] = Counter()
    sent = []
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        child = spawn(ARGS, settings, log=log)
        try:
            for i in range(9):
                point = ["before_place", "after_place", "mid_fills"][i % 3] if i < 6 else rng.choice(
                    ["before_place", "after_place", "mid_fills", "none"])
                quantity = rng.randint(3, 12)
                o = order(rng.choice(["acme", "globex"]), rng.choice([Side.BUY, Side.SELL]), quantity)
                sent.append(o)
                victim = child

                def hook(placed: FakeOrder, target: str = o.id, pid: int = victim.pid) -> None:
                    if placed.client_order_id == target:
                        os.kill(pid, signal.SIGKILL)  # the order is stored; the answer never reaches the executor

                alpaca.state.on_placed = hook if point == "after_place" else None
                await bus.publish(o)
                if point == "before_place":
                    await asyncio.sleep(rng.uniform(0, 0.2))
                    await kill(child)
                    child = spawn(ARGS, settings, log=log)
                    kills[point] += 1
                try:
                    await eventually(lambda target=o.id: target in alpaca.state.orders, timeout=30)
                except AssertionError as exc:
                    raise AssertionError(f"round {i} ({point}): child {child.poll()}: {tail(log)}") from exc
                if point == "after_place":
                    await kill(child)
                    alpaca.state.on_placed = None
                    child = spawn(ARGS, settings, log=log)
                    kills[point] += 1
                parts = [quantity // 3, quantity // 3, quantity - 2 * (quantity // 3)]
                for n, part in enumerate(parts):
                    alpaca.state.fill(o.id, part, Decimal(100 + i) + Decimal(n) / 4)
                    await asyncio.sleep(rng.uniform(0, 0.1))
                    if point == "mid_fills" and n == 0:
                        await kill(child)  # the next fill happens while the executor is dead
                        kills[point] += 1
                    if point == "mid_fills" and n == 1:
                        child = spawn(ARGS, settings, log=log)
            await eventually(lambda: _ledger_has(settings, len(alpaca.state.fills)), timeout=60)
            await loop.settle([])
        finally:
            await stop(child, log)

    state = alpaca.state
    assert set(kills) == {"before_place", "after_place", "mid_fills"}, kills
    # Each order exists once at the venue: every second placement was refused. (After a kill that follows the
    # placement, the restarted executor either places again and is refused, or finds the order first in its
    # start-up reconciliation and places nothing.)
    assert set(state.orders) == {o.id for o in sent}
    assert state.placements - state.duplicates == len(sent) and state.duplicates <= kills["after_place"] + kills[
        "before_place"]
    fills = await queries.fills(settings.database_url)
    venue_fills = sorted((f.order.client_order_id, f.qty, f.price) for f in state.fills)
    assert sorted((f.order_id, f.quantity, f.price) for f in fills) == venue_fills, tail(log)
    ledger_positions = {p.symbol.upper(): p.quantity for p in await queries.positions(settings.database_url)
                        if p.quantity}
    venue_positions = {p["symbol"]: Decimal(p["qty"]) * (1 if p["side"] == "long" else -1)
                       for p in state.positions()}
    assert ledger_positions == venue_positions
    orders = {o.order_id: o for o in await queries.orders(settings.database_url)}
    assert all(orders[o.id].status == "filled" for o in sent)


async def _ledger_has(settings: Settings, n: int) -> bool:
    assert settings.database_url
    return len(await queries.fills(settings.database_url)) >= n
