"""The Alpaca adapter of the venue port (``ingenium.venue.Venue``), on the official SDK ``alpaca-py``.

Configured by Alpaca's own variables: ``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``, ``APCA_API_BASE_URL``
(default the paper endpoint; the trade-update stream is ``<base>/stream`` on the same host) and
``APCA_API_DATA_URL`` (market data). The SDK does not read ``APCA_API_BASE_URL`` itself, so it is passed as
``url_override``.

Where the SDK is not used as-is, and why:

* The SDK's request and response models hold prices and quantities as ``float``; Ingenium keeps money in
  ``Decimal`` from wire to database. The clients run with ``raw_data=True`` and this module parses Alpaca's
  documented JSON (decimal strings) itself; orders are posted as the documented JSON body through the SDK's
  own REST client (``TradingClient.post``), with decimal strings.
* ``TradingClient`` has no method for account activities; FILL activities are read with its generic ``get``.
* ``TradingClient`` retries a 429 three times with a fixed 3 s sleep and exposes no setting for it; its retry
  is turned off and this module retries 429s, 5xx and connection errors with exponential backoff instead.
* ``TradingStream`` reconnects by itself and tells nobody; ``_Stream`` hooks its connection step so the
  executor can reconcile after every reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingenium.errors import ConfigurationError
from ingenium.events import OrderEvent, Side
from ingenium.venue import (
    ConnectHandler,
    DuplicateClientOrder,
    OrderRefused,
    TransientVenueError,
    UpdateHandler,
    VenueFill,
    VenueOrder,
    VenuePosition,
    VenueStatus,
    VenueUpdate,
)

log = logging.getLogger("ingenium.venue.alpaca")

PAPER_URL = "https://paper-api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
_STATUS = {
    "filled": VenueStatus.FILLED, "canceled": VenueStatus.CANCELED, "expired": VenueStatus.EXPIRED,
    "rejected": VenueStatus.REJECTED, "replaced": VenueStatus.REPLACED,
}
#: Trade-update events that carry nothing an executor reports (the order's state is unchanged for us).
_QUIET = {"pending_new", "pending_cancel", "pending_replace", "done_for_day", "calculated", "restated",
          "order_cancel_rejected", "order_replace_rejected", "suspended", "stopped"}


class AlpacaSettings(BaseSettings):
    """Alpaca's environment variables, under Alpaca's own names."""

    model_config = SettingsConfigDict(env_prefix="APCA_API_", extra="ignore", frozen=True)

    key_id: str = Field(default="", description="APCA_API_KEY_ID")
    secret_key: str = Field(default="", description="APCA_API_SECRET_KEY")
    base_url: str = Field(default=PAPER_URL, description="APCA_API_BASE_URL; the stream is <base>/stream")
    data_url: str = Field(default=DATA_URL, description="APCA_API_DATA_URL")

    def require_keys(self) -> None:
        """Fail with a one-line message when the keys are missing."""
        if not self.key_id or not self.secret_key:
            raise ConfigurationError(
                "Alpaca keys missing: set APCA_API_KEY_ID and APCA_API_SECRET_KEY (paper keys for the paper endpoint)"
            )

    @property
    def stream_url(self) -> str:
        """The trade-update websocket: ``wss://<host>/stream`` (``ws://`` for a plain-HTTP base)."""
        parts = urlsplit(self.base_url.rstrip("/"))
        scheme = "ws" if parts.scheme == "http" else "wss"
        return urlunsplit((scheme, parts.netloc, f"{parts.path}/stream", "", ""))

    @property
    def paper(self) -> bool:
        """Whether the base URL is not Alpaca's live endpoint."""
        return "://api.alpaca.markets" not in self.base_url


def to_decimal(value: Any) -> Decimal | None:
    """A decimal from Alpaca's JSON (a decimal string, or a number); ``None`` for null or ``""``."""
    if value is None or value == "":
        return None
    # JSON numbers (if a venue sends them) arrive as floats: their shortest repr is the decimal that was sent.
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _time(value: Any) -> datetime:
    if not value:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_order(raw: dict[str, Any], reason: str | None = None) -> VenueOrder:
    """A ``VenueOrder`` from Alpaca's order JSON."""
    status = _STATUS.get(str(raw.get("status")), VenueStatus.OPEN)
    return VenueOrder(
        client_order_id=str(raw["client_order_id"]),
        venue_order_id=str(raw["id"]),
        symbol=str(raw.get("symbol") or ""),
        side=Side(raw.get("side") or "buy"),
        quantity=to_decimal(raw.get("qty")) or Decimal(0),
        filled_quantity=to_decimal(raw.get("filled_qty")) or Decimal(0),
        avg_price=to_decimal(raw.get("filled_avg_price")),
        status=status,
        updated_at=_time(raw.get("updated_at")),
        reason=reason,
    )


