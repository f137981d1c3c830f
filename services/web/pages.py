"""Server-rendered pages and the fragments a page re-fetches when an SSE event says something changed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ingenium.backtest.sweep import METRICS
from ledger import history, runs
from ledger.history import HistoryFilter
from services.web import api, discovery, portfolio, streams
from services.web import runs as web_runs
from services.web.auth import LoginLimiter, check_password, csrf_token, current_role, operator, viewer
from services.web.state import WebState, web_state

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
State = Annotated[WebState, Depends(web_state)]
PAGE = 50
#: The statistics the compare page lines up: key, label, format filter.
COMPARED = (("total_return", "Total return", "pct"), ("cagr", "CAGR", "pct"), ("sharpe", "Sharpe", "ratio"),
            ("sortino", "Sortino", "ratio"), ("max_drawdown", "Max drawdown", "pct"), ("trades", "Trades", "count"),
            ("win_rate", "Win rate", "pct"), ("exposure", "Exposure", "pct"), ("final_equity", "Final equity", "money"))


def _money(value: Any, places: int = 2) -> str:
    if value is None or value == "":
        return "—"
    return f"{Decimal(value):,.{places}f}"


def _qty(value: Any) -> str:
    if value is None:
        return "—"
    d = Decimal(value).normalize()
    return f"{d:,f}" if d == d.to_integral() else f"{d:,}"


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:,.2f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def _ratio(value: Any) -> str:
    return "—" if value is None else f"{float(value):,.2f}"


def _count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


templates.env.filters.update(money=_money, qty=_qty, when=_when, pct=_pct, duration=_duration, ratio=_ratio,
                             count=_count)


def render(request: Request, name: str, **context: Any) -> HTMLResponse:
    """Render a template with the common context (role, CSRF token, whether a login is needed)."""
    state: WebState = request.app.state.web
    context.update(role=current_role(request, state), csrf=csrf_token(request), protected=state.config.protected,
                   path=request.url.path)
    return templates.TemplateResponse(request, name, context)


# ----------------------------------------------------------------------------- login
@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", next=next if next.startswith("/") else "/", error=None)


@router.post("/login")
async def login(request: Request, state: State, password: Annotated[str, Form()] = "",
                csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    """Check the password; on success the session cookie carries the role (a refresh keeps it)."""
    limiter: LoginLimiter = request.app.state.limiter
    client = request.client.host if request.client else "?"
    wait = limiter.retry_after(client)
    if wait:
        response = render(request, "login.html", next=next, error=f"too many failed logins: try again in {wait}s")
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    if csrf != request.session.get("csrf"):
        raise HTTPException(403, "missing or wrong CSRF token: reload the login page")
    role = check_password(state.config, password)
    if role is None:
        limiter.failed(client)
        response = render(request, "login.html", next=next, error="wrong password")
        response.status_code = 401
        return response
    request.session.clear()
    request.session["role"] = role
    return RedirectResponse(next if next.startswith("/") else "/", status_code=303)


@router.post("/logout", dependencies=[Depends(viewer)])
async def logout(request: Request) -> Response:
    """Forget the session."""
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# ----------------------------------------------------------------------------- components
@router.get("/", dependencies=[Depends(viewer)])
async def home() -> Response:
    """The Components page is the start page."""
    return RedirectResponse("/components", status_code=307)


@router.get("/components", dependencies=[Depends(viewer)])
async def components_page(request: Request, state: State) -> HTMLResponse:
    """Every running component."""
    views = await discovery.discover(state.nats(), state.settings.subjects)
    return render(request, "components.html", components=views)


@router.get("/fragments/components", dependencies=[Depends(viewer)])
async def components_fragment(request: Request, state: State) -> HTMLResponse:
    """The components table alone."""
    views = await discovery.discover(state.nats(), state.settings.subjects)
    return render(request, "_components.html", components=views)


# ----------------------------------------------------------------------------- portfolio
async def _portfolio_context(state: WebState) -> dict[str, Any]:
    return {"p": await portfolio.portfolio(state.reader_url, state.nats(), state.settings)}


@router.get("/portfolio", dependencies=[Depends(viewer)])
async def portfolio_page(request: Request, state: State) -> HTMLResponse:
    """Positions, PnL, cash, equity and drawdown, in total and per strategy."""
    return render(request, "portfolio.html", **await _portfolio_context(state))


@router.get("/fragments/portfolio", dependencies=[Depends(viewer)])
async def portfolio_fragment(request: Request, state: State) -> HTMLResponse:
    """The portfolio figures alone."""
    return render(request, "_portfolio.html", **await _portfolio_context(state))


# ----------------------------------------------------------------------------- transactions
_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def page_filter(request: Request) -> HistoryFilter:
    """The history filter from a page's form: blank fields mean "any" (a form sends them empty)."""
    q = {k: v.strip() for k, v in request.query_params.items() if v.strip()}
    for key in ("symbol", "strategy"):
        if key in q and not _TOKEN.match(q[key]):
            raise HTTPException(422, f"{key} {q[key]!r} must be letters, digits, _ . : or -")
    side = q.get("side") if q.get("side") in ("buy", "sell") else None
    status = q.get("status") if q.get("status") in (
        "new", "partially_filled", "filled", "canceled", "rejected", "expired") else None
    try:
        since, until = api.parse_time("since", q.get("since")), api.parse_time("until", q.get("until"))
    except RequestValidationError:
        raise HTTPException(422, "since/until must be times such as 2024-03-01T14:30:00") from None
    return HistoryFilter(symbol=q.get("symbol"), strategy=q.get("strategy"), side=side, status=status, since=since,
                         until=until)


