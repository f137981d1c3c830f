"""A local fake of Alpaca on a real socket: trading REST under ``/v2``, the trade-update websocket, market data.

Market data (``/v2/stocks/bars`` and the data stream ``/v2/iex``) lives in ``marketdata.py``; ``market`` is it.

Point the SDK at it with ``APCA_API_BASE_URL=http://127.0.0.1:<port>`` (the stream is ``ws://…/stream``).
It speaks the documented protocol: key headers on REST, ``authenticate`` then ``listen`` on the websocket,
Alpaca's error bodies (``{"code": 40010001, "message": …}``), FILL activities paged by ``page_token``.
Faults tests switch on: ``throttle(n)`` (429s), ``stream_down()`` / ``stream_up()`` (dropped and refused
stream connections), ``fail(n)`` (5xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.venue.marketdata import MarketData
from tests.venue.model import ApiFailure, VenueState

KEY, SECRET = "test-key", "test-secret"


class FakeAlpaca:
    """The server around a ``VenueState``; ``url`` is what ``APCA_API_BASE_URL`` should be."""

    def __init__(self, state: VenueState | None = None) -> None:
        self.state = state or VenueState()
        self.market = MarketData(KEY, SECRET)
        self.url = ""
        self.throttled = 0
        self.failing = 0
        self.requests = 0
        self.rate_limited = 0
        self.stream_refused = False
        self.connections = 0  # websocket sessions that authenticated and listened
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    # ----------------------------------------------------------------- faults
    def throttle(self, n: int) -> None:
        """The next ``n`` REST requests get HTTP 429."""
        self.throttled = n

    def fail(self, n: int) -> None:
        """The next ``n`` REST requests get HTTP 503."""
        self.failing = n

    async def stream_down(self) -> None:
        """Close every trade-update connection and refuse new ones until ``stream_up``."""
        self.stream_refused = True
        for ws in list(self._sockets):
            await ws.close()

    def stream_up(self) -> None:
        self.stream_refused = False

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes([
            web.get("/stream", self._stream),
            web.post("/v2/orders", self._post_order),
            web.get("/v2/orders", self._list_orders),
            web.get("/v2/orders:by_client_order_id", self._by_client_id),
            web.get("/v2/orders/{id}", self._get_order),
            web.delete("/v2/orders/{id}", self._cancel),
            web.get("/v2/positions", self._positions),
            web.get("/v2/account/activities/FILL", self._fills),
            web.get("/v2/account", self._account),
            *self.market.routes(),
        ])
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        await self.market.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    # ----------------------------------------------------------------- REST
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in ("/stream", "/v2/iex", "/v2/sip"):  # websockets authenticate in their protocol
            return await handler(request)  # type: ignore[no-any-return]
        self.requests += 1
        if request.headers.get("APCA-API-KEY-ID") != KEY or request.headers.get("APCA-API-SECRET-KEY") != SECRET:
            return _error(ApiFailure(401, 40110000, "request is not authorized"))
        if self.throttled > 0:
            self.throttled -= 1
            self.rate_limited += 1
            return _error(ApiFailure(429, 42910000, "rate limit exceeded"))
        if self.failing > 0:
            self.failing -= 1
            return _error(ApiFailure(503, 50010000, "service unavailable"))
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except ApiFailure as failure:
            return _error(failure)

    async def _post_order(self, request: web.Request) -> web.Response:
        order = self.state.place(await request.json())
        await asyncio.sleep(0)  # let a kill hook (on_placed) act before the answer leaves
        return web.json_response(order.to_json())

    async def _list_orders(self, request: web.Request) -> web.Response:
        q = request.query
        status = q.get("status", "open")
        after = _time(q.get("after"))
        orders = list(self.state.orders.values())
        if status == "open":
            orders = [o for o in orders if o.status not in ("filled", "canceled", "expired", "rejected", "replaced")]
        elif status == "closed":
            orders = [o for o in orders if o.status in ("filled", "canceled", "expired", "rejected", "replaced")]
        if after is not None:
            orders = [o for o in orders if o.created_at > after]  # Alpaca's `after` is submission time
        orders.sort(key=lambda o: o.created_at, reverse=q.get("direction", "desc") == "desc")
        return web.json_response([o.to_json() for o in orders[: int(q.get("limit", "50"))]])

    async def _by_client_id(self, request: web.Request) -> web.Response:
        order = self.state.orders.get(request.query.get("client_order_id", ""))
        if order is None:
            raise ApiFailure(404, 40410000, "order not found")
        return web.json_response(order.to_json())

    async def _get_order(self, request: web.Request) -> web.Response:
        order = self.state.by_id.get(request.match_info["id"])
        if order is None:
            raise ApiFailure(404, 40410000, "order not found")
        return web.json_response(order.to_json())

    async def _cancel(self, request: web.Request) -> web.Response:
        self.state.cancel(request.match_info["id"])
        return web.Response(status=204)

    async def _positions(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.positions())

    async def _fills(self, request: web.Request) -> web.Response:
        q = request.query
        after = _time(q.get("after"))
        fills = [f for f in self.state.fills if after is None or f.at > after]
        if q.get("direction", "desc") == "desc":
            fills.reverse()
        token = q.get("page_token")
        if token:
            ids = [f.id for f in fills]
            fills = fills[ids.index(token) + 1:] if token in ids else []
        size = min(int(q.get("page_size", "100")), 100)
        return web.json_response([f.activity() for f in fills[:size]])

    async def _account(self, request: web.Request) -> web.Response:
        return web.json_response({"id": "fake-account", "status": "ACTIVE", "currency": "USD"})

    # ----------------------------------------------------------------- the trade-update websocket
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if self.stream_refused:
            return web.Response(status=503, text="stream unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        listening = False
        try:
            async for message in _messages(ws):
                action, data = message.get("action"), message.get("data") or {}
                if action == "authenticate":
                    ok = data.get("key_id") == KEY and data.get("secret_key") == SECRET
                    await ws.send_json({"stream": "authorization",
                                        "data": {"status": "authorized" if ok else "unauthorized",
                                                 "action": "authenticate"}})
                    if not ok:
                        break
                elif action == "listen" and "trade_updates" in data.get("streams", []) and not listening:
                    listening = True
                    self.state.listeners.append(queue.put_nowait)
                    self.connections += 1
                    await ws.send_json({"stream": "listening", "data": {"streams": ["trade_updates"]}})
                    sender = asyncio.create_task(_send_all(ws, queue))
            if listening:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
        finally:
            if listening:
                self.state.listeners.remove(queue.put_nowait)
            self._sockets.discard(ws)
        return ws


async def _messages(ws: web.WebSocketResponse) -> AsyncIterator[dict[str, Any]]:
    async for msg in ws:
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            yield json.loads(msg.data)


async def _send_all(ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        message = await queue.get()
        if ws.closed:
            return
        # Alpaca's trading stream sends binary frames holding JSON.
        await ws.send_bytes(json.dumps(message).encode())


def _error(failure: ApiFailure) -> web.Response:
    return web.json_response({"code": failure.code, "message": failure.message}, status=failure.status)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
