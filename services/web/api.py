"""The versioned JSON API (``/api/v1``): what the pages show, as JSON, documented in ``/api/v1/openapi.json``.

Money and quantities are strings (exact decimals), times RFC 3339 UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import pyarrow.compute as pc
from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from ingenium.bars import BarFileError, Bars, read_bars
from ingenium.cancel import cancel_request, send_cancel
from ingenium.errors import IngeniumError
from ingenium.events import DataEvent
from ingenium.streamread import read_stream
from ledger import history, queries, runs
from ledger.history import FILL_SORTS, ORDER_SORTS, HistoryFilter
from services.web import discovery, equity, portfolio, streams
from services.web.auth import operator, viewer
from services.web.state import WebState, web_state

router = APIRouter(prefix="/api/v1", dependencies=[Depends(viewer)],
                   responses={401: {"description": "Not logged in."}})

#: Whether this build can cancel an order (a ``CancelRequest`` on ``ingenium.portfolio.cancel``).
CANCEL_AVAILABLE = True
CANCEL_NOTE = ("publishes a cancel request on ingenium.portfolio.cancel; the executor answers canceled (what filled "
               "stays filled) or cancel_rejected")
#: Order statuses that can still be canceled.
OPEN_STATUSES = ("new", "partially_filled")

Token = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Side = Annotated[Literal["buy", "sell"] | None, Query()]
Status = Annotated[Literal["new", "partially_filled", "filled", "canceled", "rejected", "expired"] | None, Query()]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
State = Annotated[WebState, Depends(web_state)]


class PageOut(BaseModel):
    """One page of rows and the size of the whole filtered result."""

    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def jsonable(value: Any) -> Any:
    """Decimals as strings, times as RFC 3339 UTC, dataclasses as dicts, recursively."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in ("data",)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


#: An RFC 3339 time (``format: date-time``); parsed here, so numbers such as ``0.5`` are refused, not read as epochs.
Time = Annotated[str | None, Query(max_length=64, json_schema_extra={"format": "date-time"},
                                   description="RFC 3339 time, e.g. 2024-03-01T14:30:00Z (no offset: UTC).")]
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
                      r"([Zz]|[+-]\d{2}:?\d{2})?$")


def _invalid(name: str, value: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name), "type": "value_error", "input": value,
                                    "msg": f"{value!r} is not an RFC 3339 time such as 2024-03-01T14:30:00Z"}])


