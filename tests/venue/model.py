"""The state of the local fake Alpaca venue: orders, fills, positions, in Alpaca's documented JSON shapes.

It lives in the test process, so an executor killed and restarted finds the venue as it left it. Tests drive
it directly (``fill``, ``expire_day_orders`` …); the server in ``server.py`` exposes it over HTTP and a
websocket exactly as Alpaca's trading API does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

FINAL = {"filled", "canceled", "expired", "rejected", "replaced"}


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"


@dataclass
class FakeOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    type: str
    time_in_force: str
    order_class: str
    extended_hours: bool
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    created_at: datetime
    updated_at: datetime
    status: str = "new"
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    failed_at: datetime | None = None
    legs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def avg_price(self) -> Decimal | None:
        return (self.filled_notional / self.filled_qty).quantize(Decimal("0.0001")) if self.filled_qty else None

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.filled_qty

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "client_order_id": self.client_order_id,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "submitted_at": iso(self.created_at), "filled_at": iso(self.filled_at),
            "expired_at": iso(self.expired_at), "canceled_at": iso(self.canceled_at),
            "failed_at": iso(self.failed_at), "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.symbol)), "symbol": self.symbol,
            "asset_class": "us_equity", "notional": None, "qty": text(self.qty),
            "filled_qty": text(self.filled_qty), "filled_avg_price": text(self.avg_price),
            "order_class": self.order_class, "order_type": self.type, "type": self.type, "side": self.side,
            "time_in_force": self.time_in_force, "limit_price": text(self.limit_price),
            "stop_price": text(self.stop_price), "status": self.status, "extended_hours": self.extended_hours,
            "legs": self.legs or None, "trail_percent": text(self.trail_percent),
            "trail_price": text(self.trail_price), "hwm": None,
        }


@dataclass
class FakeFill:
    id: str
    order: FakeOrder
    qty: Decimal
    price: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    at: datetime
    final: bool

    def activity(self) -> dict[str, Any]:
        return {
            "id": self.id, "activity_type": "FILL", "transaction_time": iso(self.at),
            "type": "fill" if self.final else "partial_fill", "price": text(self.price), "qty": text(self.qty),
            "side": self.order.side, "symbol": self.order.symbol, "leaves_qty": text(self.leaves_qty),
            "order_id": self.order.id, "cum_qty": text(self.cum_qty), "order_status": self.order.status,
        }


class ApiFailure(Exception):
    """An Alpaca error response: HTTP status, Alpaca's error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


Listener = Callable[[dict[str, Any]], None]


