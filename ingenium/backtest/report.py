"""``report.html``: one self-contained page (inline CSS and SVG, no scripts, no network) per run.

It shows the statistics; the equity curve beside buy-and-hold (the starting cash split evenly over the
symbols at their first bar and held); the drawdown; each symbol's price with its fills marked; the trades
(round trips, with their PnL: what ``summary.json`` counts as trades); and the fills. Long curves are reduced
to the lowest and highest point of each pixel column, so the page stays small without hiding a drawdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any, Protocol

from ingenium.backtest.account import Fill, RoundTrip
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.stats import Stats, display_rows
from ingenium.events import Side


class RunOutcome(Protocol):
    """What the files of a run are written from: ``ingenium.backtest.results.BacktestResult`` is one.

    Named here, below the result, because the result writes itself with this module and ``writers``.
    """

    @property
    def run_id(self) -> str:
        """The run's id."""

    @property
    def kind(self) -> str:
        """``backtest`` or ``replay``."""

    @property
    def config(self) -> BacktestConfig:
        """What the run was configured with."""

    @property
    def source(self) -> str:
        """Where the bars came from."""

    @property
    def symbols(self) -> Sequence[str]:
        """The symbols traded."""

    @property
    def bars(self) -> int:
        """How many bars were fed."""

    @property
    def fills(self) -> Sequence[Fill]:
        """Every fill, in run order."""

    @property
    def round_trips(self) -> Sequence[RoundTrip]:
        """The closed trades, with their PnL."""

    @property
    def times(self) -> Sequence[datetime]:
        """The equity curve's times."""

    @property
    def equity(self) -> Sequence[Decimal]:
        """The equity at each time."""

    @property
    def stats(self) -> Stats:
        """The run's statistics."""

    @property
    def prices(self) -> Mapping[str, tuple[Sequence[datetime], Sequence[Decimal]]]:
        """Per symbol, the bar starts and closes that were fed."""

    def summary(self) -> dict[str, Any]:
        """The run's ``summary.json``."""

