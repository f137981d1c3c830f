"""Alpaca's market data through ``alpaca-py``: historical bars over REST, the live bars, trades and quotes.

Configured by Alpaca's variables (``APCA_API_KEY_ID``, ``APCA_API_SECRET_KEY``, ``APCA_API_DATA_URL``) and
``APCA_API_DATA_STREAM_URL`` (default ``wss://stream.data.alpaca.markets``; the stream of a feed is
``<url>/v2/<feed>``). The ingestors of ``services.ingestors.alpaca`` are built on this module.

Where the SDK is not used as-is, and why:

* ``StockHistoricalDataClient.get_stock_bars`` follows every ``next_page_token`` before returning anything, so
  a long load that fails halfway has published nothing and must start over. ``AlpacaBars.pages`` asks for one
  page at a time (the SDK's ``StockBarsRequest`` builds the query, its REST client sends it), so each page is
  published before the next is fetched, and a re-run resumes after the last stored bar.
* Alpaca sends prices as JSON numbers, which the SDK's ``response.json()`` turns into floats. ``_DataClient``
  parses the body with ``parse_float=Decimal``, so prices are the decimals Alpaca wrote.
* The SDK retries a 429 after a fixed 3 s and ignores Alpaca's rate-limit headers. Its retry is off; a 429 waits
  until ``X-RateLimit-Reset``, and a page that leaves ``X-RateLimit-Remaining`` at 0 makes the next request wait
  for the reset, so the limit is kept rather than hit.
* The live stream is msgpack, where prices are floats: a float's shortest repr is the decimal that was sent.
  ``BarStream`` hooks the SDK's connection step (``_start_ws``), as the trading adapter does, to backfill over
  REST after every (re)connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgpack
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import StockBarsRequest, StockTradesRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict
from requests.exceptions import HTTPError

from ingenium.errors import ConfigurationError, describe_validation_error
from ingenium.events import Quote, Trade
from ingenium.period import parse_period
from ingenium.venue import TransientVenueError
from services.ingestors.feed import FeedBar
from services.venues.alpaca import AlpacaSettings, api_message, to_decimal

log = logging.getLogger("ingenium.venue.alpaca.data")

DATA_STREAM_URL = "wss://stream.data.alpaca.markets"
#: The most bars Alpaca returns per page.
MAX_PAGE = 10_000


class AlpacaDataSettings(AlpacaSettings):
    """Alpaca's variables, and where the market-data stream is."""

    model_config = SettingsConfigDict(env_prefix="APCA_API_", extra="ignore", frozen=True)

    data_stream_url: str = Field(default=DATA_STREAM_URL, description="APCA_API_DATA_STREAM_URL")

    def stream_endpoint(self, feed: str) -> str:
        """The websocket of one feed: ``<data stream url>/v2/<feed>``."""
        return f"{self.data_stream_url.rstrip('/')}/v2/{feed}"