PageFilter = Annotated[HistoryFilter, Depends(page_filter)]


async def _transactions(request: Request, state: WebState, f: HistoryFilter, kind: str, sort: str | None,
                        desc: bool, offset: int) -> dict[str, Any]:
    default = "created_at" if kind == "orders" else "executed_at"
    allowed = history.ORDER_SORTS if kind == "orders" else history.FILL_SORTS
    chosen = sort if sort is not None and sort in allowed else default
    page = await history.page(state.reader_url, kind, f, sort=chosen, descending=desc, limit=PAGE, offset=offset)
    query = {k: v for k, v in request.query_params.items() if k != "offset" and v.strip()}
    return {"page": page, "kind": kind, "f": f, "sort": chosen, "desc": desc, "query": query, "sorts": allowed}


@router.get("/transactions", dependencies=[Depends(viewer)])
async def transactions_page(request: Request, state: State, f: PageFilter, kind: str = "fills",
                            sort: str | None = None, desc: bool = True, offset: api.Offset = 0) -> HTMLResponse:
    """Orders or fills with filters, sorting, paging and CSV export of the filtered query."""
    kind = kind if kind in ("orders", "fills") else "fills"
    return render(request, "transactions.html", **await _transactions(request, state, f, kind, sort, desc, offset))


@router.get("/fragments/transactions", dependencies=[Depends(viewer)])
async def transactions_fragment(request: Request, state: State, f: PageFilter, kind: str = "fills",
                                sort: str | None = None, desc: bool = True, offset: api.Offset = 0) -> HTMLResponse:
    """The history table alone."""
    kind = kind if kind in ("orders", "fills") else "fills"
    return render(request, "_history.html", **await _transactions(request, state, f, kind, sort, desc, offset))


async def _order_context(state: WebState, order_id: str) -> dict[str, Any]:
    detail = await api.order_detail(state, order_id)
    return {"order": detail.order, "fills": detail.fills, "events": detail.events, "cancels": detail.cancels,
            "cancel_available": api.CANCEL_AVAILABLE, "cancel_note": api.CANCEL_NOTE, "is_open": detail.is_open}


@router.get("/orders/{order_id}", dependencies=[Depends(viewer)])
async def order_page(request: Request, state: State, order_id: str) -> HTMLResponse:
    """One order: its partial fills, its audit trail, and cancel for an open order."""
    return render(request, "order.html", **await _order_context(state, order_id))


