"""Average-cost accounting, the one money core: fills → position, average price, realized PnL, commissions, cash.

Every book that keeps money calls these functions and keeps no arithmetic of its own: the ledger's projection
(``ledger/projection.py``), the portfolio's book (``services/portfolio/book.py``) and the backtest's account
(``ingenium/backtest/account.py``). The same fills in the same order therefore give the same figures in all three,
digit for digit. Nothing here does I/O or allocates a decimal context per call.

The rules:

* **One context.** All arithmetic runs in ``DECIMALS``: 34 significant digits (decimal128), ``ROUND_HALF_EVEN``.
  Sums and products of wire values (quantity × price, commissions, cash) fit in it and are exact.
* **A position is a signed quantity and a cost basis**, what the open quantity cost (≥ 0, for shorts too), not an
  average price: nothing rounded is carried from fill to fill. A fill that grows the position (or opens it) adds
  its notional to the cost basis. One that shrinks it releases ``cost_basis × closed / |quantity|`` of the cost
  basis and realizes ``closed × price − released`` (the opposite for a short). One that closes the position
  releases exactly the cost basis left; one that crosses zero closes the old side so and opens the rest at the
  fill's price.
* **Fixed scale.** Results that need a division, and only those, are rounded half-even to ``SCALE`` (10) decimal
  places, once, where they are computed: the released share of a cost basis, a fill's realized PnL, and an
  average price (``cost_basis / |quantity|``, or an order's notional / quantity), which is derived on reading
  and never stored as state. A value with no more than ``SCALE`` places is returned as it is (no zeros added).
  Money up to 10^24 can be rounded to the scale; beyond, ``to_scale`` raises ``ArithmeticError``.
* **Exact round trips.** As closing releases the whole remaining cost, the PnL a position realizes from flat to
  flat is exactly its sold notional minus its bought notional whenever each fill's quantity × price has at most
  ``SCALE`` decimal places (prices to 4 places and quantities to 6, say): the rounding of the released shares
  cancels out. Then too, at every moment, ``cash + signed cost basis = starting cash + realized PnL −
  commissions`` (the signed cost basis is negative for a short).
* **Commissions** are summed exactly and kept apart: realized PnL is before commissions; cash pays them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from ingenium.events import Side

#: The decimal context of every money computation (the ledger's, the portfolio's and the backtest's).
DECIMALS = Context(prec=34, rounding=ROUND_HALF_EVEN)
#: Decimal places of average prices and realized PnL.
SCALE = 10
#: ``10 ** -SCALE``, the unit of the scale.
QUANTUM = Decimal(1).scaleb(-SCALE)
ZERO = Decimal(0)

# Bound methods of the one context (no context built per call), and the member compared on every fill (an enum
# attribute lookup costs more than a decimal addition).
_add, _sub, _mul, _div, _neg = DECIMALS.add, DECIMALS.subtract, DECIMALS.multiply, DECIMALS.divide, DECIMALS.minus
_quantize = DECIMALS.quantize
_BUY = Side.BUY


def to_scale(value: Decimal) -> Decimal:
    """Round ``value`` half-even to ``SCALE`` decimal places; a value with no more places is returned unchanged."""
    try:
        rounded = _quantize(value, QUANTUM)
    except InvalidOperation:
        raise ArithmeticError(
            f"{value} is too large to keep to {SCALE} decimal places in {DECIMALS.prec} digits"
        ) from None
    return value if rounded == value else rounded


def average_price(total: Decimal, quantity: Decimal) -> Decimal:
    """``total / quantity`` at ``SCALE``: a position's average price, an order's volume-weighted average price."""
    return to_scale(_div(total, quantity))


@dataclass(slots=True)
class Position:
    """An average-cost position in one instrument, changed only by ``apply_fill``.

    Attributes:
        quantity: Net quantity held: positive long, negative short, 0 flat.
        cost_basis: What the open quantity cost (≥ 0, for shorts too); 0 when flat.
        realized_pnl: PnL realized so far, before commissions (a sum of values at ``SCALE``).
        commissions: Commissions paid on its fills.

    """

    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    commissions: Decimal = ZERO

    @property
    def average_price(self) -> Decimal:
        """Cost basis per unit held, at ``SCALE``; 0 when flat."""
        quantity = self.quantity
        if not quantity:
            return ZERO
        return average_price(self.cost_basis, quantity if quantity > 0 else _neg(quantity))


def apply_fill(
    position: Position, side: Side, quantity: Decimal, price: Decimal, commission: Decimal = ZERO
) -> Decimal:
    """Move ``position`` by one fill of ``quantity`` (> 0) at ``price``; return the PnL it realized.

    The PnL is 0 for a fill that grew the position, otherwise what the closed part gained at ``SCALE``, before
    commission. ``position`` is changed in place (the books keep their rows and hand them out).
    """
    held = position.quantity
    buy = side is _BUY
    if not held or (held > 0) is buy:
        position.cost_basis = _add(position.cost_basis, _mul(quantity, price))
        realized = ZERO
    else:
        size = held if held > 0 else _neg(held)
        if quantity < size:
            released = to_scale(_div(_mul(position.cost_basis, quantity), size))
            gain = _sub(_mul(quantity, price), released)
            position.cost_basis = _sub(position.cost_basis, released)
        else:
            # Closing releases all that is left, so the rounding of earlier releases cancels out; any rest of
            # the fill opens the other side at its price.
            gain = _sub(_mul(size, price), position.cost_basis)
            position.cost_basis = _mul(_sub(quantity, size), price)
        realized = to_scale(gain if held > 0 else _neg(gain))
        position.realized_pnl = _add(position.realized_pnl, realized)
    position.quantity = _add(held, quantity) if buy else _sub(held, quantity)
    if commission:
        position.commissions = _add(position.commissions, commission)
    return realized


def cash_after(balance: Decimal, side: Side, quantity: Decimal, price: Decimal, commission: Decimal = ZERO) -> Decimal:
    """The cash ``balance`` after a fill: a buy pays its notional, a sell receives it, and both pay the commission."""
    notional = _mul(quantity, price)
    balance = _sub(balance, notional) if side is _BUY else _add(balance, notional)
    return _sub(balance, commission) if commission else balance
