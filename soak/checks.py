"""The end-of-run checks: what the streams hold against what the ledger holds, recomputed here independently.

Nothing here uses the code under test to compute a figure: positions, cash and commissions are folded from the
execution stream with plain ``Decimal`` sums, and the portfolio's decisions are re-derived from the signal stream
(every signal targets +QUANTITY or -QUANTITY; an order is due exactly when the target differs from what the
orders so far add up to). The events are parsed with the wire models, which is what any reader does.
"""

from __future__ import annotations

import decimal
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

import asyncpg
from nats.aio.client import Client
from pydantic import BaseModel, ValidationError

from ingenium.config import Settings
from ingenium.deadletter import COMPONENT, REASON
from ingenium.events import DataEvent, ExecutionEvent, OrderEvent, SignalEvent, SignalType
from ingenium.streamread import read_stream
from ingenium.subjects import StreamKey
from services.settle import busy_consumers, consumers_of, ledger_lag
from soak.loop import QUANTITY, STARTING_CASH, components

#: Exact sums and products of wire decimals (prices to 4 places, commissions to a few more).
_EXACT = decimal.Context(prec=60)
_ZERO = Decimal(0)
M = TypeVar("M", bound=BaseModel)


@dataclass
class Check:
    """One check's verdict: a one-line summary and, when it failed, every problem found (first ones printed)."""

    name: str
    summary: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether it passed."""
        return not self.problems


@dataclass
class Recorded:
    """What the streams hold, parsed, in stream order."""

    data: list[str] = field(default_factory=list)
    signals: list[SignalEvent] = field(default_factory=list)
    orders: list[OrderEvent] = field(default_factory=list)
    executions: list[ExecutionEvent] = field(default_factory=list)
    #: (component, reason, original subject) of each dead letter.
    dead_letters: list[tuple[str, str, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


async def record(nc: Client, settings: Settings) -> Recorded:
    """Read every stream the loop writes."""
    subjects = settings.subjects
    out = Recorded()

    async def read(key: StreamKey, subject: str) -> list[bytes]:
        return [msg.data async for msg in read_stream(nc, subjects.stream(key), subject, batch=1000)]

    def parse(model: type[M], raw: list[bytes], into: list[M]) -> None:
        for data in raw:
            try:
                into.append(model.model_validate_json(data))
            except ValidationError as exc:
                out.unreadable.append(f"{model.__name__}: {exc.errors()[0]['msg']}: {data[:120]!r}")

    bars: list[DataEvent] = []
    parse(DataEvent, await read("data", subjects.all_data), bars)
    out.data = [b.id for b in bars]
    parse(SignalEvent, await read("signal", subjects.signal), out.signals)
    parse(OrderEvent, await read("order", subjects.order), out.orders)
    parse(ExecutionEvent, await read("execution", subjects.execution), out.executions)
    async for msg in read_stream(nc, subjects.stream("deadletter"), subjects.all_dead_letters):
        headers = msg.headers or {}
        out.dead_letters.append((headers.get(COMPONENT, "?"), headers.get(REASON, "?"), msg.subject))
    return out


@dataclass
class LedgerRows:
    """The ledger's tables, as plain rows."""

    orders: dict[str, asyncpg.Record]
    fills: dict[str, asyncpg.Record]
    positions: dict[str, asyncpg.Record]
    cash: asyncpg.Record | None


async def ledger_rows(conn: asyncpg.Connection) -> LedgerRows:
    """Read the ledger's orders, fills, positions and cash."""
    orders = {r["order_id"]: r for r in await conn.fetch("SELECT * FROM ledger_orders")}
    fills = {r["exec_id"]: r for r in await conn.fetch("SELECT * FROM ledger_fills")}
    positions = {r["symbol"]: r for r in await conn.fetch("SELECT * FROM ledger_positions")}
    return LedgerRows(orders, fills, positions, await conn.fetchrow("SELECT * FROM ledger_cash LIMIT 1"))


def _exec_id(execution: ExecutionEvent) -> str:
    """The ExecId, which a fill without one (a Go executor's) has in its Id."""
    return execution.exec_id or execution.id


def every_event_once(rec: Recorded, bars: int) -> Check:
    """Every bar is in the data stream once; no signal, order or execution is stored twice."""
    check = Check("every event stored once", f"{len(rec.data)} bars (expected {bars}), {len(rec.signals)} signals, "
                  f"{len(rec.orders)} orders, {len(rec.executions)} executions")
    if len(rec.data) != bars:
        check.problems.append(f"the data stream holds {len(rec.data)} bars, the feed published {bars}")
    streams: dict[str, list[str]] = {"data": rec.data, "signal": [s.id for s in rec.signals],
                                     "order": [o.id for o in rec.orders], "execution": [e.id for e in rec.executions]}
    for key, ids in streams.items():
        check.problems += [f"{key} {i} stored {n} times" for i, n in Counter(ids).items() if n > 1]
    check.problems += [f"unreadable: {u}" for u in rec.unreadable]
    return check