def parse_time(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 query value as an aware UTC time (naive means UTC); out-of-range years clamp to the ends."""
    if value is None:
        return None
    match = _RFC3339.match(value)
    if match is None:
        raise _invalid(name, value)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        # A leap second (60) is valid RFC 3339; Python has none, so it reads as the second before.
        local = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                         min(int(second or 0), 59), micro, tzinfo=UTC)
    except ValueError:
        if 1 <= int(month) <= 12 and 1 <= int(day) <= 31 and int(year) in (0, 9999):
            return datetime.min.replace(tzinfo=UTC) if int(year) == 0 else datetime.max.replace(tzinfo=UTC)
        raise _invalid(name, value) from None
    try:
        return local - offset
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if offset > timedelta(0) else datetime.max.replace(tzinfo=UTC)


def history_filter(symbol: Token = None, strategy: Token = None, side: Side = None, status: Status = None,
                   since: Time = None, until: Time = None) -> HistoryFilter:
    """The filter query parameters shared by orders, fills and their CSV exports (naive times are UTC)."""
    return HistoryFilter(symbol=symbol, strategy=strategy, side=side, status=status,
                         since=parse_time("since", since), until=parse_time("until", until))


Filter = Annotated[HistoryFilter, Depends(history_filter)]
OrderSort = Annotated[Literal[ORDER_SORTS], Query()]  # type: ignore[valid-type]
FillSort = Annotated[Literal[FILL_SORTS], Query()]  # type: ignore[valid-type]


@router.get("/orders", response_model=PageOut, tags=["transactions"])
async def list_orders(state: State, f: Filter, sort: OrderSort = "created_at", desc: bool = True,
                      limit: Limit = 50, offset: Offset = 0) -> PageOut:
    """Orders matching the filters, one page, sorted in SQL."""
    page = await history.page(state.reader_url, "orders", f, sort=sort, descending=desc, limit=limit, offset=offset)
    return PageOut(rows=jsonable(page.rows), total=page.total, limit=limit, offset=offset)


@router.get("/fills", response_model=PageOut, tags=["transactions"])
async def list_fills(state: State, f: Filter, sort: FillSort = "executed_at", desc: bool = True,
                     limit: Limit = 50, offset: Offset = 0) -> PageOut:
    """Fills matching the filters (time range on the execution time), one page."""
    page = await history.page(state.reader_url, "fills", f, sort=sort, descending=desc, limit=limit, offset=offset)
    return PageOut(rows=jsonable(page.rows), total=page.total, limit=limit, offset=offset)


@router.get("/export/{kind}.csv", tags=["transactions"], response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def export(kind: Literal["orders", "fills"], state: State, f: Filter, desc: bool = True) -> StreamingResponse:
    """The whole filtered query as CSV, streamed from a database cursor."""
    sort = "created_at" if kind == "orders" else "executed_at"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        history.export_csv(state.reader_url, kind, f, sort=sort, descending=desc), media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="ingenium-{kind}-{stamp}.csv"'},
    )


@dataclasses.dataclass(frozen=True, slots=True)
class OrderDetail:
    """One order as its page shows it: the row, its fills (oldest first), audit trail and cancel requests."""

    order: dict[str, Any]
    fills: list[Any]
    events: list[Any]
    cancels: list[Any]

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill, so may be canceled."""
        return self.order["status"] in OPEN_STATUSES


async def order_detail(state: WebState, order_id: str) -> OrderDetail:
    """One order's row, fills, audit trail and cancel requests; 404 when the ledger has no such order."""
    row = await history.order(state.reader_url, order_id)
    if row is None:
        raise HTTPException(404, f"no order {order_id!r} in the ledger")
    fills = await history.page(state.reader_url, "fills", HistoryFilter(order_id=order_id), sort="executed_at",
                               descending=False, limit=500)
    return OrderDetail(row, fills.rows, await history.audit_trail(state.reader_url, order_id),
                       [c.model_dump() for c in await queries.cancels(state.reader_url, order_id=order_id)])


@router.get("/orders/{order_id}", tags=["transactions"], responses={404: {"description": "No such order."}})
async def get_order(order_id: str, state: State) -> dict[str, Any]:
    """One order with its fills, its audit trail (every raw event about it) and its cancel requests."""
    detail = await order_detail(state, order_id)
    return {"order": jsonable(detail.order), "fills": jsonable(detail.fills), "events": jsonable(detail.events),
            "cancels": jsonable(detail.cancels), "cancel": {"available": CANCEL_AVAILABLE, "note": CANCEL_NOTE}}


class CancelOut(BaseModel):
    """A published cancel request: its id and where the bus stored it; the executor answers on the bus."""

    cancel_id: str
    order_id: str
    stream: str
    sequence: int


@router.post("/orders/{order_id}/cancel", tags=["actions"], dependencies=[Depends(operator)], status_code=202,
             response_model=CancelOut,
             responses={403: {"description": "Not the operator, or no CSRF token."},
                        404: {"description": "No such order."},
                        409: {"description": "The order is final already."}})
async def cancel_order(order_id: Annotated[str, Path(min_length=1, max_length=200)], state: State) -> CancelOut:
    """Ask the executor to cancel an open order; its answer (canceled or cancel_rejected) reaches the ledger."""
    detail = await order_detail(state, order_id)
    if not detail.is_open:
        raise HTTPException(409, f"order {order_id} is {detail.order['status']} already: nothing left to cancel")
    try:
        request = cancel_request(order_id, requested_by="web", reason="canceled from the web UI")
    except IngeniumError as exc:
        raise HTTPException(422, str(exc)) from None
    sent = await send_cancel(state.nats(), state.settings, request)
    return CancelOut(cancel_id=request.id, order_id=order_id, stream=sent.stream, sequence=sent.sequence)


@router.get("/portfolio", tags=["portfolio"])
async def get_portfolio(state: State) -> dict[str, Any]:
    """Positions marked at the latest bar, cash, exposure, equity, PnL, per strategy."""
    view = await portfolio.portfolio(state.reader_url, state.nats(), state.settings)
    return dict(jsonable(view))


@router.get("/portfolio/equity", tags=["portfolio"])
async def get_equity(state: State, limit: Annotated[int, Query(ge=2, le=5000)] = 2000) -> dict[str, Any]:
    """Equity marked to market after each fill and now (at the latest bars), and each strategy's PnL curve.

    The total's drawdown is a fraction of its peak, a strategy's is in money. Each curve has at most ``limit``
    points.
    """
    total, strategies = await equity.curves(state.reader_url, state.nats(), state.settings, limit=limit)
    return {
        "total": {"time": jsonable(total.times), "equity": jsonable(total.values),
                  "drawdown": jsonable(total.drawdown(relative=True))},
        "strategies": [{"strategy": c.name, "time": jsonable(c.times), "pnl": jsonable(c.values),
                        "drawdown": jsonable(c.drawdown(relative=False))} for c in strategies],
    }


@router.get("/components", tags=["components"])
async def get_components(state: State) -> list[dict[str, Any]]:
    """Every component answering NATS micro discovery now, with consumer lag and dead letters."""
    views = await discovery.discover(state.nats(), state.settings.subjects)
    return [{**jsonable(v), "uptime_seconds": v.uptime_seconds, "last_activity": jsonable(v.last_activity)}
            for v in views]


@router.get("/streams", tags=["streams"])
async def get_streams(state: State) -> list[dict[str, Any]]:
    """Each stream's messages, bytes, sequences and consumers."""
    return list(jsonable(await streams.streams(state.nats(), state.settings)))


@router.get("/deadletters", tags=["streams"])
async def get_dead_letters(state: State, limit: Limit = 50,
                           before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> list[dict[str, Any]]:
    """Dead letters, newest first, with the reason and the original message."""
    return list(jsonable(await streams.dead_letters(state.nats(), state.settings, limit=limit, before=before)))


@router.post("/deadletters/{seq}/republish", tags=["actions"], dependencies=[Depends(operator)],
             responses={403: {"description": "Not the operator, no CSRF token, or NATS rights the UI lacks."},
                        404: {"description": "No such dead letter."}})
async def republish(seq: Annotated[int, Path(ge=1, le=2**62)], state: State) -> dict[str, Any]:
    """Publish a dead letter's original message again on its original subject."""
    return {"republished": seq, "sequence": await republish_letter(state, seq)}


async def republish_letter(state: WebState, seq: int) -> int:
    """Republish dead letter ``seq``; returns its new sequence.

    404 when there is none, 409 when it names no subject, 403 when the UI's NATS user may not publish there.
    """
    try:
        return await streams.republish(state.nats(), state.settings, seq)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None


@router.get("/runs", tags=["runs"])
async def list_runs(state: State, limit: Limit = 100) -> list[dict[str, Any]]:
    """Backtest, sweep and replay runs, newest first."""
    return list(jsonable(await runs.list_runs(state.reader_url, limit=limit)))


@router.get("/runs/{run_id}", tags=["runs"], responses={404: {"description": "No such run."}})
async def get_run(run_id: str, state: State) -> dict[str, Any]:
    """One run with its fills, round trips and equity curve."""
    run = await runs.get_run(state.reader_url, run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return {"run": jsonable(run), **jsonable(await runs.run_series(state.reader_url, run_id))}


@router.get("/runs/{run_id}/candles", tags=["runs"], responses={404: {"description": "No such run."}})
async def get_candles(run_id: str, state: State,
                      symbol: Token = None, limit: Annotated[int, Query(ge=1, le=20_000)] = 5000) -> dict[str, Any]:
    """The run's bars of one symbol (its first by default), for the candle chart.

    They come from its data file, or for a replay from the recorded data stream.
    """
    run = await runs.get_run(state.reader_url, run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}")
    chosen = symbol or (run.symbols[0] if run.symbols else "")
    if run.kind == "replay":
        _, plan = runs.run_config(run)
        return await recorded_candles(state, chosen, plan.get("replay") or {}, limit)
    try:
        bars = await asyncio.to_thread(read_bars, run.data_source, gaps="accept")
    except (OSError, BarFileError) as exc:
        raise HTTPException(404, f"the run's data {run.data_source} cannot be read now: {exc}") from None
    table = bars.table
    chosen = chosen or (table.column("symbol")[0].as_py() if len(bars) else "")
    part = Bars(table.filter(pc.equal(table.column("symbol"), chosen)).slice(0, limit), source=bars.source)
    return {"symbol": chosen, "time": [start.isoformat() for start in part.starts],
            **{k: [format(value, "f") for value in getattr(part, k + "s")] for k in ("open", "high", "low", "close")}}


async def recorded_candles(state: WebState, symbol: str, span: dict[str, Any], limit: int) -> dict[str, Any]:
    """Bars of ``symbol`` on the recorded data stream within a replay's range."""
    since = datetime.fromisoformat(span["since"]) if span.get("since") else None
    until = datetime.fromisoformat(span["until"]) if span.get("until") else None
    out: dict[str, Any] = {"symbol": symbol, "time": [], "open": [], "high": [], "low": [], "close": []}
    subjects = state.settings.subjects
    messages = read_stream(state.nats(), subjects.stream("data"), subjects.data(symbol),
                           start_time=since)
    async with contextlib.aclosing(messages):  # type: ignore[type-var]  # an async generator, typed as an iterator
        async for msg in messages:
            try:
                bar = DataEvent.from_json(msg.data).ohlc
            except ValidationError:
                continue  # the replay skipped it too, with a warning in its run
            if bar is None or (since is not None and bar.timestamp < since) or (
                    until is not None and bar.timestamp >= until):
                continue
            out["time"].append(bar.timestamp.isoformat())
            for key in ("open", "high", "low", "close"):
                out[key].append(format(getattr(bar, key), "f"))
            if len(out["time"]) >= limit:
                break
    return out
