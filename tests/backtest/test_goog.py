"""On the GOOG daily bars that backtesting.py ships, ``ingenium backtest`` trades as backtesting.py does."""

from __future__ import annotations

import csv
import json
import re
import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ingenium.cli.main import app

backtesting = pytest.importorskip("backtesting")

from backtesting import Backtest  # noqa: E402
from backtesting.lib import crossover  # noqa: E402
from backtesting.test import GOOG  # noqa: E402
from backtesting.test._test import SmaCross  # noqa: E402  (its SmaCross lives in its test module)


class LongOnlySmaCross(SmaCross):  # type: ignore[misc]
    """backtesting.py's ``SmaCross`` on 10/20 bars, long only with one share.

    Its own closes and reverses on every crossing (``position.close(); buy()`` / ``sell()``); here a crossing up
    buys one share and a crossing down closes the position, which is what Ingenium's ``RiskPortfolio`` does with
    ``sizing=quantity quantity=1 long_only=true``. The averages are its own (``init`` is inherited).
    """

    fast = 10
    slow = 20

    def next(self) -> None:
        if crossover(self.sma1, self.sma2):
            self.buy(size=1)
        elif crossover(self.sma2, self.sma1):
            self.position.close()


def run_backtesting_py() -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = Backtest(GOOG, LongOnlySmaCross, commission=0).run()
    # It says the last trade is still open at the end of the data (the comparison expects that); the rest are
    # pandas deprecations inside backtesting.py.
    assert any("Some trades remain open" in str(w.message) for w in caught)
    return stats


