"""The ledger's stored form of decimals: one canonical form for every value written.

Computations run in ``ingenium.accounting`` (its one context, ``DECIMALS``, and its fixed ``SCALE`` for average
prices and PnL), whose results depend on the values alone, not on how a ``Decimal`` happens to be written
(``1.0E+5`` read back from PostgreSQL, ``100000`` kept in memory). Values are put in ``canonical`` form when
written, so a rebuild writes the tables byte for byte as the live projection did.
"""

from __future__ import annotations

from decimal import Decimal

from ingenium.accounting import DECIMALS, ZERO, average_price

__all__ = ["DECIMALS", "ZERO", "average", "canonical"]

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
    """``total / quantity`` at ``ingenium.accounting.SCALE``, in canonical form."""
    return canonical(average_price(total, quantity))