WIDTH, HEIGHT, PAD = 960, 260, 48
MAX_TRADES = 1000
#: Symbols that get a price chart (a file of hundreds of symbols gets the first ones).
MAX_PRICE_CHARTS = 8
MAX_MARKERS = 2000

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2330;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:.2rem .7rem;border-bottom:1px solid #e3e6ec;text-align:right}th{background:#f4f6f9}
td:first-child,th:first-child{text-align:left}.stats td:first-child{color:#5a6272}
svg{background:#fbfcfd;border:1px solid #e3e6ec}.note{color:#5a6272}.win{color:#1d7a3a}.loss{color:#b3261e}
"""
_BUY, _SELL = "#1d7a3a", "#b3261e"


def _columns(times: Sequence[datetime], values: Sequence[float], width: int) -> list[tuple[int, float]]:
    """Reduce a curve to its lowest and highest point (in time order) per pixel column."""
    t0, t1 = times[0].timestamp(), times[-1].timestamp()
    scale = (width - 1) / ((t1 - t0) or 1.0)
    points: list[tuple[int, float]] = []
    column, lo, hi = -1, 0, 0
    for index, moment in enumerate(times):
        x = int((moment.timestamp() - t0) * scale)
        if x != column:
            if column >= 0:
                points.extend((column, values[i]) for i in sorted({lo, hi}))
            column, lo, hi = x, index, index
        elif values[index] < values[lo]:
            lo = index
        elif values[index] > values[hi]:
            hi = index
    points.extend((column, values[i]) for i in sorted({lo, hi}))
    return points


@dataclass(frozen=True, slots=True)
class _Line:
    label: str
    values: Sequence[float]
    colour: str


@dataclass(frozen=True, slots=True)
class _Marker:
    when: datetime
    value: float
    buy: bool


def _chart(title: str, times: Sequence[datetime], lines: Sequence[_Line], *, fill: bool = False,
           percent: bool = False, markers: Sequence[_Marker] = ()) -> str:
    """One SVG chart of ``lines`` (all over ``times``), with fill markers (▲ buy, ▼ sell) and a legend."""
    if not times:
        return f"<p class='note'>No {escape(title.lower())}: no bars.</p>"
    width = WIDTH - 2 * PAD
    reduced = [_columns(times, line.values, width) for line in lines]
    values = [v for points in reduced for _, v in points] + [m.value for m in markers]
    low, high = min(values), max(values)
    if fill:
        high = max(high, 0.0)
    span = (high - low) or 1.0
    t0 = times[0].timestamp()
    scale = (width - 1) / ((times[-1].timestamp() - t0) or 1.0)

    def y(v: float) -> float:
        return PAD / 2 + (high - v) / span * (HEIGHT - PAD)

    def label(v: float) -> str:
        return f"{v:.2%}" if percent else f"{v:,.2f}"

    shapes: list[str] = []
    for line, points in zip(lines, reduced, strict=True):
        path = " ".join(f"{'M' if i == 0 else 'L'}{PAD + x:.1f},{y(v):.1f}" for i, (x, v) in enumerate(points))
        if fill:
            shapes.append(f"<path d='{path} L{PAD + points[-1][0]:.1f},{y(0):.1f} L{PAD:.1f},{y(0):.1f} Z' "
                          f"fill='{line.colour}' fill-opacity='.25' stroke='none'/>")
        shapes.append(f"<path d='{path}' fill='none' stroke='{line.colour}' stroke-width='1.2'/>")
    for marker in markers[:MAX_MARKERS]:
        x, top = PAD + int((marker.when.timestamp() - t0) * scale), y(marker.value)
        tip = f"M{x},{top:.1f} l-4,7 h8 Z" if marker.buy else f"M{x},{top:.1f} l-4,-7 h8 Z"
        shapes.append(f"<path d='{tip}' fill='{_BUY if marker.buy else _SELL}'/>")
    legend = "".join(
        f"<text x='{PAD + 8 + 170 * i}' y='14' font-size='11' fill='{line.colour}'>{escape(line.label)}</text>"
        for i, line in enumerate(lines) if len(lines) > 1
    )
    first, last = times[0].strftime("%Y-%m-%d %H:%M"), times[-1].strftime("%Y-%m-%d %H:%M")
    return (
        f"<h2>{escape(title)}</h2><svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {HEIGHT}' "
        f"width='100%' role='img' aria-label='{escape(title)}'>{''.join(shapes)}{legend}"
        f"<text x='4' y='{y(high) + 4:.1f}' font-size='11'>{label(high)}</text>"
        f"<text x='4' y='{y(low) + 4:.1f}' font-size='11'>{label(low)}</text>"
        f"<text x='{PAD}' y='{HEIGHT - 4}' font-size='11'>{first}</text>"
        f"<text x='{WIDTH - PAD}' y='{HEIGHT - 4}' font-size='11' text-anchor='end'>{last}</text></svg>"
    )


def buy_and_hold(result: RunOutcome) -> list[float]:
    """Value at each equity point of the starting cash split evenly over the symbols and held.

    Each symbol's share buys at its first bar's close and is valued at its latest close at or before the point;
    until a symbol's first bar its share is cash. Commission-free, like the line it is drawn beside.
    """
    cash = float(result.config.cash)
    lines = [(starts, closes) for starts, closes in result.prices.values() if len(starts)]
    if not lines:
        return [cash] * len(result.times)
    share = cash / len(lines)
    out = [0.0] * len(result.times)
    for starts, closes in lines:
        # One pass over each line (its points in time order), so long lines held compactly are read in order.
        prices = zip(starts, closes, strict=True)
        first, value = float(closes[0]), share
        ahead = next(prices, None)
        for point, moment in enumerate(result.times):
            while ahead is not None and ahead[0] <= moment:
                value = share * float(ahead[1]) / first
                ahead = next(prices, None)
            out[point] += value
    return out


def _cell(value: object) -> str:
    return f"<td>{escape(str(value))}</td>"


def _pnl(value: Decimal) -> str:
    kind = "win" if value > 0 else "loss" if value < 0 else ""
    return f"<td class='{kind}'>{value}</td>"


def _price_charts(result: RunOutcome) -> str:
    marks: dict[str, list[Fill]] = {}
    for f in result.fills:
        marks.setdefault(f.symbol, []).append(f)
    charts: list[str] = []
    for symbol in sorted(result.prices)[:MAX_PRICE_CHARTS]:
        starts, closes = result.prices[symbol]
        markers = [_Marker(f.timestamp, float(f.price), f.side is Side.BUY) for f in marks.get(symbol, [])]
        charts.append(_chart(f"{symbol}: price (close) and fills ▲ buy ▼ sell", starts,
                             [_Line(symbol, [float(c) for c in closes], "#4b5563")], markers=markers))
    if len(result.prices) > MAX_PRICE_CHARTS:
        charts.append(f"<p class='note'>Prices of the first {MAX_PRICE_CHARTS} of {len(result.prices)} symbols.</p>")
    return "".join(charts)


def render_report(result: RunOutcome) -> str:
    """Render the page for ``result``."""
    equity = [float(v) for v in result.equity]
    drawdown: list[float] = []
    peak = float(result.config.cash)
    for value in equity:
        peak = max(peak, value)
        drawdown.append(value / peak - 1.0 if peak > 0 else 0.0)
    rows = "".join(f"<tr><td>{escape(label)}</td><td>{escape(text)}</td></tr>"
                   for label, text in display_rows(result.stats))
    config = result.config
    params = ", ".join(f"{k}={v}" for k, v in sorted(config.strategy_params.items())) or "defaults"
    trips = result.round_trips
    trades = "".join(
        f"<tr>{_cell(i)}{_cell(t.symbol)}{_cell(t.direction)}{_cell(t.opened.isoformat())}"
        f"{_cell(t.closed.isoformat())}{_pnl(t.pnl)}</tr>" for i, t in enumerate(trips[:MAX_TRADES], 1)
    )
    more_trades = (f"<p class='note'>First {MAX_TRADES} of {len(trips)} trades.</p>"
                   if len(trips) > MAX_TRADES else "")
    fills = "".join(
        f"<tr><td>{f.timestamp.isoformat()}</td><td>{escape(f.symbol)}</td><td>{f.side.value}</td>"
        f"<td>{f.quantity}</td><td>{f.price}</td><td>{f.commission}</td></tr>" for f in result.fills[:MAX_TRADES]
    )
    more = (f"<p class='note'>First {MAX_TRADES} of {len(result.fills)} fills; trades.csv has them all.</p>"
            if len(result.fills) > MAX_TRADES else "")
    curves = [_Line("strategy", equity, "#2459c4"), _Line("buy and hold", buy_and_hold(result), "#9aa3b2")]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Ingenium {escape(result.kind)} {escape(result.run_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(config.strategy)} <small class='note'>({escape(params)})</small></h1>"
        f"<p class='note'>{escape(result.kind)} {escape(result.run_id)} · {result.bars} bars of "
        f"{escape(', '.join(result.symbols))} from {escape(result.source)} · cash {config.cash} · "
        f"fills at {escape(config.fill.replace('_', ' '))}</p>"
        f"<table class='stats'>{rows}</table>"
        f"{_chart('Equity', result.times, curves)}"
        f"{_chart('Drawdown', result.times, [_Line('drawdown', drawdown, '#c43d24')], fill=True, percent=True)}"
        f"{_price_charts(result)}"
        f"<h2 id='trades'>Trades: {len(trips)} round trips</h2>{more_trades}"
        "<table class='trades'><tr><th>#</th><th>symbol</th><th>direction</th><th>opened</th><th>closed</th>"
        f"<th>PnL (net of commission)</th></tr>{trades}</table>"
        f"<h2 id='fills'>Fills: {len(result.fills)}</h2>{more}<table class='fills'><tr><th>time</th><th>symbol</th>"
        f"<th>side</th><th>quantity</th><th>price</th><th>commission</th></tr>{fills}</table></body></html>\n"
    )
