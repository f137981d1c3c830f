"""``report.html``: one self-contained page (inline CSS and SVG, no scripts, no network) per run.

It shows the statistics, the equity and drawdown curves, and the trade list. Long curves are reduced to
the lowest and highest point of each pixel column, so the page stays small without hiding a drawdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from ingenium.backtest.results import BacktestResult
from ingenium.backtest.stats import display_rows

WIDTH, HEIGHT, PAD = 960, 260, 48
MAX_TRADES = 1000

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2330;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:.2rem .7rem;border-bottom:1px solid #e3e6ec;text-align:right}th{background:#f4f6f9}
td:first-child,th:first-child{text-align:left}.stats td:first-child{color:#5a6272}
svg{background:#fbfcfd;border:1px solid #e3e6ec}.note{color:#5a6272}
"""


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


def _chart(title: str, times: Sequence[datetime], values: Sequence[float], colour: str, fill: bool) -> str:
    if not times:
        return f"<p class='note'>No {escape(title.lower())}: no bars.</p>"
    points = _columns(times, values, WIDTH - 2 * PAD)
    low, high = min(v for _, v in points), max(v for _, v in points)
    if fill:
        high = max(high, 0.0)
    span = (high - low) or 1.0

    def y(v: float) -> float:
        return PAD / 2 + (high - v) / span * (HEIGHT - PAD)

    path = " ".join(f"{'M' if i == 0 else 'L'}{PAD + x:.1f},{y(v):.1f}" for i, (x, v) in enumerate(points))
    area = f"<path d='{path} L{PAD + points[-1][0]:.1f},{y(0):.1f} L{PAD:.1f},{y(0):.1f} Z' " \
           f"fill='{colour}' fill-opacity='.25' stroke='none'/>" if fill else ""
    def label(v: float) -> str:
        return f"{v:.2%}" if fill else f"{v:,.2f}"

    first, last = times[0].strftime("%Y-%m-%d %H:%M"), times[-1].strftime("%Y-%m-%d %H:%M")
    return (
        f"<h2>{escape(title)}</h2><svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {HEIGHT}' "
        f"width='100%' role='img' aria-label='{escape(title)}'>{area}"
        f"<path d='{path}' fill='none' stroke='{colour}' stroke-width='1.2'/>"
        f"<text x='4' y='{y(high) + 4:.1f}' font-size='11'>{label(high)}</text>"
        f"<text x='4' y='{y(low) + 4:.1f}' font-size='11'>{label(low)}</text>"
        f"<text x='{PAD}' y='{HEIGHT - 4}' font-size='11'>{first}</text>"
        f"<text x='{WIDTH - PAD}' y='{HEIGHT - 4}' font-size='11' text-anchor='end'>{last}</text></svg>"
    )


def render_report(result: BacktestResult) -> str:
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
    fills = result.fills[:MAX_TRADES]
    trades = "".join(
        f"<tr><td>{f.timestamp.isoformat()}</td><td>{escape(f.symbol)}</td><td>{f.side.value}</td>"
        f"<td>{f.quantity}</td><td>{f.price}</td><td>{f.commission}</td></tr>" for f in fills
    )
    more = (f"<p class='note'>First {MAX_TRADES} of {len(result.fills)} fills; trades.csv has them all.</p>"
            if len(result.fills) > MAX_TRADES else "")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Ingenium {escape(result.kind)} {escape(result.run_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(config.strategy)} <small class='note'>({escape(params)})</small></h1>"
        f"<p class='note'>{escape(result.kind)} {escape(result.run_id)} · {result.bars} bars of "
        f"{escape(', '.join(result.symbols))} from {escape(result.source)} · cash {config.cash} · "
        f"fills at {escape(config.fill.replace('_', ' '))}</p>"
        f"<table class='stats'>{rows}</table>"
        f"{_chart('Equity', result.times, equity, '#2459c4', False)}"
        f"{_chart('Drawdown', result.times, drawdown, '#c43d24', True)}"
        f"<h2>Trades</h2>{more}<table><tr><th>time</th><th>symbol</th><th>side</th><th>quantity</th>"
        f"<th>price</th><th>commission</th></tr>{trades}</table></body></html>\n"
    )
