"""The portfolio killed with SIGKILL mid-run and restarted: the ledger shows no duplicate and no missing order."""

import signal as signals
from pathlib import Path

import asyncpg
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import OrderEvent, SignalType
from ingenium.subjects import StreamKey
from ingenium.testing import bar, eventually, signal, spawn, stream_events
from services.executor import PaperExecutor
from services.settle import busy_consumers, wait_until
from tests.services.live import fresh, running

SYMBOLS = ("acme", "globex", "initech", "umbrella")
SIGNALS = 600


def script() -> list[tuple[str, str, SignalType]]:
    """Runs of three longs then three shorts per symbol, each symbol one signal out of phase with the next.

    Only the first signal of a run changes anything, and at every point some symbol is long: a portfolio that
    restarted without its positions would buy again (a duplicate) or miss the next sell (a missing order).
    """
    out = []
    for i in range(SIGNALS):
        k, s = divmod(i, len(SYMBOLS))
        direction = SignalType.LONG if ((k + s) // 3) % 2 == 0 else SignalType.SHORT
        out.append((f"sig-{i:04d}", SYMBOLS[s], direction))
    return out


def expected_orders() -> dict[str, str]:
    """Signal id → side of the order a correct portfolio sends for it."""
    held = dict.fromkeys(SYMBOLS, False)
    orders = {}
    for event_id, symbol, direction in SCRIPT:
        if direction is SignalType.LONG and not held[symbol]:
            orders[event_id], held[symbol] = "buy", True
        elif direction is SignalType.SHORT and held[symbol]:
            orders[event_id], held[symbol] = "sell", False
    return orders


SCRIPT = script()


async def test_sigkill_and_restart_leave_exactly_one_order_per_signal(
    db_settings: Settings, nc: Client, bus: JetStreamBus, tmp_path: Path
) -> None:
    # Small fetches, so the kill lands between a batch's handling and its acks rather than after a whole batch.
    settings = db_settings.model_copy(update={"fetch_batch": 25})
    args = ["run", "services.portfolio.portfolio:RiskPortfolio", "--name", "pf", "-p", "quantity=10",
            "-p", "cash=10000000"]
    log = tmp_path / "portfolio.log"
    js = nc.jetstream()
    async with running(settings, nc) as loop:
        # Cash for every buy at once: orders are sent faster than they fill, and open buys reserve cash.
        await loop.start_ledger(starting_cash=10_000_000)
        executor = PaperExecutor(name="paper", max_fill_quantity=4)
        await loop.start(executor)
        await bus.publish_many([bar(s, "100") for s in SYMBOLS])
        signals_of = [fresh(signal(symbol, direction, price="100", event_id=event_id))
                      for event_id, symbol, direction in SCRIPT]
        # Half the signals before the kill and half after it: a portfolio fast enough to finish all of them
        # between two polls would otherwise leave nothing for the restarted one to do.
        await bus.publish_many(signals_of[: SIGNALS // 2])
        child = spawn(args, settings, log=log)
        try:
            await eventually(lambda: _orders(nc, settings, 60), timeout=30)
            child.send_signal(signals.SIGKILL)
            child.wait()
            await bus.publish_many(signals_of[SIGNALS // 2:])
            assert len(await _order_events(nc, settings)) < len(expected_orders()), "the kill came too late"
            child = spawn(args, settings, log=log)
            consumers: list[tuple[StreamKey, str]] = [
                ("signal", "pf-signal"), ("order", "paper-order"), ("execution", "pf-execution")
            ]
            await wait_until(lambda: busy_consumers(js, settings.subjects, consumers), within=60,
                             what="the restarted portfolio", settle=2)
            await loop.settle([executor])
        finally:
            child.send_signal(signals.SIGTERM)
            child.wait(10)

    expected = expected_orders()
    orders = await _order_events(nc, settings)
    assert len(orders) == len({o.id for o in orders}) == len(expected), log.read_text()[-3000:]
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("SELECT signal_id, side, quantity, status FROM ledger_orders")
        positions = await conn.fetch("SELECT symbol, quantity FROM ledger_positions")
    finally:
        await conn.close()
    assert {r["signal_id"]: r["side"] for r in rows} == expected
    assert all(r["quantity"] == 10 and r["status"] == "filled" for r in rows)
    held = {symbol: 0 for symbol in SYMBOLS}
    for event_id, symbol, _ in SCRIPT:
        if event_id in expected:
            held[symbol] = 10 if expected[event_id] == "buy" else 0
    assert {p["symbol"]: p["quantity"] for p in positions} == held


async def _order_events(nc: Client, settings: Settings) -> list[OrderEvent]:
    return [e for e in await stream_events(nc, settings, "order") if isinstance(e, OrderEvent)]


async def _orders(nc: Client, settings: Settings, n: int) -> bool:
    info = await nc.jetstream().stream_info(settings.subjects.stream("order"))
    return info.state.messages >= n
