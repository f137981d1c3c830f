"""The soak's checks catch what they are there to catch: a signal without its order, a fill twice, money off."""

from dataclasses import replace
from decimal import Decimal
from typing import Any

from ingenium.events import ExecutionEvent, OrderEvent, Side, SignalEvent, SignalType
from ingenium.testing import fill, order, signal
from soak.chaos import KINDS, plan
from soak.checks import LedgerRows, Recorded, fills_sum_to_filled, money_matches, no_fill_doubled, one_order_per_signal
from soak.config import SoakConfig
from soak.loop import STARTING_CASH


def answer(to: SignalEvent, side: Side, quantity: int) -> OrderEvent:
    return order(to.symbol, side, quantity).model_copy(update={"signal_id": to.id})


def run() -> tuple[Recorded, LedgerRows]:
    """Long acme (buy 10 in fills of 4, 4, 2), long again (nothing due), short (sell 20 in one fill)."""
    first, again, short = signal("acme"), signal("acme"), signal("acme", SignalType.SHORT)
    buy, sell = answer(first, Side.BUY, 10), answer(short, Side.SELL, 20)
    fills = [fill(buy, 4, "100.5", cum_quantity=4, commission="0.02"), fill(buy, 4, "100.5", cum_quantity=8),
             fill(buy, 2, "101", cum_quantity=10), fill(sell, 20, "102.25", commission="0.1")]
    rec = Recorded(signals=[first, again, short], orders=[buy, sell], executions=fills)
    cash = STARTING_CASH - Decimal("100.5") * 8 - 202 + Decimal("102.25") * 20 - Decimal("0.12")
    ledger = LedgerRows(
        orders={o.id: _row(status="filled", filled_quantity=o.quantity, reason=None) for o in (buy, sell)},
        fills={f.exec_id: _row(order_id=f.order_id, quantity=f.quantity) for f in fills if f.exec_id},
        positions={"acme": _row(quantity=Decimal(-10), commissions=Decimal("0.12"), fills=4,
                                cost_basis=Decimal("1022.5"), realized_pnl=Decimal("1022.5") - 1006)},
        cash=_row(balance=cash, commissions=Decimal("0.12"), fills=4),
    )
    return rec, ledger


def _row(**values: Any) -> Any:
    return values  # what the checks read of an asyncpg.Record: its columns by name


def test_a_clean_run_passes() -> None:
    rec, ledger = run()
    checks = [one_order_per_signal(rec), fills_sum_to_filled(rec, ledger), no_fill_doubled(rec, ledger),
              money_matches(rec, ledger)]
    assert [c.problems for c in checks] == [[], [], [], []]
    assert checks[0].summary.startswith("2 of 3 signals answered") and "1 needed none" in checks[0].summary


def test_a_signal_without_its_order_or_with_two_fails() -> None:
    rec, _ = run()
    lost = replace(rec, orders=rec.orders[:1])
    assert any("got no order; due: -20" in p for p in one_order_per_signal(lost).problems)
    twice = replace(rec, orders=[*rec.orders, rec.orders[1].model_copy(update={"id": "order-again"})])
    assert any("has 2 orders" in p for p in one_order_per_signal(twice).problems)


def test_a_doubled_fill_fails_on_the_stream_and_in_the_money() -> None:
    rec, ledger = run()
    doubled = replace(rec, executions=[*rec.executions, rec.executions[0]])
    assert any("on the execution stream 2 times" in p for p in no_fill_doubled(doubled, ledger).problems)
    # The same ExecId twice counts once in the recomputation: the ledger still agrees with it.
    assert money_matches(doubled, ledger).ok
    new_id = rec.executions[0].model_copy(update={"exec_id": "exec-other", "id": "exec-other"})
    twice: list[ExecutionEvent] = [*rec.executions, new_id]
    assert any("acme" in p for p in money_matches(replace(rec, executions=twice), ledger).problems)
    assert not fills_sum_to_filled(replace(rec, executions=twice), ledger).ok


def test_ledger_cash_a_cent_off_fails() -> None:
    rec, ledger = run()
    assert ledger.cash is not None
    off = replace(ledger, cash={**ledger.cash, "balance": ledger.cash["balance"] + Decimal("0.01")})
    assert any(p.startswith("cash (balance") for p in money_matches(rec, off).problems)


def test_the_chaos_plan_is_seeded_and_has_every_kind_early() -> None:
    config = SoakConfig(wall="60s", seed=3)
    members = ["feed", "pf", "paper"]
    strikes = plan(config, members, horizon=60)
    assert strikes == plan(config, members, horizon=60)
    assert strikes != plan(config.model_copy(update={"seed": 4}), members, horizon=60)
    early = {s.kind for s in strikes if s.at <= 42}
    assert early == set(KINDS)
    assert all(s.target in members for s in strikes if s.kind == "kill")
