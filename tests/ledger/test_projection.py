"""The accounting rules as plain functions: order fills and status, positions through a flip, cash."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ingenium.events import ExecutionUpdate, Side
from ingenium.testing import T0, fill, order
from ledger.messages import Message, parse
from ledger.projection import (
    apply_cash,
    apply_execution,
    apply_fill,
    canonical,
    empty_position,
    fill_row,
    fold_position,
    open_order,
)
from ledger.rows import CashState, FillRow
from ledger.tables import AnomalyKind, OrderStatus
from tests.ledger.support import closing

D = Decimal


def a_fill(side: Side, quantity: str, price: str, commission: str = "0", sequence: int = 1) -> FillRow:
    return FillRow(f"x{sequence}", "o", "aapl", side, D(quantity), D(price), D(commission), T0, sequence)


def test_partial_fills_move_quantity_vwap_and_status() -> None:
    o = order("aapl", Side.BUY, "10")
    state = open_order(o, 1)
    assert (state.status, state.filled_quantity, state.average_price) == (OrderStatus.NEW, 0, None)
    assert apply_execution(state, fill(o, "4", "100", cum_quantity="4", commission="1"), "E", 1) == []
    assert (state.status, state.filled_quantity, state.average_price) == (OrderStatus.PARTIALLY_FILLED, 4, 100)
    apply_execution(state, fill(o, "6", "101", cum_quantity="10", commission="1.5"), "E", 2)
    assert state.status is OrderStatus.FILLED
    assert (state.filled_quantity, state.filled_notional, state.average_price) == (10, D("1006"), D("100.6"))
    assert state.commission == D("2.5")


def test_cancel_keeps_what_was_filled_and_a_late_fill_still_counts() -> None:
    o = order("aapl", Side.SELL, "10")
    state = open_order(o, 1)
    apply_execution(state, fill(o, "3", "50"), "E", 1)
    later = T0 + timedelta(seconds=5)
    apply_execution(state, closing(o, reason="user asked").model_copy(update={"execution_timestamp": later}), "E", 2)
    assert (state.status, state.filled_quantity, state.reason) == (OrderStatus.CANCELED, 3, "user asked")
    apply_execution(state, fill(o, "2", "51", cum_quantity="5"), "E", 3)
    assert (state.status, state.filled_quantity, state.average_price) == (OrderStatus.CANCELED, 5, D("50.4"))
    assert state.updated_at == later


def test_overfill_and_mismatches_are_anomalies() -> None:
    o = order("aapl", Side.BUY, "10")
    state = open_order(o, 1)
    apply_execution(state, fill(o, "10", "1"), "E", 1)
    wrong = fill(o, "2", "1", cum_quantity="12").model_copy(update={"side": Side.SELL, "symbol": "msft"})
    kinds = {a.kind for a in apply_execution(state, wrong, "E", 2)}
    assert kinds == {AnomalyKind.OVERFILL, AnomalyKind.SIDE_MISMATCH, AnomalyKind.SYMBOL_MISMATCH}
    assert state.filled_quantity == 12


def test_filled_then_cancel_stays_filled_and_reject_records_reason() -> None:
    o = order("aapl", Side.BUY, "1")
    state = open_order(o, 1)
    apply_execution(state, fill(o, "1", "9"), "E", 1)
    apply_execution(state, closing(o), "E", 2)
    assert state.status is OrderStatus.FILLED
    other = open_order(order("aapl", Side.BUY, "1"), 2)
    apply_execution(other, closing(o, ExecutionUpdate.REJECTED, reason="no price yet"), "E", 3)
    assert (other.status, other.reason) == (OrderStatus.REJECTED, "no price yet")


def test_position_average_price_realized_pnl_and_flip_long_to_short() -> None:
    position = empty_position("aapl", T0)
    apply_fill(position, a_fill(Side.BUY, "10", "100", "1", 1))
    apply_fill(position, a_fill(Side.BUY, "10", "110", "1", 2))
    assert (position.quantity, position.average_price, position.realized_pnl) == (20, 105, 0)
    apply_fill(position, a_fill(Side.SELL, "5", "120", "1", 3))
    assert (position.quantity, position.average_price, position.realized_pnl) == (15, 105, 75)
    # Through zero: 15 closed at 100 (a loss of 75), 10 opened short at 100.
    apply_fill(position, a_fill(Side.SELL, "25", "100", "1", 4))
    assert (position.quantity, position.average_price, position.realized_pnl) == (-10, 100, 0)
    # Short covered at 90: 10 × (100 - 90) gained.
    apply_fill(position, a_fill(Side.BUY, "10", "90", "1", 5))
    assert (position.quantity, position.average_price, position.realized_pnl) == (0, 0, 100)
    assert (position.commissions, position.fills) == (5, 5)


def test_fold_is_the_same_as_applying_fills_one_by_one() -> None:
    fills = [a_fill(Side.BUY, "3", "10.5", "0.1", 1), a_fill(Side.SELL, "7", "11.25", "0.2", 2),
             a_fill(Side.BUY, "1", "9.75", "0", 3)]
    position = empty_position("aapl", T0)
    for f in fills:
        apply_fill(position, f)
    assert fold_position("aapl", fills) == position
    assert fold_position("aapl", [FillRow("x", "o", "aapl", None, D(1), D(1), D(0), T0, 9)]) is None


def test_cash_pays_for_buys_receives_for_sells_and_commissions_reduce_it() -> None:
    cash = CashState("default", D(1000), D(1000), D(0), 0, None)
    apply_cash(cash, a_fill(Side.BUY, "2", "100", "1.5"))
    apply_cash(cash, a_fill(Side.SELL, "1", "120", "0.5"))
    assert (cash.balance, cash.commissions, cash.fills, cash.updated_at) == (D("918"), D(2), 2, T0)


def test_canonical_form_depends_on_the_value_alone() -> None:
    for a, b in (("100.8000", "100.8"), ("1.0E+5", "100000"), ("1E+2", "100.00"), ("0.0", "0")):
        assert str(canonical(D(a))) == str(canonical(D(b)))
    assert str(canonical(D("1.0E+5"))) == "100000"
    assert str(canonical(D("0.50"))) == "0.5"


def test_a_fill_without_side_takes_none_until_its_order_is_known() -> None:
    o = order("aapl", Side.SELL, "5")
    go_fill = fill(o, "5", "10").model_copy(update={"side": None})
    assert fill_row(go_fill, None, 3).side is None
    assert fill_row(go_fill, o.side, 3).side is Side.SELL


def test_unparseable_messages_keep_their_bytes_and_a_reason_naming_the_field() -> None:
    def message(data: bytes) -> Message:
        return Message("S", 1, "subject", data, None, T0)

    bad_json = parse(message(b"{not json"), "order")
    assert (bad_json.event, bad_json.payload, bad_json.raw) == (None, None, b"{not json")
    negative = parse(message(b'{"Id": "o1", "Timestamp": "2024-03-01T14:30:00Z", "Symbol": "aapl", '
                             b'"Side": "buy", "Quantity": "-1"}'), "order")
    assert negative.error is not None and "quantity" in negative.error.lower()
    assert negative.payload is not None and negative.raw is None
    nul = parse(message(b'{"Id": "o\\u0000"}'), "order")
    assert nul.error is not None and "NUL" in nul.error and nul.raw is not None
    huge = order("aapl", Side.BUY, "1").model_copy(update={"quantity": D("1E+20")})
    assert "out of the range" in (parse(message(huge.to_json()), "order").error or "")
    good = parse(message(order("aapl").to_json()), "order")
    assert good.error is None and good.event is not None and good.event_id == good.order_id == good.event.id