@pytest.fixture(scope="module")
def goog_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output directory of one ``ingenium backtest`` run on GOOG."""
    tmp_path = tmp_path_factory.mktemp("goog")
    data = tmp_path / "GOOG.csv"
    GOOG.to_csv(data, index_label="date")  # written here: no third-party data is committed
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "backtest", "--strategy", "services.strategies:SmaCross", "--data", str(data),
        "--param", "fast=10", "--param", "slow=20",
        "--portfolio-param", "sizing=quantity", "--portfolio-param", "quantity=1",
        "--portfolio-param", "long_only=true",
        "--commission", "0", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    return out


def test_fills_and_equity_match_backtesting_py(goog_run: Path) -> None:
    """Fills and equity of ``ingenium backtest`` against backtesting.py's own run, on the same GOOG bars.

    Ingenium: ``services.strategies:SmaCross`` (fast=10, slow=20), ``RiskPortfolio`` with one share, long only,
    ``PaperExecutor`` filling at the next bar's open without commission; the CSV is loaded with no option (its
    weekends and holidays are accepted). backtesting.py: ``Backtest(GOOG, LongOnlySmaCross, commission=0)``.

    Compared exactly: each closed trade of backtesting.py is a buy fill at its ``EntryTime`` and ``EntryPrice``
    followed by a sell fill at its ``ExitTime`` and ``ExitPrice``, and its trade still open at the end is
    Ingenium's last buy, in the same order with nothing else; a fill's date is the date of the bar whose open it
    took. Then the equity curve: one point per bar, dated by the bar's own date, equal to backtesting.py's
    ``Equity`` at every bar. And the summary counts as trades what backtesting.py counts (closed round trips).
    """
    stats = run_backtesting_py()
    expected: list[tuple[str, str, Decimal]] = []
    for trade in stats._trades.itertuples():
        expected.append((trade.EntryTime.date().isoformat(), "buy", Decimal(str(trade.EntryPrice))))
        expected.append((trade.ExitTime.date().isoformat(), "sell", Decimal(str(trade.ExitPrice))))
    for trade in stats._strategy.trades:  # still open at the end of the data
        expected.append((trade.entry_time.date().isoformat(), "buy", Decimal(str(trade.entry_price))))

    out = goog_run
    with (out / "trades.csv").open() as handle:
        fills = [(r["timestamp"], r["side"], Decimal(r["price"]), r["quantity"]) for r in csv.DictReader(handle)]
    assert len(expected) == 93 and len(fills) == len(expected)
    assert all(t.endswith("T00:00:00Z") and q == "1" for t, _, _, q in fills)
    assert [(t[:10], side, price) for t, side, price, _ in fills] == expected

    with (out / "equity.csv").open() as handle:
        equity = [(row["timestamp"][:10], float(row["equity"])) for row in csv.DictReader(handle)]
    theirs = stats._equity_curve["Equity"]
    assert [t for t, _ in equity] == [t.date().isoformat() for t in theirs.index]
    assert [v for _, v in equity] == pytest.approx(list(theirs), abs=1e-6)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["stats"]["trades"] == stats["# Trades"] == 46
    assert summary["stats"]["fills"] == 93
    assert summary["stats"]["periods_per_year"] == 252  # daily bars without weekend bars: equities


def test_no_fill_or_equity_point_is_dated_on_a_weekend(goog_run: Path) -> None:
    """GOOG trades on weekdays only; dated by bar ends, 30 of its fills used to fall on a Saturday."""
    for name in ("trades.csv", "equity.csv"):
        with (goog_run / name).open() as handle:
            days = [date.fromisoformat(row["timestamp"][:10]) for row in csv.DictReader(handle)]
        assert days and all(d.weekday() < 5 for d in days), name


def test_report_lists_round_trips_with_pnl_buy_and_hold_and_marked_fills(goog_run: Path) -> None:
    """report.html: the trades are round trips (as summary.json and backtesting.py count them), each with the PnL
    backtesting.py gives that trade; the equity chart has a buy-and-hold line; the price chart marks every fill."""
    stats = run_backtesting_py()
    html = (goog_run / "report.html").read_text()
    summary = json.loads((goog_run / "summary.json").read_text())

    assert "<h2 id='trades'>Trades: 46 round trips</h2>" in html
    assert "<tr><td>trades</td><td>46</td></tr>" in html  # the statistics table counts the same trades
    table = html.split("<table class='trades'>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\d+)</td><td>GOOG</td><td>long</td><td>([^<]+)</td><td>([^<]+)</td>"
                      r"<td class='\w*'>([^<]+)</td></tr>", table)
    assert len(rows) == summary["stats"]["trades"] == len(stats._trades)
    for (_, opened, closed, pnl), trade in zip(rows, stats._trades.itertuples(), strict=True):
        assert opened[:10] == trade.EntryTime.date().isoformat() and closed[:10] == trade.ExitTime.date().isoformat()
        assert Decimal(pnl) == Decimal(str(round(trade.PnL, 4)))

    equity_chart = html.split("<h2>Equity</h2>", 1)[1].split("</svg>", 1)[0]
    assert ">strategy</text>" in equity_chart and ">buy and hold</text>" in equity_chart
    assert equity_chart.count("fill='none' stroke=") == 2  # the two lines

    price_chart = html.split("<h2>GOOG: price (close) and fills", 1)[1].split("</svg>", 1)[0]
    assert price_chart.count("fill='#1d7a3a'/>") == 47  # a ▲ per buy
    assert price_chart.count("fill='#b3261e'/>") == 46  # a ▼ per sell
    assert f"<h2 id='fills'>Fills: {summary['stats']['fills']}</h2>" in html


def test_buy_and_hold_holds_the_cash_in_the_symbol(goog_run: Path) -> None:
    from ingenium.backtest import BacktestConfig, backtest, read_bars
    from ingenium.backtest.report import buy_and_hold

    bars = read_bars(goog_run.parent / "GOOG.csv")
    result = backtest(BacktestConfig(strategy="services.strategies:SmaCross",
                                     strategy_params={"fast": 10, "slow": 20}), bars)
    line = buy_and_hold(result)
    closes = [float(c) for c in bars.closes]
    assert len(line) == len(result.equity)
    assert line == pytest.approx([10_000 * c / closes[0] for c in closes])
