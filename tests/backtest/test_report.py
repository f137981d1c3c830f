"""report.html of a multi-symbol long/short run: trades counted as round trips, buy-and-hold, marked fills."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from ingenium.backtest import backtest, read_bars
from ingenium.backtest.report import buy_and_hold
from tests.backtest.test_engine import SAMPLE, services_config


def test_report_and_summary_count_the_same_trades(tmp_path: Path) -> None:
    bars = read_bars(SAMPLE)
    config = services_config(portfolio_params={"sizing": "quantity", "quantity": "10", "long_only": False})
    result = backtest(config, bars)
    out = result.write(tmp_path / "run")
    html = (out / "report.html").read_text()
    summary = json.loads((out / "summary.json").read_text())
    trips = result.round_trips
    assert {t.direction for t in trips} == {"long", "short"} and len(trips) > 10  # flips included
    assert summary["stats"]["trades"] == len(trips)
    assert f"<h2 id='trades'>Trades: {len(trips)} round trips</h2>" in html
    table = html.split("<table class='trades'>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>\d+</td><td>(\w+)</td><td>(long|short)</td><td>([^<]+)</td><td>([^<]+)</td>"
                      r"<td class='\w*'>([^<]+)</td></tr>", table)
    assert [(s, d, o, c, Decimal(p)) for s, d, o, c, p in rows] == [
        (t.symbol, t.direction, t.opened.isoformat(), t.closed.isoformat(), t.pnl) for t in trips]
    for symbol in result.symbols:
        chart = html.split(f"<h2>{symbol}: price (close) and fills", 1)[1].split("</svg>", 1)[0]
        marks = chart.count("fill='#1d7a3a'/>") + chart.count("fill='#b3261e'/>")
        assert marks == sum(1 for f in result.fills if f.symbol == symbol)

    # Buy and hold: the cash split evenly over the symbols at their first close, valued at each bar's close.
    line = buy_and_hold(result)
    firsts = {s: float(closes[0]) for s, (_, closes) in result.prices.items()}
    lasts = {s: float(closes[-1]) for s, (_, closes) in result.prices.items()}
    share = float(config.cash) / len(firsts)
    assert line[-1] == pytest.approx(sum(share * lasts[s] / firsts[s] for s in firsts))
    assert line[0] == pytest.approx(float(config.cash))
