"""Sizing, risk limits and the book, on the portfolio component without any server."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from ingenium.clock import SimulatedClock
from ingenium.errors import ConfigurationError
from ingenium.events import ExecutionUpdate, OrderEvent, OrderType, Side, SignalType
from ingenium.testing import T0, drive, fill, order, signal
from services.executor import PaperExecutor
from services.portfolio import Book, RiskLimits, RiskPortfolio, check, target_size
from services.portfolio.portfolio import stale_signals
from services.portfolio.sizing import whole_lots


def portfolio_at_t0(**params: Any) -> RiskPortfolio:
    """A RiskPortfolio whose clock stands at the time the test events are stamped (``T0``), so none is stale."""
    return RiskPortfolio(clock=SimulatedClock(T0), **params)


def decide(
    portfolio: RiskPortfolio, direction: SignalType, symbol: str = "acme", price: str = "100"
) -> OrderEvent | None:
    orders = [e for e in drive(portfolio, signal(symbol, direction, price=price)) if isinstance(e, OrderEvent)]
    return orders[0] if orders else None


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
    portfolio = portfolio_at_t0(quantity=10, name="pf")
    first = decide(portfolio, SignalType.LONG)
    assert first is not None and first.side is Side.BUY and first.quantity == 10 and first.strategy_id == "test"
    assert decide(portfolio, SignalType.LONG) is None  # already long, including the open order
    fill_all(portfolio, first, "100")
    sell = decide(portfolio, SignalType.SHORT)
    assert sell is not None and sell.side is Side.SELL and sell.quantity == 10  # long-only: flat, not short
    fill_all(portfolio, sell, "101")
    assert decide(portfolio, SignalType.SHORT) is None
    again = portfolio_at_t0(quantity=10, name="pf")
    event = signal(event_id="sig-1", price="100")
    assert drive(portfolio, event)[0].id == drive(again, event)[0].id


def test_short_side_and_limit_orders() -> None:
    portfolio = portfolio_at_t0(quantity=5, long_only=False, limit_offset_bps=10, cash=100_000)
    short = decide(portfolio, SignalType.SHORT, price="200")
    assert short is not None and short.side is Side.SELL and short.quantity == 5
    assert short.type is OrderType.LIMIT and short.limit_price == Decimal("199.8000")
    fill_all(portfolio, short, "199.8")
    flip = decide(portfolio, SignalType.LONG, price="190")
    assert flip is not None and flip.side is Side.BUY and flip.quantity == 10 and flip.limit_price == Decimal("190.19")


def test_risk_limits_reject_with_reasons() -> None:
    portfolio = portfolio_at_t0(quantity=10, max_position=5)
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"max_position": 1}
    portfolio = portfolio_at_t0(sizing="notional", notional=50_000, cash=20_000, max_leverage=10)
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"cash": 1}
    portfolio = portfolio_at_t0(sizing="notional", notional=50_000, cash=20_000)
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"margin": 1}
    portfolio = portfolio_at_t0(quantity=10, max_gross_exposure=1500)
    assert decide(portfolio, SignalType.LONG, "a") is not None
    assert decide(portfolio, SignalType.LONG, "b") is None
    assert portfolio.rejected == {"max_gross_exposure": 1}
    portfolio = portfolio_at_t0(quantity="0.5")
    assert decide(portfolio, SignalType.LONG) is None
    assert portfolio.rejected == {"size_zero": 1}
    no_price = signal("zzz")
    assert drive(portfolio, no_price) == [] and portfolio.rejected["no_price"] == 1


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


def test_signal_older_than_max_signal_age_is_dropped_counted_and_not_priced() -> None:
    name = "pf-stale-unit"
    portfolio = RiskPortfolio(name=name, clock=SimulatedClock(T0 + timedelta(minutes=10)), quantity=10,
                              max_signal_age="5m")
    before = stale_signals.total(**{"ingenium.component": name})
    assert decide(portfolio, SignalType.LONG) is None  # stamped T0: ten minutes old by the portfolio's clock
    assert stale_signals.total(**{"ingenium.component": name}) == before + 1
    assert portfolio.rejected == {} and not portfolio.book.open_orders and "acme" not in portfolio.book.marks
    recent = signal("acme", price="100").model_copy(update={"timestamp": T0 + timedelta(minutes=6)})
    [placed] = drive(portfolio, recent)  # four minutes old: still acted on
    assert isinstance(placed, OrderEvent) and placed.quantity == 10
    assert stale_signals.total(**{"ingenium.component": name}) == before + 1


def test_max_ages_take_periods_seconds_and_iso_durations() -> None:
    assert RiskPortfolio().params.max_signal_age == timedelta(minutes=5)
    assert PaperExecutor().params.max_order_age == timedelta(minutes=1)
    assert RiskPortfolio(max_signal_age="90s").params.max_signal_age == timedelta(seconds=90)
    assert RiskPortfolio(max_signal_age="300").params.max_signal_age == timedelta(minutes=5)
    assert PaperExecutor(max_order_age="PT2M").params.max_order_age == timedelta(minutes=2)
    assert PaperExecutor(max_order_age="1h").params.max_order_age == timedelta(hours=1)
    with pytest.raises(ConfigurationError, match="max_signal_age"):
        RiskPortfolio(max_signal_age="0s")
    with pytest.raises(ConfigurationError, match="max_order_age"):
        PaperExecutor(max_order_age="soon")


def manual_fill(portfolio: RiskPortfolio, symbol: str, quantity: str, price: str = "100") -> None:
    """A fill of an order placed by hand: the portfolio sees it on the execution stream, never sent it."""
    by_hand = order(symbol, quantity=quantity)
    portfolio.on_execution(fill(by_hand, quantity, price))


def test_orders_stay_whole_lots_when_a_manual_order_left_an_odd_position() -> None:
    portfolio = portfolio_at_t0(quantity=10, lot=5)
    manual_fill(portfolio, "acme", "7")
    assert decide(portfolio, SignalType.LONG) is None  # 3 short of the target of 10: less than one lot
    assert portfolio.rejected == {"odd_lot": 1}
    close = decide(portfolio, SignalType.SHORT)  # long-only: towards flat in whole lots, never past it
    assert close is not None and close.side is Side.SELL and close.quantity == 5
    fill_all(portfolio, close, "100")
    assert portfolio.book.position("acme") == 2  # the odd part stays for the user to close by hand
    assert decide(portfolio, SignalType.SHORT) is None and portfolio.rejected == {"odd_lot": 2}


def test_a_reversal_from_an_odd_position_is_whole_lots_too() -> None:
    portfolio = portfolio_at_t0(quantity=10, lot=5, long_only=False)
    manual_fill(portfolio, "acme", "7")
    reverse = decide(portfolio, SignalType.SHORT)  # target -10 is 17 away: 15, not 17
    assert reverse is not None and reverse.side is Side.SELL and reverse.quantity == 15
    fill_all(portfolio, reverse, "100")
    back = decide(portfolio, SignalType.LONG)  # from -8 to the target of 10: 18 away, 15 sent
    assert back is not None and back.side is Side.BUY and back.quantity == 15
    assert whole_lots(Decimal("-7"), Decimal(5)) == -5 and whole_lots(Decimal("1.2"), Decimal("0.5")) == 1
