"""Sizing, risk limits and the book, on the portfolio component without any server."""

from decimal import Decimal

import pytest

from ingenium.events import ExecutionUpdate, OrderEvent, OrderType, Side, SignalType
from ingenium.testing import fill, order, signal
from services.portfolio import Book, RiskLimits, RiskPortfolio, check, target_size


def decide(
    portfolio: RiskPortfolio, direction: SignalType, symbol: str = "acme", price: str = "100"
) -> OrderEvent | None:
    event = signal(symbol, direction, price=price)
    portfolio.begin(event)
    return portfolio.on_signal(event)


def fill_all(portfolio: RiskPortfolio, order_event: OrderEvent, price: str, commission: str = "0") -> None:
    portfolio.on_execution(fill(order_event, order_event.quantity, price, commission=commission))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("quantity", Decimal(7)), ("notional", Decimal(33)), ("equity_fraction", Decimal(16))],
)
def test_sizing_modes(mode: str, expected: Decimal) -> None:
    size = target_size(mode, price=Decimal(30), equity=Decimal(5000), quantity=Decimal(7),  # type: ignore[arg-type]
                       notional=Decimal(1000), equity_fraction=Decimal("0.1"), lot=Decimal(1))
    assert size == expected


def test_sizing_rounds_down_to_lots() -> None:
    assert target_size("notional", price=Decimal(3), equity=Decimal(0), quantity=Decimal(1),
                       notional=Decimal(100), equity_fraction=Decimal(1), lot=Decimal(10)) == 30
    assert target_size("notional", price=Decimal("0.3"), equity=Decimal(0), quantity=Decimal(1),
                       notional=Decimal(1), equity_fraction=Decimal(1), lot=Decimal("0.5")) == Decimal("3.0")


def test_position_netting_through_a_flip() -> None:
    book = Book(Decimal(10_000))
    buy = order(quantity="10")
    book.add_order(buy, Decimal(100))
    book.apply(fill(buy, "4", "100", cum_quantity="4", commission="1"))
    book.apply(fill(buy, "6", "110", cum_quantity="10", commission="1"))
    position = book.positions["aapl"]
    assert position.quantity == 10 and position.average_price == Decimal(106)
    assert buy.id not in book.open_orders
    sell = order(side=Side.SELL, quantity="15")
    book.add_order(sell, Decimal(120))
    book.apply(fill(sell, "15", "120"))
    assert position.quantity == -5 and position.average_price == 120 and position.realized_pnl == 140
    assert book.cash == Decimal(10_000) - 1060 - 2 + 1800
    duplicate = fill(sell, "15", "120", exec_id="x1")
    assert book.apply(duplicate) and not book.apply(duplicate)  # a replayed fill changes nothing


def test_target_position_logic_and_derived_ids() -> None:
    portfolio = RiskPortfolio(quantity=10, name="pf")
    first = decide(portfolio, SignalType.LONG)
    assert first is not None and first.side is Side.BUY and first.quantity == 10 and first.strategy_id == "test"
    assert decide(portfolio, SignalType.LONG) is None  # already long, including the open order
    fill_all(portfolio, first, "100")
    sell = decide(portfolio, SignalType.SHORT)
    assert sell is not None and sell.side is Side.SELL and sell.quantity == 10  # long-only: flat, not short
    fill_all(portfolio, sell, "101")
    assert decide(portfolio, SignalType.SHORT) is None
    again = RiskPortfolio(quantity=10, name="pf")
    event = signal(event_id="sig-1", price="100")
    portfolio.begin(event)
    again.begin(event)
    assert portfolio.on_signal(event).id == again.on_signal(event).id  # type: ignore[union-attr]


def test_short_side_and_limit_orders() -> None:
    portfolio = RiskPortfolio(quantity=5, long_only=False, limit_offset_bps=10, cash=100_000)
    short = decide(portfolio, SignalType.SHORT, price="200")
    assert short is not None and short.side is Side.SELL and short.quantity == 5
    assert short.type is OrderType.LIMIT and short.limit_price == Decimal("199.8000")
    fill_all(portfolio, short, "199.8")
    flip = decide(portfolio, SignalType.LONG, price="190")
    assert flip is not None and flip.side is Side.BUY and flip.quantity == 10 and flip.limit_price == Decimal("190.19")


def test_risk_limits_reject_with_reasons() -> None:
    portfolio = RiskPortfolio(quantity=10, max_position=5)
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"max_position": 1}
    portfolio = RiskPortfolio(sizing="notional", notional=50_000, cash=20_000, max_leverage=10)
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"cash": 1}
    portfolio = RiskPortfolio(sizing="notional", notional=50_000, cash=20_000)
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"margin": 1}
    portfolio = RiskPortfolio(quantity=10, max_gross_exposure=1500)
    assert decide(portfolio, SignalType.LONG, "a") is not None
    assert decide(portfolio, SignalType.LONG, "b") is None
    assert portfolio.rejected == {"max_gross_exposure": 1}
    portfolio = RiskPortfolio(quantity="0.5")
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"size_zero": 1}
    no_price = signal("zzz")
    portfolio.begin(no_price)
    assert portfolio.on_signal(no_price) is None and portfolio.rejected["no_price"] == 1


def test_open_buys_reserve_cash_and_reductions_always_pass() -> None:
    book = Book(Decimal(1000))
    limits = RiskLimits()
    book.marks["a"] = Decimal(100)
    pending = order("a", quantity="6")
    book.add_order(pending, Decimal(100))
    refusal = check(book, limits, "b", Side.BUY, Decimal(5), Decimal(100))
    assert refusal is not None and refusal.code == "margin"  # 600 pending + 500 > equity 1000
    refusal = check(book, RiskLimits(max_leverage=Decimal(5)), "b", Side.BUY, Decimal(5), Decimal(100))
    assert refusal is not None and refusal.code == "cash"  # 600 of the 1000 are reserved for the open buy
    assert check(book, limits, "a", Side.SELL, Decimal(6), Decimal(100)) is None
    book.apply(fill(pending, "6", "100", update=ExecutionUpdate.FILLED))
    assert check(book, RiskLimits(max_position=Decimal(1)), "a", Side.SELL, Decimal(6), Decimal(100)) is None
    refusal = check(book, limits, "a", Side.SELL, Decimal(7), Decimal(100))
    assert refusal is not None and refusal.code == "long_only"