def parse_update(message: dict[str, Any]) -> VenueUpdate | None:
    """A ``VenueUpdate`` from one ``trade_updates`` message; ``None`` for events an executor does not report."""
    data = message.get("data") or {}
    event = str(data.get("event"))
    if event in _QUIET:
        return None
    reason = data.get("reason") or (f"{event} by Alpaca" if event in ("rejected", "expired", "canceled") else None)
    order = parse_order(data["order"], reason)
    if event not in ("fill", "partial_fill"):
        return VenueUpdate(order)
    fill = VenueFill(
        client_order_id=order.client_order_id, venue_order_id=order.venue_order_id, symbol=order.symbol,
        side=order.side, quantity=to_decimal(data.get("qty")) or Decimal(0),
        price=to_decimal(data.get("price")) or Decimal(0),
        cum_quantity=order.filled_quantity, leaves_quantity=max(order.quantity - order.filled_quantity, Decimal(0)),
        executed_at=_time(data.get("timestamp")), avg_price=order.avg_price,
    )
    return VenueUpdate(order, fill)


def order_body(order: OrderEvent) -> dict[str, Any]:
    """Alpaca's ``POST /v2/orders`` body for an order, with decimal strings and ``client_order_id`` = its Id."""
    if len(order.id) > 128:
        raise OrderRefused(f"order id {order.id[:20]}… is longer than Alpaca's 128-character client_order_id")
    body: dict[str, Any] = {
        "symbol": order.symbol.upper(), "qty": f"{order.quantity:f}", "side": order.side.value,
        "type": order.type.value, "time_in_force": order.time_in_force.value,
        "client_order_id": order.id, "extended_hours": order.extended_hours,
    }
    prices = {"limit_price": order.limit_price, "stop_price": order.stop_price, "trail_price": order.trail_price,
              "trail_percent": order.trail_percent}
    for key, value in prices.items():
        if value is not None:
            body[key] = f"{value:f}"
    legs = order.stop_loss
    # OrderEvent has already refused a bracket without both legs or around a stop entry.
    if order.take_profit is not None and legs.stop_price is not None:
        body["order_class"] = "bracket"
        body["take_profit"] = {"limit_price": f"{order.take_profit:f}"}
        body["stop_loss"] = {"stop_price": f"{legs.stop_price:f}"}
        if legs.limit_price is not None:
            body["stop_loss"]["limit_price"] = f"{legs.limit_price:f}"
    return body