def one_order_per_signal(rec: Recorded) -> Check:
    """Every signal has exactly one order, except those whose target the orders before it already reached."""
    by_signal: defaultdict[str, list[OrderEvent]] = defaultdict(list)
    for o in rec.orders:
        by_signal[o.signal_id or ""].append(o)
    known = {s.id for s in rec.signals}
    check = Check("every signal has exactly one order", "")
    check.problems += [f"order {o.id} answers no signal in the stream ({o.signal_id!r})" for o in rec.orders
                       if o.signal_id not in known]
    effective: defaultdict[str, Decimal] = defaultdict(Decimal)
    answered = already = 0
    for s in rec.signals:
        target = QUANTITY if s.signal is SignalType.LONG else -QUANTITY
        due = target - effective[s.symbol]
        got = by_signal.get(s.id, [])
        if len(got) > 1:
            check.problems.append(f"signal {s.id} has {len(got)} orders: {', '.join(o.id for o in got)}")
        if due == 0 and got:
            check.problems.append(f"signal {s.id} ({s.signal.value} {s.symbol}) needed no order (the position is "
                                  f"{target} already) but has {got[0].id}")
        elif due == 0:
            already += 1
        elif not got:
            check.problems.append(f"signal {s.id} ({s.signal.value} {s.symbol}) got no order; due: {due:+}")
        elif (sent := got[0].side.sign * got[0].quantity) != due:
            check.problems.append(f"signal {s.id}: order {got[0].id} is {sent:+}, due {due:+}")
        answered += bool(got)
        for o in got:
            effective[s.symbol] += o.side.sign * o.quantity
    check.summary = (f"{answered} of {len(rec.signals)} signals answered by one order each; {already} needed none "
                     "(their target was held already)")
    return check


def fills_sum_to_filled(rec: Recorded, ledger: LedgerRows) -> Check:
    """Every order was executed in full, its fills (stream and ledger) summing to its filled quantity."""
    executions: defaultdict[str, list[ExecutionEvent]] = defaultdict(list)
    for e in rec.executions:
        executions[e.order_id].append(e)
    ledger_fills: defaultdict[str, Decimal] = defaultdict(Decimal)
    for f in ledger.fills.values():
        ledger_fills[f["order_id"]] += f["quantity"]
    check = Check("every order's fills sum to its filled quantity", "")
    fills = 0
    for o in rec.orders:
        unique = {_exec_id(e): e for e in executions.get(o.id, []) if e.is_fill}
        fills += len(unique)
        total = sum((e.quantity for e in unique.values()), _ZERO)
        row = ledger.orders.get(o.id)
        if not executions.get(o.id):
            check.problems.append(f"order {o.id} ({o.side.value} {o.quantity} {o.symbol}) has no execution")
        if row is None:
            check.problems.append(f"order {o.id} is not in the ledger")
            continue
        last_cum = max((e.cum_quantity or _ZERO for e in unique.values()), default=_ZERO)
        if not total == last_cum == row["filled_quantity"] == ledger_fills[o.id]:
            check.problems.append(f"order {o.id}: stream fills sum to {total}, last CumQuantity {last_cum}, ledger "
                                  f"filled_quantity {row['filled_quantity']}, ledger fills sum {ledger_fills[o.id]}")
        if row["status"] != "filled" or total != o.quantity:
            check.problems.append(f"order {o.id} ended {row['status']} with {total} of {o.quantity} filled "
                                  f"({row['reason'] or 'no reason'}); the soak's orders always fill")
    extra = set(ledger.orders) - {o.id for o in rec.orders}
    check.problems += [f"ledger order {i} is not in the order stream" for i in sorted(extra)]
    check.summary = f"{len(rec.orders)} orders, {fills} fills"
    return check


def no_fill_doubled(rec: Recorded, ledger: LedgerRows) -> Check:
    """No ExecId is on the execution stream twice, and the ledger holds exactly the stream's fills."""
    stream = Counter(_exec_id(e) for e in rec.executions if e.is_fill)
    check = Check("no fill is doubled", f"{len(stream)} ExecIds on the stream, {len(ledger.fills)} fills in the ledger")
    check.problems += [f"ExecId {i} is on the execution stream {n} times" for i, n in stream.items() if n > 1]
    missing = sorted(set(stream) - set(ledger.fills))
    check.problems += [f"fill {i} is on the stream but not in the ledger" for i in missing]
    check.problems += [f"ledger fill {i} is not on the stream" for i in sorted(set(ledger.fills) - set(stream))]
    return check


