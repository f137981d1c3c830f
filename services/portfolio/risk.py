"""Pre-trade risk checks: the reasons the portfolio refuses to send an order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ingenium.events import Side
from services.portfolio.book import Book

_BPS = Decimal(10_000)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits every order must respect; ``None`` disables a limit.

    Args:
        max_position: Largest absolute position per symbol, in units.
        max_gross_exposure: Largest sum of |position| × price over all symbols, in money.
        max_leverage: Gross exposure may not exceed equity × this (the margin check).
        long_only: Never hold a negative position.
        cash_buffer_bps: Extra cash a buy must leave for slippage and commission, in bps of its cost.

    """

    max_position: Decimal | None = None
    max_gross_exposure: Decimal | None = None
    max_leverage: Decimal = Decimal(1)
    long_only: bool = True
    cash_buffer_bps: Decimal = Decimal(50)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an order was refused: a short code (for the metric) and a sentence (for the log)."""

    code: str
    reason: str


def check(
    book: Book, limits: RiskLimits, symbol: str, side: Side, quantity: Decimal, price: Decimal
) -> Rejection | None:
    """The first limit an order at ``price`` would break, or ``None`` if it may go.

    An order that only reduces the position is always allowed: risk limits must never stop a portfolio from
    getting out.
    """
    before = book.effective(symbol)
    after = before + quantity * side.sign
    if abs(after) <= abs(before) and (after >= 0) == (before >= 0):
        return None
    if limits.long_only and after < 0:
        return Rejection("long_only", f"{symbol}: selling {quantity} would leave a short position of {after} "
                                      "and the portfolio is long-only")
    if limits.max_position is not None and abs(after) > limits.max_position:
        return Rejection("max_position", f"{symbol}: position would be {after}, beyond max_position "
                                         f"{limits.max_position}")
    gross = book.gross_exposure(symbol=symbol, replace=after, price=price)
    if limits.max_gross_exposure is not None and gross > limits.max_gross_exposure:
        return Rejection("max_gross_exposure", f"gross exposure would be {gross:.2f}, beyond max_gross_exposure "
                                               f"{limits.max_gross_exposure}")
    equity = book.equity()
    if gross > equity * limits.max_leverage:
        return Rejection("margin", f"gross exposure would be {gross:.2f}, more than equity {equity:.2f} × "
                                   f"max_leverage {limits.max_leverage}")
    if side is Side.BUY:
        long_increase = max(after, _ZERO) - max(before, _ZERO)
        cost = long_increase * price * (1 + limits.cash_buffer_bps / _BPS)
        available = book.cash - book.reserved_cash()
        if cost > available:
            return Rejection("cash", f"{symbol}: buying {quantity} needs {cost:.2f} with the buffer, only "
                                     f"{available:.2f} of cash is free")
    return None
