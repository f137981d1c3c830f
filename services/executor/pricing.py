"""How the paper executor prices a fill: slippage, limit caps, commission, rounding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from ingenium.events import Side

_BPS = Decimal(10_000)
_AVG_DIGITS = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Pricing:
    """Slippage and commission terms, and the increments prices and quantities are rounded to.

    Args:
        slippage_bps: Adverse move applied to every fill, in basis points of the reference price.
        commission_per_share: Commission per unit filled.
        commission_bps: Commission in basis points of the fill's notional (added to the per-share part).
        price_increment: Tick fill prices are rounded to (away from the trader: buys up, sells down).
        commission_increment: Commissions are rounded up to this.

    """

    slippage_bps: Decimal = Decimal(0)
    commission_per_share: Decimal = Decimal(0)
    commission_bps: Decimal = Decimal(0)
    price_increment: Decimal = Decimal("0.0001")
    commission_increment: Decimal = Decimal("0.0001")

    def fill_price(self, side: Side, reference: Decimal, limit: Decimal | None = None) -> Decimal:
        """The price a fill gets: ``reference`` moved against the trader by the slippage, never past ``limit``."""
        if self.slippage_bps:
            move = reference * self.slippage_bps / _BPS
            reference = reference + move if side is Side.BUY else reference - move
        rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
        price = reference.quantize(self.price_increment, rounding=rounding)
        if limit is not None:
            price = min(price, limit) if side is Side.BUY else max(price, limit)
        return price if price > 0 else self.price_increment

    def commission(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Commission of one fill, rounded up to ``commission_increment``."""
        amount = quantity * self.commission_per_share + quantity * price * self.commission_bps / _BPS
        return amount.quantize(self.commission_increment, rounding=ROUND_CEILING)


def average(notional: Decimal, quantity: Decimal) -> Decimal:
    """Volume-weighted average price, to eight decimals."""
    return (notional / quantity).quantize(_AVG_DIGITS, rounding=ROUND_HALF_EVEN)


def crosses(side: Side, limit: Decimal, low: Decimal, high: Decimal) -> bool:
    """Whether a bar that traded between ``low`` and ``high`` reached a limit order's price."""
    return low <= limit if side is Side.BUY else high >= limit
