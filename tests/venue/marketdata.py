"""The fake Alpaca's market data: ``GET /v2/stocks/bars``, ``/v2/stocks/trades`` and the data stream ``/v2/iex``.

REST speaks Alpaca's bars and trades API (trades: the same, without ``timeframe``): ``symbols``, ``timeframe``,
``start``/``end`` (inclusive), ``limit``, ``sort``, ``page_token``/``next_page_token``, prices as JSON numbers,
``X-RateLimit-*`` headers (``limit`` requests per ``window_seconds``), 429s (with ``X-RateLimit-Reset``, Unix
seconds) beyond the limit or while ``throttle(n)`` lasts, and 422 for an invalid symbol.
The stream speaks msgpack as the SDK does: ``connected``, ``auth``, ``subscribe`` (``bars``, ``trades``,
``quotes``) and bar, trade and quote messages (``T`` ``b``, ``t``, ``q``; ``t`` a msgpack timestamp, prices
floats as Alpaca's msgpack has them).
``publish`` adds bars to the history and sends them to the subscribed streams; ``publish_trade`` adds one trade
to the history and sends it to the streams subscribed to its symbol's trades, ``publish_quote`` one quote to
those subscribed to its quotes (quotes have no history here); ``stream_down`` drops every connection and refuses
new ones (bars and trades published meanwhile reach only the history, quotes nobody), ``stream_up`` lets them in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

LIMIT = 200  # requests per window, as Alpaca's basic plan
TRADES = "trades"  # the history's key for trades, where bars have their timeframe


def _token(symbol: str, moment: str) -> str:
    return base64.urlsafe_b64encode(f"{symbol}|{moment}".encode()).decode()


class MarketData:
    """Bars per (symbol, timeframe) in Alpaca's JSON shape, and the open data-stream connections."""

    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret = key, secret
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[dict[str, str]] = []  # the query of every bars request, 429s included
        self.throttled = 0
        self.rate_limited = 0
        self.reset_after = 0.2  # seconds until a throttled window resets (rounded up to whole seconds, as Alpaca)
        self.limit = LIMIT  # requests per window; one more in the window gets a 429
        self.window_seconds = 60.0
        self._remaining = 0
        self._reset_at = 0
        self.refused = False
        self.connections = 0  # stream sessions that authenticated and subscribed
        self.on_request: Callable[[dict[str, str]], None] | None = None  # called with each bars query first
        #: Per open connection: the symbols subscribed per channel (bars, trades, quotes), and its send queue.
        self._streams: dict[web.WebSocketResponse, tuple[dict[str, set[str]], asyncio.Queue[bytes]]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v2/stocks/bars", self._bars), web.get("/v2/stocks/trades", self._trades),
                web.get("/v2/iex", self._stream), web.get("/v2/sip", self._stream)]

    # ----------------------------------------------------------------- what tests do
    def throttle(self, n: int) -> None:
        """The next ``n`` bars requests get HTTP 429."""
        self.throttled = n

    def publish(self, symbol: str, start: datetime, closes: list[str], *, timeframe: str = "1Min",
                live: bool = True) -> list[dict[str, Any]]:
        """Minute bars closing at ``closes`` from ``start``: into the history, and to the stream when ``live``."""
        bars = []
        for i, close in enumerate(closes):
            c = Decimal(close)
            o = c - Decimal("0.25")
            moment = start + timedelta(minutes=i)
            bars.append({"t": moment.isoformat().replace("+00:00", "Z"), "o": float(o), "h": float(c + 1),
                         "l": float(o - 1), "c": float(c), "v": 100 + i, "n": 3, "vw": float(c)})
        rows = self.history.setdefault((symbol, timeframe), [])
        rows.extend(bars)
        rows.sort(key=lambda b: b["t"])
        if live:
            for bar in bars:
                moment = datetime.fromisoformat(bar["t"].replace("Z", "+00:00"))
                self._send("bars", symbol, {"T": "b", "S": symbol, **bar, "t": msgpack.Timestamp.from_datetime(moment)})
        return bars

    def publish_trade(self, symbol: str, at: datetime, price: str, size: int, *, trade_id: int,
                      exchange: str = "V", conditions: tuple[str, ...] = ("@",)) -> int:
        """One trade into the history (``GET /v2/stocks/trades``), and, as Alpaca's stream sends it, to the
        connections subscribed to ``symbol``'s trades; returns how many connections it was sent to."""
        row = {"t": at.isoformat().replace("+00:00", "Z"), "x": exchange, "p": float(price), "s": size,
               "c": list(conditions), "i": trade_id, "z": "C"}
        rows = self.history.setdefault((symbol, TRADES), [])
        rows.append(row)
        rows.sort(key=lambda r: r["t"])
        return self._send("trades", symbol, {"T": "t", "S": symbol, **row, "t": msgpack.Timestamp.from_datetime(at)})

    def publish_quote(self, symbol: str, at: datetime, bid: str, bid_size: int, ask: str, ask_size: int) -> int:
        """One quote, as Alpaca's stream sends it, to the connections subscribed to ``symbol``'s quotes."""
        return self._send("quotes", symbol, {
            "T": "q", "S": symbol, "bx": "V", "bp": float(bid), "bs": bid_size, "ax": "Q", "ap": float(ask),
            "as": ask_size, "c": ["R"], "z": "C", "t": msgpack.Timestamp.from_datetime(at)})

    def _send(self, channel: str, symbol: str, message: dict[str, Any]) -> int:
        """Queue ``message`` for every connection subscribed to ``symbol`` on ``channel``; returns how many."""
        frame = msgpack.packb([message])
        sent = 0
        for channels, queue in self._streams.values():
            if symbol in channels.get(channel, ()):
                queue.put_nowait(frame)
                sent += 1
        return sent

    async def stream_down(self) -> None:
        """Drop every stream connection and refuse new ones until ``stream_up``."""
        self.refused = True
        for ws in list(self._streams):
            await ws.close()

    def stream_up(self) -> None:
        self.refused = False

    async def stop(self) -> None:
        for ws in list(self._streams):
            await ws.close()

    # ----------------------------------------------------------------- REST
    async def _bars(self, request: web.Request) -> web.Response:
        return await self._series(request, "bars")

    async def _trades(self, request: web.Request) -> web.Response:
        return await self._series(request, "trades")

    async def _series(self, request: web.Request, key: str) -> web.Response:
        q = request.query
        self.requests.append(dict(q))
        if self.on_request is not None:
            self.on_request(dict(q))
        now = time.time()
        if now >= self._reset_at:
            self._remaining, self._reset_at = self.limit, math.ceil(now + self.window_seconds)
        if self.throttled > 0 or self._remaining == 0:
            reset = math.ceil(now + self.reset_after) if self.throttled > 0 else self._reset_at
            self.throttled = max(0, self.throttled - 1)
            self.rate_limited += 1
            return web.json_response({"code": 42910000, "message": "rate limit exceeded"}, status=429,
                                     headers=_limits(0, reset))
        self._remaining -= 1
        symbols = sorted(s for s in q.get("symbols", "").split(",") if s)
        frame = q.get("timeframe") if key == "bars" else TRADES
        if not symbols or frame is None:
            return web.json_response({"code": 42210000, "message": "symbols and timeframe are required"}, status=422)
        for symbol in symbols:
            if not re.fullmatch(r"[A-Z][A-Z.]*", symbol):
                return web.json_response({"code": 42210000, "message": f"invalid symbol: {symbol}"}, status=422)
        start, end = _time(q.get("start")), _time(q.get("end"))
        limit = min(int(q.get("limit", "1000")), 10_000)
        after = base64.urlsafe_b64decode(q["page_token"]).decode().split("|") if q.get("page_token") else None
        found: list[tuple[str, dict[str, Any]]] = []
        for symbol in symbols:
            for bar in self.history.get((symbol, frame), []):
                moment = _time(bar["t"])
                assert moment is not None
                if (start and moment < start) or (end and moment > end):
                    continue
                if after is not None and (symbol, bar["t"]) <= (after[0], after[1]):
                    continue
                found.append((symbol, bar))
        page, rest = found[:limit], found[limit:]
        out: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            out.setdefault(symbol, []).append(bar)
        token = _token(page[-1][0], page[-1][1]["t"]) if rest and page else None
        return web.json_response({key: out, "next_page_token": token},
                                 headers=_limits(self._remaining, self._reset_at))

    # ----------------------------------------------------------------- the data stream (msgpack)
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if self.refused:
            return web.Response(status=503, text="stream unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
        channels: dict[str, set[str]] = {"bars": set(), "trades": set(), "quotes": set()}
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        sender: asyncio.Task[None] | None = None
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.BINARY:
                    continue
                message = msgpack.unpackb(msg.data)
                action = message.get("action")
                if action == "auth":
                    if message.get("key") != self.key or message.get("secret") != self.secret:
                        await ws.send_bytes(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
                        break
                    await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
                elif action == "subscribe":
                    for channel, symbols in channels.items():
                        symbols.update(message.get(channel, []))
                    await ws.send_bytes(msgpack.packb([{"T": "subscription", **{k: sorted(v) for k, v in
                                                                                channels.items()},
                                                        "updatedBars": [], "dailyBars": [], "statuses": [],
                                                        "lulds": [], "corrections": [], "cancelErrors": []}]))
                    if sender is None:
                        self._streams[ws] = (channels, queue)
                        self.connections += 1
                        sender = asyncio.create_task(_send_all(ws, queue))
        finally:
            self._streams.pop(ws, None)
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
        return ws


async def _send_all(ws: web.WebSocketResponse, queue: asyncio.Queue[bytes]) -> None:
    while True:
        frame = await queue.get()
        if ws.closed:
            return
        await ws.send_bytes(frame)


def _limits(remaining: int, reset: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(LIMIT), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC) if value else None
