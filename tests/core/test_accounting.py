"""The money core: average cost through flips, fixed-scale rounding, exact round trips and cash, and the three books
(ledger projection, portfolio book, backtest account) giving the same figures digit for digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingenium.accounting import SCALE, Position, apply_fill, average_price, cash_after, to_scale
from ingenium.backtest.account import Account
from ingenium.events import Side
from ingenium.testing import T0, fill, order
from ledger.projection import apply_cash, empty_position, fill_row
from ledger.projection import apply_fill as ledger_apply_fill
from ledger.rows import CashState, PositionState
from services.portfolio.book import Book
from tests.core.reference_book import ReferenceBook

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
START = D(100_000)


@dataclass(frozen=True)
class F:
    """A fill as the generators draw it."""

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal


def decimals(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: D(n).scaleb(-places))


def fills(places: tuple[int, int] = (2, 4)) -> st.SearchStrategy[list[F]]:
    """Fill sequences on two symbols; random sides make flips common. Quantity and price places are drawn up to
    ``places``: (2, 4) keeps every notional within the scale, (8, 6) goes past it."""
    quantity_places, price_places = places
    one = st.builds(
        F, st.sampled_from(["a", "b"]), st.sampled_from([BUY, SELL]),
        st.integers(0, quantity_places).flatmap(lambda p: decimals(1, 50 * 10**p, p)),
        st.integers(0, price_places).flatmap(lambda p: decimals(1, 200 * 10**p, p)),
        decimals(0, 500, 2),
    )
    return st.lists(one, max_size=40)


def test_a_position_through_a_flip() -> None:
    p = Position()
    assert (apply_fill(p, BUY, D(10), D(100), D(1)), apply_fill(p, BUY, D(10), D(110), D(1))) == (0, 0)
    assert (p.quantity, p.cost_basis, p.average_price) == (20, 2100, 105)
    assert apply_fill(p, SELL, D(5), D(120)) == 75
    assert (p.quantity, p.average_price, p.realized_pnl) == (15, 105, 75)
    assert apply_fill(p, SELL, D(25), D(100), D(1)) == -75  # closes 15 at 100, opens a short of 10 at 100
    assert (p.quantity, p.cost_basis, p.average_price, p.realized_pnl) == (-10, 1000, 100, 0)
    assert apply_fill(p, BUY, D(10), D(90)) == 100
    assert (p.quantity, p.cost_basis, p.average_price, p.realized_pnl, p.commissions) == (0, 0, 0, 100, 3)


def test_average_price_and_pnl_are_kept_to_ten_places_half_even_and_round_trips_stay_exact() -> None:
    p = Position()
    apply_fill(p, BUY, D(1), D(100))
    apply_fill(p, BUY, D(2), D(101))
    assert str(p.average_price) == "100.6666666667"  # 302 / 3
    assert str(apply_fill(p, SELL, D(1), D(102))) == "1.3333333333"  # released 100.6666666667 of the cost
    assert str(p.cost_basis) == "201.3333333333"
    assert str(p.average_price) == "100.6666666666"  # 100.66666666665: the tie goes to the even digit
    assert str(apply_fill(p, SELL, D(2), D(99))) == "-3.3333333333"  # closing releases all the cost left
    assert p.realized_pnl == (102 + 2 * 99) - 302 and p.cost_basis == 0
    assert str(average_price(D(1), D(3))) == "0.3333333333" and str(average_price(D(201), D(2))) == "100.5"


def test_to_scale_rounds_half_even_and_leaves_shorter_values_as_they_are() -> None:
    assert to_scale(D("0.00000000025")) == D("2E-10") and to_scale(D("0.00000000035")) == D("4E-10")
    assert to_scale(D("-0.00000000025")) == D("-2E-10") and to_scale(D("1.000000000051")) == D("1.0000000001")
    assert str(to_scale(D("100.50"))) == "100.50" and str(to_scale(D(7))) == "7"
    assert SCALE == 10
    with pytest.raises(ArithmeticError, match="too large to keep to 10 decimal places"):
        to_scale(D("1E+30"))


def test_cash_pays_for_buys_receives_for_sells_and_pays_every_commission() -> None:
    assert cash_after(D(1000), BUY, D(2), D(100), D("1.5")) == D("798.5")
    assert cash_after(D(1000), SELL, D(2), D(100), D("1.5")) == D("1198.5")
    assert cash_after(D(1000), SELL, D("0.5"), D("0.25")) == D("1000.125")


def run_core(sequence: list[F]) -> tuple[dict[str, Position], Decimal, list[Decimal]]:
    positions: dict[str, Position] = {}
    cash, realized = START, []
    for f in sequence:
        realized.append(apply_fill(positions.setdefault(f.symbol, Position()), f.side, f.quantity, f.price,
                                   f.commission))
        cash = cash_after(cash, f.side, f.quantity, f.price, f.commission)
    return positions, cash, realized


def run_reference(sequence: list[F]) -> ReferenceBook:
    book = ReferenceBook(Fraction(START))
    for f in sequence:
        book.apply(f.symbol, f.side, f.quantity, f.price, f.commission)
    return book


@settings(max_examples=300, deadline=None)
@given(sequence=fills())
def test_random_fills_keep_the_invariants_and_match_the_reference(sequence: list[F]) -> None:
    positions, cash, realized = run_core(sequence)
    book = run_reference(sequence)
    assert [Fraction(r) for r in realized] == book.fill_pnl
    assert all(r == to_scale(r) for r in realized)
    assert Fraction(cash) == book.cash == Fraction(START) - sum(
        (Fraction(f.quantity * f.price) * (f.side.sign) + Fraction(f.commission) for f in sequence), Fraction(0))
    for symbol, p in positions.items():
        ref = book.positions[symbol]
        mine = [f for f in sequence if f.symbol == symbol]
        assert p.quantity == sum((f.quantity * f.side.sign for f in mine), D(0)) == ref.quantity
        assert (Fraction(p.cost_basis), Fraction(p.realized_pnl)) == (ref.cost, ref.realized)
        assert (Fraction(p.average_price), Fraction(p.commissions)) == (ref.average_price, ref.commissions)
        assert p.cost_basis >= 0 and (p.quantity or not p.cost_basis)
        # Money is conserved: what was sold less what was bought is the realized PnL less the open cost (a
        # short's open cost was received), exactly: the rounding of released cost cancels out.
        signed_cost = ref.cost if p.quantity > 0 else -ref.cost
        assert book.sold.get(symbol, 0) - book.bought.get(symbol, 0) == ref.realized - signed_cost
    # Cash plus open cost is the starting cash plus realized PnL less commissions.
    open_cost = sum((Fraction(p.cost_basis) * (1 if p.quantity > 0 else -1) for p in positions.values()), Fraction(0))
    total = sum((Fraction(p.realized_pnl - p.commissions) for p in positions.values()), Fraction(0))
    assert Fraction(cash) + open_cost == Fraction(START) + total


@settings(max_examples=200, deadline=None)
@given(sequence=fills(places=(8, 6)))
def test_fills_finer_than_the_scale_round_only_where_the_rules_say(sequence: list[F]) -> None:
    positions, cash, realized = run_core(sequence)
    book = run_reference(sequence)
    assert [Fraction(r) for r in realized] == book.fill_pnl
    assert Fraction(cash) == book.cash  # cash is never rounded
    for symbol, p in positions.items():
        ref = book.positions[symbol]
        assert (p.quantity, Fraction(p.cost_basis), Fraction(p.realized_pnl)) == (ref.quantity, ref.cost, ref.realized)
        assert Fraction(p.average_price) == ref.average_price and p.average_price == to_scale(p.average_price)


def parts(total: int) -> st.SearchStrategy[list[int]]:
    """``total`` split into positive parts."""
    return st.lists(st.integers(1, total), min_size=1, max_size=6).map(lambda cuts: _split(total, cuts))


def _split(total: int, cuts: list[int]) -> list[int]:
    points = sorted({c for c in cuts if c < total})
    return [b - a for a, b in zip([0, *points], [*points, total], strict=True)]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), quantity=st.integers(1, 300), entry=decimals(1, 10**6, 4), exit_=decimals(1, 10**6, 4),
       side=st.sampled_from([BUY, SELL]))
def test_a_round_trip_realizes_exit_minus_entry_times_quantity_exactly(
    data: st.DataObject, quantity: int, entry: Decimal, exit_: Decimal, side: Side
) -> None:
    """In and out in random partial fills: the PnL is exact even where the average price and releases were not."""
    opposite = SELL if side is BUY else BUY
    sequence = [F("a", side, D(q), entry, D("0.01") * q) for q in data.draw(parts(quantity))]
    sequence += [F("a", opposite, D(q), exit_, D("0.02")) for q in data.draw(parts(quantity))]
    positions, _, realized = run_core(sequence)
    gross = (exit_ - entry) * quantity * side.sign
    commissions = sum((f.commission for f in sequence), D(0))
    assert sum(realized, D(0)) == positions["a"].realized_pnl == gross
    account = Account(START)
    buy_or_sell = order("a", side, quantity)
    close = order("a", opposite, quantity)
    for f in sequence:
        account.on_execution(fill(buy_or_sell if f.side is side else close, f.quantity, f.price,
                                  commission=f.commission))
    [trip] = account.round_trips
    assert trip.pnl == gross - commissions and account.cash == START + gross - commissions


@settings(max_examples=150, deadline=None)
@given(sequence=fills())
def test_the_ledger_the_portfolio_and_the_backtest_give_the_same_digits(sequence: list[F]) -> None:
    """The same fills through the three books: every figure equal, in the same form (``str``), to the core's."""
    positions, cash, realized = run_core(sequence)
    ledger_positions: dict[str, PositionState] = {}
    ledger_cash = CashState("default", START, START, D(0), 0, None)
    book, account = Book(START), Account(START)
    orders = {(s, side): order(s, side, "1000000") for s in ("a", "b") for side in (BUY, SELL)}
    for i, f in enumerate(sequence):
        event = fill(orders[f.symbol, f.side], f.quantity, f.price, commission=f.commission, exec_id=f"x{i}")
        row = fill_row(event, event.side, i)
        ledger_apply_fill(ledger_positions.setdefault(f.symbol, empty_position(f.symbol, T0)), row)
        apply_cash(ledger_cash, row)
        assert str(row.realized_pnl) == str(realized[i])
        assert book.apply(event)
        account.on_execution(event)

    def figures(p: Position) -> tuple[str, ...]:
        return str(p.quantity), str(p.cost_basis), str(p.average_price), str(p.realized_pnl), str(p.commissions)

    assert {s: figures(p) for s, p in ledger_positions.items()} == {s: figures(p) for s, p in positions.items()}
    assert {s: figures(p) for s, p in book.positions.items()} == {s: figures(p) for s, p in positions.items()}
    held = {s: figures(p)[:3] for s, p in positions.items() if p.quantity}
    assert {s: figures(p)[:3] for s, p in account.holdings.items()} == held
    assert str(ledger_cash.balance) == str(book.cash) == str(account.cash) == str(cash)
    for symbol, p in positions.items():  # the backtest's round trips add up to the same net PnL
        trips = sum((t.pnl for t in account.round_trips if t.symbol == symbol), D(0))
        still_open = account.holdings.get(symbol)
        net = trips + (still_open.pnl if still_open is not None else 0)  # type: ignore[attr-defined]
        assert net == p.realized_pnl - p.commissions