def timeframe(period: str) -> TimeFrame:
    """Alpaca's timeframe for an Ingenium period (``1m`` → ``1Min``, ``1h`` → ``1Hour``, ``1d`` → ``1Day``)."""
    seconds = int(parse_period(period).total_seconds())
    for unit, size, most in ((TimeFrameUnit.Week, 604800, 1), (TimeFrameUnit.Day, 86400, 1),
                             (TimeFrameUnit.Hour, 3600, 23), (TimeFrameUnit.Minute, 60, 59)):
        if seconds % size == 0 and 1 <= seconds // size <= most:
            return TimeFrame(seconds // size, unit)
        if seconds % size == 0:
            break
    raise ConfigurationError(f"Alpaca has no {period} bars: use 1m to 59m, 1h to 23h, 1d or 1w")


def _moment(value: Any) -> datetime:
    """An Alpaca time in UTC: REST writes RFC 3339, the stream a msgpack timestamp."""
    if isinstance(value, msgpack.Timestamp):
        moment: datetime = value.to_datetime()
        return moment.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def parse_bar(symbol: str, period: str, raw: dict[str, Any]) -> FeedBar:
    """A ``FeedBar`` from one Alpaca bar (``t`` its start; REST: RFC 3339, stream: a msgpack timestamp)."""
    start = _moment(raw["t"])
    values = {key: to_decimal(raw.get(key)) for key in ("o", "h", "l", "c", "v")}
    if any(values[key] is None for key in ("o", "h", "l", "c")):
        raise ValueError(f"Alpaca bar for {symbol} at {start.isoformat()} lacks a price: {raw}")
    return FeedBar(symbol, start, values["o"] or Decimal(0), values["h"] or Decimal(0), values["l"] or Decimal(0),
                   values["c"] or Decimal(0), values["v"] or Decimal(0), period)


def _why(exc: KeyError | ValidationError) -> str:
    """One line: the missing key, or each invalid field and why."""
    return describe_validation_error(exc) if isinstance(exc, ValidationError) else f"no {exc}"


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def parse_trade(raw: dict[str, Any]) -> Trade:
    """A ``Trade`` from one Alpaca trade (stream ``"T": "t"``); raises ``ValueError`` naming what is wrong.

    Keys: ``i`` id, ``x`` exchange, ``p`` price, ``s`` size, ``c`` conditions, ``z`` tape, ``t`` time.
    """
    try:
        return Trade(price=to_decimal(raw.get("p")), size=to_decimal(raw.get("s")), timestamp=_moment(raw["t"]),
                     id=_text(raw.get("i")), exchange=_text(raw.get("x")),
                     conditions=tuple(str(c) for c in raw.get("c") or ()), tape=_text(raw.get("z")))
    except (KeyError, ValidationError) as exc:
        raise ValueError(f"Alpaca trade for {raw.get('S')} is not a trade ({_why(exc)}): {raw}") from None


def parse_quote(raw: dict[str, Any]) -> Quote:
    """A ``Quote`` from one Alpaca quote (stream ``"T": "q"``); raises ``ValueError`` naming what is wrong.

    Keys: ``bp``/``bs``/``bx`` the bid's price, size and exchange, ``ap``/``as``/``ax`` the ask's, ``c``
    conditions, ``z`` tape, ``t`` time.
    """
    try:
        return Quote(bid_price=to_decimal(raw.get("bp")), bid_size=to_decimal(raw.get("bs")),
                     ask_price=to_decimal(raw.get("ap")), ask_size=to_decimal(raw.get("as")),
                     timestamp=_moment(raw["t"]), bid_exchange=_text(raw.get("bx")), ask_exchange=_text(raw.get("ax")),
                     conditions=tuple(str(c) for c in raw.get("c") or ()), tape=_text(raw.get("z")))
    except (KeyError, ValidationError) as exc:
        raise ValueError(f"Alpaca quote for {raw.get('S')} is not a quote ({_why(exc)}): {raw}") from None


class RateLimited(Exception):
    """HTTP 429; ``wait`` is how long Alpaca's ``X-RateLimit-Reset`` says to wait (``None`` when it says not)."""

    def __init__(self, wait: float | None) -> None:
        super().__init__(f"rate limited (retry in {wait}s)" if wait is not None else "rate limited")
        self.wait = wait


class _DataClient(StockHistoricalDataClient):
    """The SDK's client, reading decimals exactly and keeping Alpaca's rate-limit headers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._retry = 0  # 429s are waited out by AlpacaBars, as Alpaca's headers say
        self.remaining: int | None = None
        self.reset: float | None = None  # Unix time the window resets

    def _one_request(self, method: str, url: str, opts: dict[str, Any], retry: int) -> Any:
        response = self._session.request(method, url, **opts)
        headers = response.headers
        if "X-RateLimit-Remaining" in headers:
            self.remaining = int(headers["X-RateLimit-Remaining"])
        if "X-RateLimit-Reset" in headers:
            self.reset = float(headers["X-RateLimit-Reset"])
        if response.status_code == 429:
            raise RateLimited(max(0.0, self.reset - time.time()) if self.reset is not None else None)
        try:
            response.raise_for_status()
        except HTTPError as exc:
            raise APIError(response.text, exc) from None  # type: ignore[no-untyped-call]
        return json.loads(response.text, parse_float=Decimal) if response.text else {}

    def pause(self) -> float:
        """Seconds to wait before the next request so as not to exceed the limit (0 when there is room)."""
        if self.remaining is None or self.remaining > 0 or self.reset is None:
            return 0.0
        return max(0.0, self.reset - time.time())


class AlpacaBars:
    """Historical bars (and trades) of one feed, a page at a time, with retries that keep Alpaca's rate limit.

    Args:
        settings: Alpaca's variables.
        feed: ``iex`` (free) or ``sip``.
        adjustment: ``raw``, ``split``, ``dividend`` or ``all``.
        page_size: Bars per page (at most 10,000).

    """

    def __init__(self, settings: AlpacaDataSettings | None = None, *, feed: str = "iex", adjustment: str = "raw",
                 page_size: int = MAX_PAGE, attempts: int = 8, backoff: float = 0.2, max_wait: float = 60.0) -> None:
        self.settings = settings or AlpacaDataSettings()
        self.settings.require_keys()
        s = self.settings
        self.client = _DataClient(api_key=s.key_id, secret_key=s.secret_key, raw_data=True,
                                  url_override=s.data_url.rstrip("/"))
        self.feed, self.adjustment = DataFeed(feed), Adjustment(adjustment)
        self.page_size = min(page_size, MAX_PAGE)
        self.attempts, self.backoff, self.max_wait = attempts, backoff, max_wait
        self.rate_limited = 0  # 429s met (tests and logs)

    async def pages(self, symbol: str, period: str, start: datetime, end: datetime | None = None
                    ) -> AsyncIterator[list[FeedBar]]:
        """Bars of ``symbol`` from ``start`` (inclusive) to ``end`` (or the latest), oldest first, one page each."""
        request = StockBarsRequest(symbol_or_symbols=symbol.upper(), timeframe=timeframe(period), start=start,
                                   end=end, limit=self.page_size, feed=self.feed, adjustment=self.adjustment)
        async for rows in self._rows("/stocks/bars", "bars", symbol, request.to_request_fields()):
            yield [parse_bar(symbol, period, row) for row in rows]

    async def trade_pages(self, symbol: str, start: datetime, end: datetime | None = None
                          ) -> AsyncIterator[list[Trade]]:
        """Trades of ``symbol`` from ``start`` (inclusive) to ``end`` (or the latest), oldest first, one page each."""
        request = StockTradesRequest(symbol_or_symbols=symbol.upper(), start=start, end=end, limit=self.page_size,
                                     feed=self.feed)
        async for rows in self._rows("/stocks/trades", "trades", symbol, request.to_request_fields()):
            yield [parse_trade(row) for row in rows]

    async def _rows(self, path: str, key: str, symbol: str, params: dict[str, Any]
                    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The rows of one symbol under ``key``, page by page, following ``next_page_token``."""
        token: str | None = None
        while True:
            page = await self._get(path, {**params, "page_token": token, "sort": "asc"})
            yield (page.get(key) or {}).get(symbol.upper()) or []
            token = page.get("next_page_token")
            if not token:
                return

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        delay, last = self.backoff, ""
        for attempt in range(1, self.attempts + 1):
            pause = self.client.pause()
            if pause:
                log.info("alpaca data: rate limit used up; waiting %.1fs for it to reset", pause)
                await asyncio.sleep(min(pause, self.max_wait))
            try:
                page = await asyncio.to_thread(self.client.get, path, params)
                return page if isinstance(page, dict) else {}
            except RateLimited as exc:
                self.rate_limited += 1
                wait, last = (exc.wait if exc.wait is not None else delay), "HTTP 429"
            except APIError as exc:
                status = exc.status_code or 0
                if status < 500:
                    what = path.rsplit("/", 1)[-1]
                    raise ConfigurationError(
                        f"Alpaca refused the {what} request (HTTP {status}): {api_message(exc)}") from None
                wait, last = delay, f"HTTP {status}"
            except requests.RequestException as exc:
                wait, last = delay, repr(exc)
            log.warning("alpaca data: %s request failed (attempt %d of %d: %s); retrying in %.1fs",
                        path, attempt, self.attempts, last, wait)
            await asyncio.sleep(min(wait, self.max_wait))
            delay = min(delay * 2, 10.0)
        raise TransientVenueError(f"alpaca data: {path} request failed {self.attempts} times, last: {last}")

    def close(self) -> None:
        """Close the REST session."""
        self.client._session.close()


class BarStream(StockDataStream):
    """``StockDataStream`` that tells when a (re)connection is authenticated (bars, trades and quotes alike).

    ``on_connect`` runs before the SDK subscribes, so missed bars can be backfilled; reconnects start after 0.2 s
    instead of 1 s.
    """

    def __init__(self, on_connect: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_connect = on_connect
        self._reconnect_min_backoff = 0.2

    async def _start_ws(self) -> None:
        await super()._start_ws()
        await self._on_connect()