def money_matches(rec: Recorded, ledger: LedgerRows) -> Check:
    """Positions, commissions and cash folded from the stream's fills equal the ledger's; its books balance."""
    sides = {o.id: o.side for o in rec.orders}
    quantity: defaultdict[str, Decimal] = defaultdict(Decimal)
    commissions: defaultdict[str, Decimal] = defaultdict(Decimal)
    counts: Counter[str] = Counter()
    cash = STARTING_CASH
    unique = {_exec_id(e): e for e in rec.executions if e.is_fill}
    for e in unique.values():
        side = e.side or sides[e.order_id]
        signed = _EXACT.multiply(side.sign, e.quantity)
        quantity[e.symbol] = _EXACT.add(quantity[e.symbol], signed)
        commissions[e.symbol] = _EXACT.add(commissions[e.symbol], e.commission or _ZERO)
        counts[e.symbol] += 1
        cash = _EXACT.subtract(cash, _EXACT.add(_EXACT.multiply(signed, e.price), e.commission or _ZERO))
    check = Check("ledger positions and cash equal the streams", f"{len(quantity)} positions, cash {cash}")
    for symbol in sorted(set(quantity) | set(ledger.positions)):
        row = ledger.positions.get(symbol)
        mine = (quantity[symbol], commissions[symbol], counts[symbol])
        theirs = (row["quantity"], row["commissions"], row["fills"]) if row is not None else None
        if theirs != mine:
            check.problems.append(f"{symbol}: (quantity, commissions, fills) from the stream {mine}, ledger {theirs}")
    total_commission = sum(commissions.values(), _ZERO)
    if ledger.cash is None:
        check.problems.append("the ledger has no cash row")
        return check
    mine_cash = (cash, total_commission, len(unique))
    theirs_cash = (ledger.cash["balance"], ledger.cash["commissions"], ledger.cash["fills"])
    if mine_cash != theirs_cash:
        check.problems.append(f"cash (balance, commissions, fills) from the stream {mine_cash}, ledger {theirs_cash}")
    # cash + signed cost basis = starting cash + realized PnL - commissions, at every moment.
    basis = sum((r["cost_basis"] * (1 if r["quantity"] >= 0 else -1) for r in ledger.positions.values()), _ZERO)
    realized = sum((r["realized_pnl"] for r in ledger.positions.values()), _ZERO)
    if _EXACT.add(ledger.cash["balance"], basis) != _EXACT.subtract(_EXACT.add(STARTING_CASH, realized),
                                                                    ledger.cash["commissions"]):
        check.problems.append(f"the ledger does not balance: cash {ledger.cash['balance']} + cost basis {basis} != "
                              f"{STARTING_CASH} + realized {realized} - commissions {ledger.cash['commissions']}")
    return check


async def nothing_pending(nc: Client, settings: Settings, conn: asyncpg.Connection) -> Check:
    """Every consumer delivered and had acked everything; the ledger projected both streams to their end."""
    js = nc.jetstream(timeout=10)
    consumers = consumers_of(components())
    busy = await busy_consumers(js, settings.subjects, consumers)
    lag = await ledger_lag(js, settings.subjects, conn)
    return Check("no message left unacknowledged",
                 f"{len(consumers)} consumers at 0 pending / 0 unacked, ledger at the streams' ends",
                 [*busy, *lag])


def nothing_dead_lettered(rec: Recorded) -> Check:
    """The dead-letter stream is empty: nothing the loop made was refused."""
    return Check("nothing silently dropped (dead-letter stream empty)", f"{len(rec.dead_letters)} dead letters",
                 [f"{component} dead-lettered {subject}: {reason}" for component, reason, subject in rec.dead_letters])


async def run_checks(nc: Client, settings: Settings, conn: asyncpg.Connection, bars: int) -> list[Check]:
    """Every check, in the order they are printed."""
    rec = await record(nc, settings)
    ledger = await ledger_rows(conn)
    return [
        every_event_once(rec, bars),
        one_order_per_signal(rec),
        fills_sum_to_filled(rec, ledger),
        no_fill_doubled(rec, ledger),
        money_matches(rec, ledger),
        await nothing_pending(nc, settings, conn),
        nothing_dead_lettered(rec),
    ]
