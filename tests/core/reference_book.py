"""The one reference model of average-cost accounting, in exact fractions, for the money core's tests and the ledger's.

It is written from the rules in ``ingenium/accounting.py``'s docstring, not from its code: rationals throughout,
and the documented rounding (half-even to ``SCALE`` places) applied only where the rules say, with Python's own
``round`` on a ``Fraction`` (which rounds half to even).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from ingenium.accounting import SCALE
from ingenium.events import Side

ZERO = Fraction(0)


def at_scale(value: Fraction) -> Fraction:
    """``value`` rounded half-even to ``SCALE`` decimal places."""
    return round(value, SCALE)


@dataclass
class ReferencePosition:
    """One symbol's position: signed quantity, cost basis (≥ 0), realized PnL and commissions."""

    quantity: Fraction = ZERO
    cost: Fraction = ZERO
    realized: Fraction = ZERO
    commissions: Fraction = ZERO

    @property
    def average_price(self) -> Fraction:
        return at_scale(self.cost / abs(self.quantity)) if self.quantity else ZERO


@dataclass
class ReferenceBook:
    """Positions per symbol, cash, and the per-fill PnL and notionals the invariants are stated in."""

    cash: Fraction
    positions: dict[str, ReferencePosition] = field(default_factory=dict)
    bought: dict[str, Fraction] = field(default_factory=dict)  # notional of every buy, per symbol
    sold: dict[str, Fraction] = field(default_factory=dict)
    fill_pnl: list[Fraction] = field(default_factory=list)

    def apply(self, symbol: str, side: Side, quantity: Decimal, price: Decimal, commission: Decimal) -> Fraction:
        """Apply one fill; returns the PnL it realized."""
        q, p, c = Fraction(quantity), Fraction(price), Fraction(commission)
        held = self.positions.setdefault(symbol, ReferencePosition())
        signed = q if side is Side.BUY else -q
        if held.quantity == 0 or (held.quantity > 0) == (signed > 0):
            held.cost += q * p
            realized = ZERO
        else:
            size = abs(held.quantity)
            if q < size:
                released = at_scale(held.cost * q / size)
                gain = q * p - released
                held.cost -= released
            else:
                gain = size * p - held.cost
                held.cost = (q - size) * p
            realized = at_scale(gain if held.quantity > 0 else -gain)
            held.realized += realized
        held.quantity += signed
        held.commissions += c
        self.cash -= signed * p + c
        notionals = self.bought if side is Side.BUY else self.sold
        notionals[symbol] = notionals.get(symbol, ZERO) + q * p
        self.fill_pnl.append(realized)
        return realized
