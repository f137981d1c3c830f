"""Writing a run's files: ``trades.csv``, ``equity.csv``, ``summary.json`` and ``report.html``.

Output depends only on the result (rows in run order, keys sorted), so the same run writes the same bytes.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from ingenium.backtest.report import RunOutcome, render_report
from ingenium.errors import ConfigurationError


def rfc3339(moment: datetime) -> str:
    """Format a UTC time as RFC 3339 with ``Z``, as the wire does."""
    return moment.isoformat().replace("+00:00", "Z")


def write_all(result: RunOutcome, directory: Path) -> Path:
    """Write the four files of ``result`` into ``directory`` (created if needed); returns the directory."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create output directory {directory}: {exc.strerror}") from None
    write_trades(result, directory / "trades.csv")
    write_equity(result, directory / "equity.csv")
    write_summary(result, directory / "summary.json")
    (directory / "report.html").write_text(render_report(result), encoding="utf-8")
    return directory


def write_trades(result: RunOutcome, path: Path) -> None:
    """Write one line per fill: timestamp, symbol, side, quantity, price, commission."""
    lines = ["timestamp,symbol,side,quantity,price,commission"]
    lines.extend(
        f"{rfc3339(f.timestamp)},{f.symbol},{f.side.value},{f.quantity},{f.price},{f.commission}"
        for f in result.fills
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_equity(result: RunOutcome, path: Path) -> None:
    """Write one line per bar end: timestamp, equity."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("timestamp,equity\n")
        out.writelines(f"{rfc3339(t)},{e}\n" for t, e in zip(result.times, result.equity, strict=True))


def write_summary(result: RunOutcome, path: Path) -> None:
    """Write the run's inputs and statistics as indented JSON with sorted keys."""
    path.write_text(json.dumps(result.summary(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
