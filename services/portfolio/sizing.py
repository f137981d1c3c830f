"""Position sizing: how many units a signal asks for."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Literal

_ZERO = Decimal(0)

SizingMode = Literal["quantity", "notional", "equity_fraction"]


def target_size(
    mode: SizingMode,
    *,
    price: Decimal,
    equity: Decimal,
    quantity: Decimal,
    notional: Decimal,
    equity_fraction: Decimal,
    lot: Decimal,
) -> Decimal:
    """Size of the position a signal targets, rounded down to whole lots (never negative).

    Args:
        mode: ``quantity`` (a fixed number of units), ``notional`` (a fixed amount of money) or
            ``equity_fraction`` (a share of current equity).
        price: Reference price of the symbol.
        equity: Current equity of the account.
        quantity: Units for ``quantity`` sizing.
        notional: Money for ``notional`` sizing.
        equity_fraction: Share of equity for ``equity_fraction`` sizing.
        lot: Sizes are whole multiples of this.

    """
    if mode == "quantity":
        raw = quantity
    elif mode == "notional":
        raw = notional / price
    else:
        raw = max(equity, _ZERO) * equity_fraction / price
    return max(whole_lots(raw, lot), _ZERO)


def whole_lots(quantity: Decimal, lot: Decimal) -> Decimal:
    """``quantity`` rounded toward zero to a whole number of lots: 17 in lots of 5 is 15, -7 is -5."""
    lots = (abs(quantity) / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
    return lots if quantity >= 0 else -lots
