"""The orders the paper executor will not trade, and why, decided before anything is filled."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingenium.events import Ohlc, OrderEvent, OrderType


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the paper executor does not trade an order; ``stale`` when the reason is the order's age."""

    reason: str
    stale: bool = False


def refuse(
    order: OrderEvent, now: datetime, max_age: timedelta, allowed: Collection[str] | None, bars: Mapping[str, Ohlc]
) -> Refusal | None:
    """Why ``order`` is not traded at ``now``, if it is not.

    Args:
        order: The new order.
        now: The executor's clock.
        max_age: Orders older than this are stale: not traded at today's price.
        allowed: The lower-case symbols the executor trades; ``None`` for any.
        bars: The latest bar by lower-case symbol: an order needs a price.

    """
    age = now - order.timestamp
    if age > max_age:
        return Refusal(f"stale order: it is {age.total_seconds():.0f}s old, beyond max_order_age {max_age}; "
                       "not traded at today's price", stale=True)
    key = order.symbol.lower()
    if allowed is not None and key not in allowed:
        return Refusal(f"unknown symbol {order.symbol}: this executor trades {', '.join(sorted(allowed))}")
    if order.type not in (OrderType.MARKET, OrderType.LIMIT):
        return Refusal(f"{order.type.value} orders are not simulated by the paper executor: send market or limit "
                       "orders, or use a venue executor")
    if order.is_bracket:
        return Refusal("bracket orders (TakeProfit/StopLoss) are not simulated by the paper executor: send the "
                       "entry alone, or use a venue executor")
    if key not in bars:
        return Refusal(f"no price yet for {order.symbol}: the executor has seen no bar for it")
    return None