class _Stream(TradingStream):
    """``TradingStream`` that says when a (re)connection is listening, so the executor can reconcile."""

    def __init__(self, on_connect: ConnectHandler, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_connect = on_connect
        self._reconnect_min_backoff = 0.2  # the SDK's 1 s first delay is the longest gap in a fill history

    async def _start_ws(self) -> None:
        await super()._start_ws()  # type: ignore[no-untyped-call]
        await self._on_connect()


class AlpacaVenue:
    """``Venue`` for Alpaca's trading API (paper or live), through ``alpaca-py``."""

    name = "alpaca"

    def __init__(self, settings: AlpacaSettings | None = None, *, attempts: int = 8, backoff: float = 0.2,
                 max_backoff: float = 10.0) -> None:
        self.settings = settings or AlpacaSettings()
        self.settings.require_keys()
        s = self.settings
        self.client = TradingClient(s.key_id, s.secret_key, paper=s.paper, raw_data=True,
                                    url_override=s.base_url.rstrip("/"))
        self.client._retry = 0  # this adapter retries, with backoff (see the module docstring)
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self._clients: dict[str, str] = {}  # venue order id → client order id
        self._stream: _Stream | None = None

    # ----------------------------------------------------------------- REST with retries
    async def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        delay = self.backoff
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                return await asyncio.to_thread(fn, *args)
            except APIError as exc:
                status = exc.status_code or 0
                if status != 429 and status < 500:
                    raise _refusal(exc) from None
                last = f"HTTP {status} {api_message(exc)}"
            except requests.RequestException as exc:
                last = repr(exc)
            log.warning("alpaca: %s failed (attempt %d of %d: %s); retrying in %.1fs",
                        what, attempt, self.attempts, last, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise TransientVenueError(f"alpaca: {what} failed {self.attempts} times, last: {last}")

    async def place(self, order: OrderEvent) -> VenueOrder:
        """Place the order; ``DuplicateClientOrder`` when Alpaca says its client order id was used."""
        raw = await self._call(f"placing order {order.id}", self.client.post, "/orders", order_body(order))
        placed = parse_order(raw)
        self._clients[placed.venue_order_id] = placed.client_order_id
        return placed

    async def cancel(self, client_order_id: str) -> None:
        """Cancel by client order id; ``OrderRefused`` when unknown or already final."""
        found = await self.order(client_order_id)
        if found is None:
            raise OrderRefused(f"no order with client order id {client_order_id} at Alpaca")
        await self._call(f"canceling order {client_order_id}", self.client.cancel_order_by_id, found.venue_order_id)

    async def order(self, client_order_id: str) -> VenueOrder | None:
        """Look an order up by client order id."""
        try:
            raw = await self._call(f"looking up order {client_order_id}", self.client.get,
                                   "/orders:by_client_order_id", {"client_order_id": client_order_id})
        except OrderRefused as exc:
            if "not found" in exc.reason.lower():
                return None
            raise
        found = parse_order(raw)
        self._clients[found.venue_order_id] = found.client_order_id
        return found

    async def orders_since(self, since: datetime) -> list[VenueOrder]:
        """Open orders and every order updated after ``since`` (``status=all``, oldest first, paged)."""
        out: dict[str, VenueOrder] = {}
        after = since
        while True:
            params = {"status": "all", "after": _iso(after), "direction": "asc", "limit": 500, "nested": "false"}
            page = await self._call("listing orders", self.client.get, "/orders", params)
            for raw in page:
                found = parse_order(raw)
                out[found.venue_order_id] = found
                self._clients[found.venue_order_id] = found.client_order_id
            if len(page) < 500:
                break
            after = _time(page[-1]["created_at"])
        for raw in await self._call("listing open orders", self.client.get, "/orders", {"status": "open",
                                                                                       "limit": 500}):
            found = parse_order(raw)
            out.setdefault(found.venue_order_id, found)
        return list(out.values())

    async def fills_since(self, since: datetime) -> list[VenueFill]:
        """FILL activities after ``since``, oldest first, following ``page_token``."""
        fills: list[VenueFill] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"after": _iso(since), "direction": "asc", "page_size": 100}
            if token:
                params["page_token"] = token
            page = await self._call("reading fills", self.client.get, "/account/activities/FILL", params)
            for raw in page:
                venue_id = str(raw["order_id"])
                client_id = self._clients.get(venue_id)
                if client_id is None:
                    found = await self._call("looking up an order", self.client.get_order_by_id, venue_id)
                    client_id = self._clients[venue_id] = str(found["client_order_id"])
                fills.append(VenueFill(
                    client_order_id=client_id, venue_order_id=venue_id, symbol=str(raw["symbol"]),
                    side=Side(raw["side"]), quantity=to_decimal(raw["qty"]) or Decimal(0),
                    price=to_decimal(raw["price"]) or Decimal(0), cum_quantity=to_decimal(raw["cum_qty"]) or Decimal(0),
                    leaves_quantity=to_decimal(raw["leaves_qty"]) or Decimal(0),
                    executed_at=_time(raw["transaction_time"]),
                ))
            if len(page) < 100:
                return fills
            token = str(page[-1]["id"])

    async def positions(self) -> list[VenuePosition]:
        """Open positions, signed (short positions negative)."""
        raw = await self._call("reading positions", self.client.get, "/positions")
        out = []
        for p in raw:
            quantity = to_decimal(p["qty"]) or Decimal(0)
            # Alpaca reports a short's qty as negative already; some responses give it positive with side=short.
            if p.get("side") == "short" and quantity > 0:
                quantity = -quantity
            out.append(VenuePosition(str(p["symbol"]), quantity))
        return out

    # ----------------------------------------------------------------- the trade-update stream
    async def stream(self, on_update: UpdateHandler, on_connect: ConnectHandler) -> None:
        """Run the SDK's trade-update stream until cancelled, reconnecting as the SDK does."""
        s = self.settings

        async def handle(message: dict[str, Any]) -> None:
            update = parse_update(message)
            if update is not None:
                self._clients[update.order.venue_order_id] = update.order.client_order_id
                await on_update(update)

        stream = _Stream(on_connect, api_key=s.key_id, secret_key=s.secret_key, paper=s.paper, raw_data=True,
                         url_override=s.stream_url)
        stream.subscribe_trade_updates(handle)
        self._stream = stream
        try:
            await stream._run_forever()  # type: ignore[no-untyped-call]
        finally:
            await stream.stop_ws()
            await stream.close()

    async def close(self) -> None:
        """Close the REST session (the stream closes when its task is cancelled)."""
        self.client._session.close()


def api_message(exc: APIError) -> str:
    """The ``message`` of an Alpaca error body (the body itself, cut short, when it is not one)."""
    try:
        return str(json.loads(str(exc))["message"])
    except (ValueError, KeyError, TypeError):
        return str(exc)[:200]


def _refusal(exc: APIError) -> OrderRefused | DuplicateClientOrder:
    message = api_message(exc)
    if "client_order_id" in message and "unique" in message:
        return DuplicateClientOrder(message)
    return OrderRefused(f"{message} (HTTP {exc.status_code})")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