@router.get("/fragments/orders/{order_id}", dependencies=[Depends(viewer)])
async def order_fragment(request: Request, state: State, order_id: str) -> HTMLResponse:
    """The order's details alone."""
    return render(request, "_order.html", **await _order_context(state, order_id))


# ----------------------------------------------------------------------------- backtests
async def _backtests(request: Request, state: WebState, *, error: str | None = None,
                     form: dict[str, str] | None = None) -> HTMLResponse:
    response = render(request, "backtests.html", strategies=web_runs.catalogue(), files=web_runs.data_files(),
                      metrics=METRICS, runs=await runs.list_runs(state.reader_url, limit=100), error=error,
                      form=form or {})
    if error:
        response.status_code = 422
    return response


@router.get("/backtests", dependencies=[Depends(viewer)])
async def backtests_page(request: Request, state: State) -> HTMLResponse:
    """The launch form and the history of runs."""
    return await _backtests(request, state)


@router.post("/backtests", dependencies=[Depends(operator)])
async def launch_backtest(request: Request, state: State) -> Response:
    """Validate the form, record the run and start its worker; then show the run's page."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        what = web_runs.build_launch(form)
    except web_runs.FormError as exc:
        return await _backtests(request, state, error=str(exc), form=form)
    run_id, process = await web_runs.launch(state.settings, state.writer_url, what,
                                            state.settings.data_dir / "web-runs")
    state.workers[run_id] = process
    return RedirectResponse(f"/backtests/{run_id}", status_code=303)


@router.get("/backtests/compare", dependencies=[Depends(viewer)])
async def compare_page(request: Request, state: State,
                       run: Annotated[list[str], Query(max_length=4)]) -> HTMLResponse:
    """Two (or more) finished runs side by side: their statistics, and their equity curves overlaid."""
    found = []
    for run_id in dict.fromkeys(run):
        one = await runs.get_run(state.reader_url, run_id)
        if one is None:
            raise HTTPException(404, f"no run {run_id!r}")
        found.append(one)
    if len(found) < 2:
        raise HTTPException(422, "pick two runs to compare (tick them in the history)")
    return render(request, "compare.html", runs=found, rows=compared(found))


def compared(found: list[runs.Run]) -> list[dict[str, Any]]:
    """Each compared statistic: its values per run and, for two runs, the second's minus the first's (exact)."""
    out = []
    for key, label, fmt in COMPARED:
        values = [(r.stats or {}).get(key) for r in found]
        delta = None
        if len(values) == 2 and None not in values:
            delta = Decimal(str(values[1])) - Decimal(str(values[0]))
        out.append({"key": key, "label": label, "fmt": fmt, "cells": values, "delta": delta})
    return out


@router.get("/backtests/{run_id}", dependencies=[Depends(viewer)])
async def run_page(request: Request, state: State, run_id: str) -> HTMLResponse:
    """A run: live progress while it runs; statistics, charts and trades (a sweep: its ranking) when done."""
    run = await runs.get_run(state.reader_url, run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}")
    series = await runs.run_series(state.reader_url, run_id) if run.status == "done" else {}
    return render(request, "run.html", run=run, series=series)


# ----------------------------------------------------------------------------- streams
@router.get("/streams", dependencies=[Depends(viewer)])
async def streams_page(request: Request, state: State, before: int | None = None) -> HTMLResponse:
    """Streams and the dead-letter browser."""
    return render(request, "streams.html", streams=await streams.streams(state.nats(), state.settings),
                  letters=await streams.dead_letters(state.nats(), state.settings, limit=50, before=before),
                  republished=request.query_params.get("republished"))


@router.post("/streams/deadletters/{seq}/republish", dependencies=[Depends(operator)])
async def republish(state: State, seq: int) -> Response:
    """Republish one dead letter, then show the page again."""
    new_seq = await api.republish_letter(state, seq)
    return RedirectResponse(f"/streams?republished={seq}:{new_seq}", status_code=303)