class VenueState:
    """Orders by client order id, fills in time order, and the trade-update listeners (open websockets)."""

    def __init__(self) -> None:
        self.orders: dict[str, FakeOrder] = {}
        self.by_id: dict[str, FakeOrder] = {}
        self.fills: list[FakeFill] = []
        self.listeners: list[Listener] = []
        self.placements = 0  # POST /v2/orders calls, duplicates and rejects included
        self.duplicates = 0  # placements refused for a reused client order id
        self.refuse: dict[str, str] = {}  # symbol → reason a new order for it is refused (HTTP 403)
        self.reject_after_accept: dict[str, str] = {}  # symbol → reason the venue rejects it after accepting
        self.on_placed: Callable[[FakeOrder], None] | None = None  # after storing, before answering
        self.cancel_requests = 0  # DELETE /v2/orders/{id} calls, refused ones included
        self.slow_cancels = False  # accept a cancel as pending_cancel, leaving the order fillable until cancel_now
        self.on_canceled: Callable[[FakeOrder], None] | None = None  # after canceling, before answering

    # ----------------------------------------------------------------- REST-side operations
    def place(self, body: dict[str, Any]) -> FakeOrder:
        self.placements += 1
        client_id = body.get("client_order_id") or str(uuid.uuid4())
        if client_id in self.orders:
            self.duplicates += 1
            raise ApiFailure(422, 40010001, "client_order_id must be unique")
        symbol = str(body["symbol"]).upper()
        if symbol in self.refuse:
            raise ApiFailure(403, 40310000, self.refuse[symbol])
        kind = body.get("type", "market")
        if kind in ("limit", "stop_limit") and body.get("limit_price") is None:
            raise ApiFailure(422, 40010001, "limit_price is required")
        moment = now()
        order = FakeOrder(
            id=str(uuid.uuid4()), client_order_id=client_id, symbol=symbol, side=body["side"],
            qty=Decimal(str(body["qty"])), type=kind, time_in_force=body.get("time_in_force", "day"),
            order_class=body.get("order_class") or "simple", extended_hours=bool(body.get("extended_hours")),
            limit_price=_dec(body.get("limit_price")), stop_price=_dec(body.get("stop_price")),
            trail_price=_dec(body.get("trail_price")), trail_percent=_dec(body.get("trail_percent")),
            created_at=moment, updated_at=moment,
        )
        if order.order_class == "bracket":
            order.legs = [{"kind": "take_profit", **(body.get("take_profit") or {})},
                          {"kind": "stop_loss", **(body.get("stop_loss") or {})}]
        self.orders[client_id] = order
        self.by_id[order.id] = order
        self._emit("new", order)
        if symbol in self.reject_after_accept:
            order.status, order.failed_at = "rejected", now()
            self._emit("rejected", order)
        if self.on_placed is not None:
            self.on_placed(order)
        return order

    def cancel(self, order_id: str) -> None:
        """Alpaca's ``DELETE /v2/orders/{id}``: 204, or 422 once the order is no longer cancelable (final)."""
        self.cancel_requests += 1
        order = self.by_id.get(order_id)
        if order is None:
            raise ApiFailure(404, 40410000, "order not found")
        if order.status in FINAL:
            raise ApiFailure(422, 42210000, f'order is already in "{order.status}" state')
        if self.slow_cancels:
            order.status, order.updated_at = "pending_cancel", now()
            self._emit("pending_cancel", order)
            return
        order.status, order.canceled_at, order.updated_at = "canceled", now(), now()
        self._emit("canceled", order)
        if self.on_canceled is not None:
            self.on_canceled(order)

    def positions(self) -> list[dict[str, Any]]:
        held: dict[str, tuple[Decimal, Decimal]] = {}
        for fill in self.fills:
            qty, cost = held.get(fill.order.symbol, (Decimal(0), Decimal(0)))
            sign = 1 if fill.order.side == "buy" else -1
            held[fill.order.symbol] = (qty + sign * fill.qty, cost + sign * fill.qty * fill.price)
        out = []
        for symbol, (qty, cost) in sorted(held.items()):
            if qty == 0:
                continue
            out.append({
                "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)), "symbol": symbol, "exchange": "NASDAQ",
                "asset_class": "us_equity", "asset_marginable": True,
                "avg_entry_price": text((cost / qty).quantize(Decimal("0.0001"))), "qty": text(abs(qty)),
                "side": "long" if qty > 0 else "short", "cost_basis": text(abs(cost)),
                "qty_available": text(abs(qty)),
            })
        return out

    # ----------------------------------------------------------------- what tests do to the venue
    def fill(self, client_order_id: str, qty: Decimal | str | int, price: Decimal | str | int) -> FakeFill:
        """Fill part (or the rest) of an open order, as the market would."""
        order = self.orders[client_order_id]
        if order.status in FINAL:
            raise AssertionError(f"order {client_order_id} is {order.status}")
        quantity = min(Decimal(qty), order.leaves)
        moment = now()
        order.filled_qty += quantity
        order.filled_notional += quantity * Decimal(price)
        order.updated_at = moment
        final = order.leaves == 0
        order.status = "filled" if final else "partially_filled"
        if final:
            order.filled_at = moment
        stamp = moment.strftime("%Y%m%d%H%M%S%f")[:17]
        record = FakeFill(f"{stamp}::{uuid.uuid4()}", order, quantity, Decimal(price), order.filled_qty,
                          order.leaves, moment, final)
        self.fills.append(record)
        self._emit("fill" if final else "partial_fill", order, record)
        return record

    def expire_day_orders(self) -> list[FakeOrder]:
        """The session ends: open DAY orders expire, keeping what they filled."""
        expired = []
        for order in self.orders.values():
            if order.status not in FINAL and order.time_in_force == "day":
                order.status, order.expired_at, order.updated_at = "expired", now(), now()
                self._emit("expired", order)
                expired.append(order)
        return expired

    def open_orders(self) -> list[FakeOrder]:
        return [o for o in self.orders.values() if o.status not in FINAL]

    # ----------------------------------------------------------------- the trade-update stream
    def _emit(self, event: str, order: FakeOrder, fill: FakeFill | None = None) -> None:
        data: dict[str, Any] = {"event": event, "order": order.to_json(), "timestamp": iso(fill.at if fill else now())}
        if fill is not None:
            data.update(execution_id=str(uuid.uuid4()), price=text(fill.price), qty=text(fill.qty),
                        position_qty=text(self._position(order.symbol)))
        message = {"stream": "trade_updates", "data": data}
        for listener in list(self.listeners):
            listener(message)

    def _position(self, symbol: str) -> Decimal:
        return sum((f.qty if f.order.side == "buy" else -f.qty for f in self.fills if f.order.symbol == symbol),
                   Decimal(0))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
