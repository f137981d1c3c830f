"""Daily, weekly and session data load as they are; gaps are counted; an exchange calendar reports what is missing.

Every test runs the real ``ingenium backtest`` command (or ``read_bars`` + ``backtest`` with the live SmaCross,
RiskPortfolio and PaperExecutor) on a file written here.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from ingenium.backtest import BacktestConfig, BarFileError, backtest, read_bars
from ingenium.cli.main import app

NEW_YORK = ZoneInfo("America/New_York")
SMA = ["--strategy", "services.strategies:SmaCross", "--param", "fast=2", "--param", "slow=3",
       "--portfolio-param", "quantity=10"]


def price(i: int) -> int:
    return 100 + (i % 7) * 3 - (i % 3) * 2  # a zigzag that crosses its averages often


def write(path: Path, stamps: list[str], header: str = "date") -> Path:
    rows = [f"{header},open,high,low,close,volume"]
    for i, stamp in enumerate(stamps):
        close, opened = price(i), price(i - 1) if i else price(0)
        rows.append(f"{stamp},{opened},{max(opened, close) + 1},{min(opened, close) - 1},{close},1000")
    path.write_text("\n".join(rows) + "\n")
    return path


def weekdays(first: date, last: date, *, skip: tuple[date, ...] = ()) -> list[date]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [d for d in days if d.weekday() < 5 and d not in skip]


def run(*args: str) -> tuple[int, str, dict[str, Any]]:
    out = Path(args[args.index("--out") + 1]) if "--out" in args else None
    result = CliRunner().invoke(app, ["backtest", *SMA, *args])
    summary = json.loads((out / "summary.json").read_text()) if out and result.exit_code == 0 else {}
    return result.exit_code, result.output, summary


HOLIDAYS_2024 = tuple(date(2024, m, d) for m, d in (  # the weekdays the NYSE was closed
    (1, 1), (1, 15), (2, 19), (3, 29), (5, 27), (6, 19), (7, 4), (9, 2), (11, 28), (12, 25)))


def test_daily_bars_with_weekends_and_holidays_load_with_no_option(tmp_path: Path) -> None:
    days = weekdays(date(2024, 1, 2), date(2024, 4, 30), skip=HOLIDAYS_2024)
    data = write(tmp_path / "acme.csv", [d.isoformat() for d in days])
    code, output, summary = run("--data", str(data), "--out", str(tmp_path / "out"))
    assert code == 0, output
    # Weekends are no gap in data that has no weekend bars; the three holidays inside the span are.
    assert summary["data"]["gaps"] == 3 and summary["data"]["missing_bars"] == 3
    assert "3 gap(s) accepted" in output
    assert summary["data"]["bars"] == len(days) and summary["stats"]["fills"] > 0
    assert summary["stats"]["periods_per_year"] == 252


def test_gaps_are_an_error_only_when_asked(tmp_path: Path) -> None:
    days = weekdays(date(2024, 1, 2), date(2024, 2, 28), skip=HOLIDAYS_2024)
    data = write(tmp_path / "acme.csv", [d.isoformat() for d in days])
    code, output, _ = run("--data", str(data), "--gaps", "error", "--out", str(tmp_path / "out"))
    assert code == 1 and len(output.strip().splitlines()) == 1
    assert "acme at 2024-01-16T00:00:00+00:00 follows line 10 after 4 days, 0:00:00, a gap (1 missing weekday" in output
    assert "drop --gaps error to accept gaps" in output
    code, output, summary = run("--data", str(data), "--gaps", "warn", "--out", str(tmp_path / "warned"))
    assert code == 0 and len(summary["data"]["warnings"]) == summary["data"]["gaps"] == 2
    code, output, _ = run("--data", str(data), "--gaps", "never", "--out", str(tmp_path / "o"))
    assert code == 1 and "--gaps 'never': use accept, warn or error" in output


def test_weekly_bars_labelled_by_their_last_trading_day_load_with_no_option(tmp_path: Path) -> None:
    fridays = [date(2024, 1, 5) + timedelta(weeks=n) for n in range(30)]
    # Good Friday: that week's bar is dated Thursday, six days after the previous one.
    labels = [d - timedelta(days=1) if d == date(2024, 3, 29) else d for d in fridays]
    data = write(tmp_path / "acme.csv", [d.isoformat() for d in labels])
    code, output, summary = run("--data", str(data), "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert summary["data"]["gaps"] == 0 and summary["stats"]["periods_per_year"] == 52
    bars = read_bars(data)
    assert set(bars.periods) == {"1w"}


def test_daily_bars_across_a_daylight_saving_change_load(tmp_path: Path) -> None:
    # Closing prints at 16:00 New York: 21:00 UTC in winter, 20:00 UTC after 10 March, a 23-hour "day".
    days = weekdays(date(2024, 2, 20), date(2024, 3, 29), skip=HOLIDAYS_2024)
    data = write(tmp_path / "acme.csv", [f"{d.isoformat()} 16:00:00" for d in days], header="timestamp")
    code, output, summary = run("--data", str(data), "--tz", "America/New_York", "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert summary["data"]["gaps"] == 0 and summary["stats"]["periods_per_year"] == 252


def test_a_calendar_reports_a_missing_session_and_annualises_by_its_sessions(tmp_path: Path) -> None:
    missing = date(2024, 3, 5)
    days = weekdays(date(2024, 1, 2), date(2024, 12, 31), skip=(*HOLIDAYS_2024, missing))
    data = write(tmp_path / "acme.csv", [d.isoformat() for d in days])
    code, output, summary = run("--data", str(data), "--calendar", "XNYS", "--out", str(tmp_path / "out"))
    assert code == 0, output
    data_summary = summary["data"]
    # Only the session the file lacks is a gap: weekends and the exchange's holidays (all of 2024's) are not.
    assert data_summary["gaps"] == 1 and data_summary["missing_bars"] == 1
    [warning] = data_summary["warnings"]
    assert "acme has 1 of the 1 1d bar(s) XNYS expects in its session of 2024-03-05 missing" in warning
    assert "session of 2024-03-05" in " ".join(output.split())  # the console may wrap the line
    assert summary["config"]["calendar"] == "XNYS"
    assert summary["stats"]["periods_per_year"] == 252  # NYSE had 252 sessions in 2024
    code, output, _ = run("--data", str(data), "--calendar", "XNYS", "--gaps", "error", "--out", str(tmp_path / "o"))
    assert code == 1 and "session of 2024-03-05" in output and len(output.strip().splitlines()) == 1


def session_minutes(day: date, close: time = time(16)) -> list[datetime]:
    start = datetime.combine(day, time(9, 30), NEW_YORK)
    end = datetime.combine(day, close, NEW_YORK)
    return [(start + timedelta(minutes=m)).astimezone(UTC) for m in range(int((end - start) / timedelta(minutes=1)))]


def test_a_bar_missing_inside_a_session_is_reported(tmp_path: Path) -> None:
    # Two full sessions and the day after Thanksgiving, which closes at 13:00.
    minutes = session_minutes(date(2024, 11, 26)) + session_minutes(date(2024, 11, 27))
    minutes += session_minutes(date(2024, 11, 29), close=time(13))
    lost = minutes.pop(500)  # 2024-11-27 at 11:20 New York
    data = write(tmp_path / "acme.csv", [t.isoformat() for t in minutes], header="timestamp")
    bars = read_bars(data, calendar="XNYS")
    assert (bars.gaps, bars.missing_bars, bars.calendar) == (1, 1, "XNYS")
    assert bars.warnings == (f"{data}: acme has 1 of the 390 1m bar(s) XNYS expects in its session of 2024-11-27 "
                             f"missing, the first at {lost.isoformat()}",)
    config = BacktestConfig(strategy="services.strategies:SmaCross", strategy_params={"fast": 5, "slow": 20},
                            calendar="XNYS")
    result = backtest(config, bars)
    assert result.summary()["data"]["gaps"] == 1
    # Bars per year: NYSE's sessions in 2024 (252) times the mean length of the sessions spanned, in minutes.
    assert result.stats.periods_per_year == pytest.approx(252 * (390 + 390 + 210) / 3)
    plain = read_bars(data)  # without the calendar, every night is a gap
    assert plain.gaps == 3 and plain.warnings == ()


def test_bars_outside_the_sessions_are_reported(tmp_path: Path) -> None:
    day = date(2024, 11, 26)
    minutes = session_minutes(day)
    early = [datetime.combine(day, time(9, 25), NEW_YORK).astimezone(UTC) + timedelta(minutes=m) for m in range(5)]
    data = write(tmp_path / "acme.csv", [t.isoformat() for t in early + minutes], header="timestamp")
    bars = read_bars(data, calendar="XNYS")
    assert bars.gaps == 0
    assert bars.warnings == (f"{data}: 5 bar(s) of acme fall outside XNYS's sessions, the first at line 2 "
                             f"({early[0].isoformat()}); check --tz and that timestamps are bar starts",)


def test_an_unknown_calendar_is_one_line(tmp_path: Path) -> None:
    data = write(tmp_path / "acme.csv", [d.isoformat() for d in weekdays(date(2024, 1, 2), date(2024, 1, 31))])
    code, output, _ = run("--data", str(data), "--calendar", "MOON", "--out", str(tmp_path / "o"))
    assert code == 1 and len(output.strip().splitlines()) == 1
    assert "unknown exchange calendar 'MOON'; use an exchange-calendars code such as XNYS" in output
    with pytest.raises(BarFileError, match="falls in the same day as line 2"):
        read_bars(write(tmp_path / "twice.csv", ["2024-01-02", "2024-01-02T12:00:00"], header="timestamp"),
                  period="1d")


@pytest.mark.parametrize(("stamps", "expected"), [
    # One-minute bars of two 6.5-hour sessions: 252 days of 390 bars (a 24/7 count would be 525,960).
    ([t.isoformat() for t in session_minutes(date(2024, 11, 26)) + session_minutes(date(2024, 11, 27))],
     252 * 390),
    # Hourly bars around the clock, every day: 365 days of 24.
    ([(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=h)).isoformat() for h in range(24 * 20)], 365 * 24),
    # Daily bars every day of the week (crypto).
    ([(date(2024, 1, 1) + timedelta(days=d)).isoformat() for d in range(60)], 365),
])
def test_periods_per_year_come_from_the_data(tmp_path: Path, stamps: list[str], expected: int) -> None:
    data = write(tmp_path / "acme.csv", stamps, header="timestamp")
    code, output, summary = run("--data", str(data), "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert summary["stats"]["periods_per_year"] == expected


def test_a_lunch_break_and_weekly_bars_against_a_calendar(tmp_path: Path) -> None:
    hong_kong = ZoneInfo("Asia/Hong_Kong")
    day = date(2024, 11, 26)
    morning = [datetime.combine(day, time(9, 30), hong_kong) + timedelta(minutes=m) for m in range(150)]
    afternoon = [datetime.combine(day, time(13), hong_kong) + timedelta(minutes=m) for m in range(180)]
    data = write(tmp_path / "hk.csv", [t.astimezone(UTC).isoformat() for t in morning + afternoon], header="timestamp")
    bars = read_bars(data, calendar="XHKG")
    assert (bars.gaps, bars.warnings) == (0, ())  # no bar is expected during the lunch break

    mondays = [date(2024, 1, 1) + timedelta(weeks=n) for n in range(20)]
    del mondays[7]  # the week of 19 February had sessions (the Monday was a holiday), so it lacks a bar
    weekly = write(tmp_path / "weekly.csv", [d.isoformat() for d in mondays])
    bars = read_bars(weekly, calendar="XNYS")
    assert (bars.gaps, bars.missing_bars) == (1, 1)
    [warning] = bars.warnings
    assert "1w bar(s) XNYS expects in its session of 2024-02-20 missing" in warning


def test_an_unknown_calendar_is_refused_before_the_run() -> None:
    with pytest.raises(ValueError, match="unknown exchange calendar 'MOON'"):
        BacktestConfig(strategy="services.strategies:SmaCross", calendar="MOON")
    assert BacktestConfig(strategy="services.strategies:SmaCross", calendar="xnys").calendar == "XNYS"
