"""The ledger's decimal arithmetic: one context for every computation, one canonical form for every stored value.

Computations run in ``DECIMALS`` (34 significant digits, banker's rounding), whose results depend on the values
alone, not on how a ``Decimal`` happens to be written (``1.0E+5`` read back from PostgreSQL, ``100000`` kept in
memory). Values are put in ``canonical`` form when written, and average prices rounded to ``PRICE_PLACES``, so a
rebuild writes the tables byte for byte as the live projection did.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

#: The decimal context of every ledger computation.
DECIMALS = Context(prec=34, rounding=ROUND_HALF_EVEN)
#: Average prices (of orders and positions) are kept to 12 decimal places.
PRICE_PLACES = Decimal("1e-12")
ZERO = Decimal(0)
_ONE = Decimal(1)


def canonical(value: Decimal) -> Decimal:
    """Return ``value`` in the one form its value gives: no trailing zeros, no exponent for whole numbers."""
    if not value:
        return ZERO
    whole = value.to_integral_value(context=DECIMALS)
    if value == whole and whole.adjusted() < DECIMALS.prec:
        return whole.quantize(_ONE, context=DECIMALS)
    return value.normalize(DECIMALS)


def average(total: Decimal, quantity: Decimal) -> Decimal:
    """``total / quantity`` rounded to ``PRICE_PLACES``, in canonical form."""
    return canonical(DECIMALS.divide(total, quantity).quantize(PRICE_PLACES, context=DECIMALS))
