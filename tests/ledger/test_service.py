"""The projector end to end, on a real nats-server and PostgreSQL: fills, cancels, reconciliation, duplicates,
dead letters, anomalies and the hot standby.
"""

from __future__ import annotations

from decimal import Decimal

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.deadletter import ORIGINAL_SEQUENCE, ORIGINAL_STREAM, REASON
from ingenium.events import Side
from ingenium.testing import eventually, fill, order
from ledger import queries
from ledger.tables import OrderStatus
from tests.ledger.support import (
    closing,
    fetch,
    project,
    publish_raw,
    running,
    wait_caught_up,
)

D = Decimal


def url(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


async def test_partial_fills_then_filled_with_vwap_position_and_cash(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    o = order("aapl", Side.BUY, "10", strategy_id="sma")
    await bus.publish_many([o, fill(o, "4", "100", cum_quantity="4", commission="1")])
    async with running(ledger_settings):
        await wait_caught_up(nc, ledger_settings)
        [row] = await queries.orders(url(ledger_settings))
        assert (row.status, row.filled_quantity, row.average_price) == ("partially_filled", 4, 100)
        await bus.publish(fill(o, "6", "101", cum_quantity="10", commission="1.5"))
        await wait_caught_up(nc, ledger_settings)
    [row] = await queries.orders(url(ledger_settings), status=OrderStatus.FILLED)
    assert (row.strategy_id, row.filled_quantity, row.average_price, row.commission) == ("sma", 10, D("100.6"), 2.5)
    [position] = await queries.positions(url(ledger_settings))
    assert (position.symbol, position.quantity, position.average_price, position.commissions) == (
        "aapl", 10, D("100.6"), D("2.5"))
    cash = await queries.cash(url(ledger_settings))
    assert cash is not None
    assert (cash.starting_balance, cash.balance, cash.commissions) == (100000, D("100000") - 1006 - D("2.5"), 2.5)
    assert [f.quantity for f in await queries.fills(url(ledger_settings), symbol="aapl")] == [4, 6]
    subjects = ledger_settings.subjects
    assert await queries.checkpoints(url(ledger_settings)) == {subjects.stream("order"): 1,
                                                               subjects.stream("execution"): 2}
    assert set((await queries.lag(ledger_settings)).values()) == {0}
    await bus.publish(order("aapl", Side.SELL, "1"))
    assert await queries.lag(ledger_settings) == {subjects.stream("order"): 1, subjects.stream("execution"): 0}


async def test_cancel_after_partial_fill_then_a_late_fill_counts(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    o = order("msft", Side.SELL, "10")
    late = fill(o, "2", "51", cum_quantity="5")
    await bus.publish_many([o, fill(o, "3", "50"), closing(o, reason="user asked"), late])
    await project(nc, ledger_settings)
    [row] = await queries.orders(url(ledger_settings))
    assert (row.status, row.filled_quantity, row.average_price, row.reason) == ("canceled", 5, D("50.4"), "user asked")
    [position] = await queries.positions(url(ledger_settings))
    assert (position.quantity, position.average_price) == (-5, D("50.4"))


async def test_executions_before_their_order_are_reconciled_in_stream_order(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    early = order("aapl", Side.BUY, "10")
    known = order("aapl", Side.SELL, "5")
    await bus.publish(known)
    # A Go executor's fill carries no Side: until its order arrives the ledger cannot move a position with it.
    go_fill = fill(early, "10", "100").model_copy(update={"side": None})
    await bus.publish_many([go_fill, fill(known, "5", "110")])
    async with running(ledger_settings):
        await wait_caught_up(nc, ledger_settings)
        waiting = await queries.anomalies(url(ledger_settings), kind="unknown_order")
        assert [(a.order_id, a.exec_id) for a in waiting] == [(early.id, go_fill.fill_id)]
        [side] = await fetch(url(ledger_settings), "SELECT side FROM ledger_fills WHERE exec_id = $1", go_fill.fill_id)
        assert side["side"] is None
        await bus.publish(early)
        await wait_caught_up(nc, ledger_settings)
    assert await queries.anomalies(url(ledger_settings)) == []
    orders = {o.order_id: o for o in await queries.orders(url(ledger_settings), symbol="aapl")}
    assert (orders[early.id].status, orders[early.id].filled_quantity) == ("filled", 10)
    # In stream order: buy 10 @ 100, then sell 5 @ 110 realizes 50 and leaves 5 long at 100.
    [position] = await queries.positions(url(ledger_settings))
    assert (position.quantity, position.average_price, position.realized_pnl) == (5, 100, 50)
    fills = await queries.fills(url(ledger_settings))
    assert [(f.exec_id, f.side, f.realized_pnl) for f in fills] == [
        (go_fill.fill_id, "buy", 0), (fills[1].exec_id, "sell", 50)]


async def test_flip_from_long_to_short_realizes_pnl_and_commissions_reduce_cash(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    buy, sell, cover = order("tsla", Side.BUY, "10"), order("tsla", Side.SELL, "15"), order("tsla", Side.BUY, "5")
    await bus.publish_many([buy, sell, cover, fill(buy, "10", "100", commission="1"),
                            fill(sell, "15", "110", commission="1.5")])
    async with running(ledger_settings):
        await wait_caught_up(nc, ledger_settings)
        [position] = await queries.positions(url(ledger_settings))
        assert (position.quantity, position.average_price, position.realized_pnl) == (-5, 110, 100)
        await bus.publish(fill(cover, "5", "105", commission="0.5"))
        await wait_caught_up(nc, ledger_settings)
    [position] = await queries.positions(url(ledger_settings))
    assert (position.quantity, position.average_price, position.realized_pnl, position.commissions) == (0, 0, 125, 3)
    assert [f.realized_pnl for f in await queries.fills(url(ledger_settings))] == [0, 100, 25]
    assert await queries.positions(url(ledger_settings), include_flat=False) == []
    cash = await queries.cash(url(ledger_settings))
    assert cash is not None and (cash.balance, cash.commissions) == (D(100000) - 1000 + 1650 - 525 - 3, 3)


async def test_duplicates_beyond_the_dedup_window_change_nothing_and_are_audited(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    o = order("aapl", Side.BUY, "10")
    f = fill(o, "10", "100", commission="1")
    await bus.publish_many([o, f])
    await project(nc, ledger_settings)
    before = (await queries.positions(url(ledger_settings)), await queries.cash(url(ledger_settings)))
    # The same events again under new message ids: JetStream stores them, as after its duplicate window.
    copies = [await publish_raw(nc, ledger_settings, o), await publish_raw(nc, ledger_settings, f),
              await publish_raw(nc, ledger_settings, f)]
    await project(nc, ledger_settings)
    assert (await queries.positions(url(ledger_settings)), await queries.cash(url(ledger_settings))) == before
    [row] = await queries.orders(url(ledger_settings))
    assert row.filled_quantity == 10
    audit = await fetch(url(ledger_settings), "SELECT event_type, stream_sequence, duplicate, event_id "
                                              "FROM ledger_events ORDER BY event_type DESC, stream_sequence")
    assert [(r["event_type"], r["stream_sequence"], r["duplicate"]) for r in audit] == [
        ("order", 1, False), ("order", copies[0], True),
        ("execution", 1, False), ("execution", copies[1], True), ("execution", copies[2], True)]
    assert {r["event_id"] for r in audit} == {o.id, f.fill_id}


async def test_a_poison_message_is_audited_and_dead_lettered_and_projection_carries_on(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    o = order("aapl", Side.BUY, "10")
    await bus.publish(o)
    bad_seq = await publish_raw(nc, ledger_settings, b"{not json", kind="order")
    negative = (b'{"Id": "x1", "Timestamp": "2024-03-01T14:30:00Z", "ExecutionTimestamp": "2024-03-01T14:30:00Z",'
                b' "OrderId": "o", "Symbol": "aapl", "Quantity": "-4", "Price": "1", "Update": "filled"}')
    await publish_raw(nc, ledger_settings, negative, kind="execution", msg_id="neg-1")
    after = order("aapl", Side.BUY, "1")
    await bus.publish_many([after, fill(after, "1", "10")])
    await project(nc, ledger_settings)
    assert {r.order_id for r in await queries.orders(url(ledger_settings))} == {o.id, after.id}
    [position] = await queries.positions(url(ledger_settings))
    assert position.quantity == 1
    audit = await fetch(url(ledger_settings), "SELECT stream, stream_sequence, error, payload, raw, msg_id "
                                              "FROM ledger_events WHERE error IS NOT NULL ORDER BY stream")
    raw = [(r["stream_sequence"], r["raw"], r["payload"]) for r in audit if r["raw"]]
    assert raw == [(bad_seq, b"{not json", None)]
    [execution] = [r for r in audit if r["msg_id"] == "neg-1"]
    assert "Quantity" in execution["error"] and '"Quantity": "-4"' in execution["payload"]
    dead_stream = ledger_settings.subjects.stream("deadletter")
    js = nc.jetstream()
    dead = [await js.get_msg(dead_stream, seq) for seq in (1, 2)]
    assert sorted(m.data for m in dead) == sorted([b"{not json", negative])
    reasons = {(m.headers[ORIGINAL_STREAM], m.headers[ORIGINAL_SEQUENCE]): m.headers[REASON] for m in dead if m.headers}
    subjects = ledger_settings.subjects
    assert "invalid OrderEvent" in reasons[(subjects.stream("order"), str(bad_seq))]
    assert "Quantity" in reasons[(subjects.stream("execution"), "1")]


async def test_overfill_mismatches_and_fills_of_orders_that_never_arrive_are_anomalies(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    o = order("aapl", Side.BUY, "10")
    ghost = order("aapl", Side.BUY, "1")
    over = fill(o, "3", "100", cum_quantity="13")
    wrong = fill(o, "1", "100", cum_quantity="14").model_copy(update={"side": Side.SELL, "symbol": "msft"})
    ghost_fill = fill(ghost, "1", "5")
    await bus.publish_many([o, fill(o, "10", "100"), over, wrong, ghost_fill])
    await project(nc, ledger_settings)
    found = {(a.kind, a.exec_id, a.order_id) for a in await queries.anomalies(url(ledger_settings))}
    assert found == {
        ("overfill", over.fill_id, o.id), ("overfill", wrong.fill_id, o.id), ("side_mismatch", wrong.fill_id, o.id),
        ("symbol_mismatch", wrong.fill_id, o.id), ("unknown_order", ghost_fill.fill_id, ghost.id),
    }
    # Each fill moves the position of the symbol and side it reports.
    positions = {p.symbol: p.quantity for p in await queries.positions(url(ledger_settings))}
    assert positions == {"aapl": 14, "msft": -1}
    [row] = await queries.orders(url(ledger_settings))
    assert (row.status, row.filled_quantity) == ("filled", 14)


async def test_a_second_projector_waits_as_hot_standby_and_takes_over(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    first = order("aapl", Side.BUY, "1")
    await bus.publish_many([first, fill(first, "1", "10")])
    async with running(ledger_settings) as one:
        await wait_caught_up(nc, ledger_settings)
        async with running(ledger_settings, active=False) as two:
            await eventually(lambda: two.projector.role == "standby")
            second = order("aapl", Side.BUY, "2")
            await bus.publish_many([second, fill(second, "2", "11")])
            await wait_caught_up(nc, ledger_settings)
            assert (one.projector.projected, two.projector.projected) == (4, 0)
            assert two.projector.role == "standby" and not two.projector.active.is_set()
            await one.stop()
            await eventually(two.projector.active.is_set)
            third = order("aapl", Side.SELL, "3")
            await bus.publish_many([third, fill(third, "3", "12")])
            await wait_caught_up(nc, ledger_settings)
            assert two.projector.projected == 2
    [position] = await queries.positions(url(ledger_settings))
    # Bought 1 @ 10 and 2 @ 11, sold all 3 @ 12: the round trip realizes exactly 36 - 32.
    assert (position.quantity, position.realized_pnl, position.average_price) == (0, 4, 0)


async def test_a_lost_consumer_is_recreated_at_the_checkpoint(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    o = order("aapl", Side.BUY, "1")
    await bus.publish(o)
    async with running(ledger_settings):
        await wait_caught_up(nc, ledger_settings)
        js = nc.jetstream()
        for key in ("order", "execution"):
            stream = ledger_settings.subjects.stream(key)
            for info in await js.consumers_info(stream):
                await js.delete_consumer(stream, info.name)
        more = order("aapl", Side.BUY, "2")
        await bus.publish_many([more, fill(more, "2", "5"), fill(o, "1", "4")])
        await wait_caught_up(nc, ledger_settings)
    assert [p.quantity for p in await queries.positions(url(ledger_settings))] == [3]
    assert (await fetch(url(ledger_settings), "SELECT count(*) AS n FROM ledger_events"))[0]["n"] == 4
