"""Generating the sample data set.

Four fictional symbols, one trading day of one-minute bars each (14:30-21:00 UTC, 2 January 2024), from
``RandomWalk`` with seed ``SAMPLE_SEED = 20240102``. ``ingenium sample-data`` writes it; the copy shipped in
``services/data/sample_bars.csv`` is byte-for-byte what this module generates (a test checks it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from services.ingestors.random_walk import RandomWalk

SAMPLE_SEED = 20240102
SAMPLE_START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
SAMPLE_BARS = 390
#: Symbol → price before the first bar.
SAMPLE_SYMBOLS: dict[str, Decimal] = {
    "ACME": Decimal("100.00"),
    "GLOBEX": Decimal("48.50"),
    "INITECH": Decimal("21.30"),
    "UMBRELLA": Decimal("250.00"),
}
SAMPLE_FILE = Path(__file__).with_name("sample_bars.csv")
HEADER = "timestamp,symbol,open,high,low,close,volume"


def sample_csv(
    *, seed: int = SAMPLE_SEED, bars: int = SAMPLE_BARS, symbols: dict[str, Decimal] | None = None
) -> str:
    """The sample data set as CSV text, rows in (time, symbol) order."""
    prices = symbols if symbols is not None else SAMPLE_SYMBOLS
    walks = [RandomWalk(name, seed=seed, start_price=price) for name, price in sorted(prices.items())]
    lines = [HEADER]
    for index in range(bars):
        stamp = (SAMPLE_START + timedelta(minutes=index)).isoformat().replace("+00:00", "Z")
        for walk in walks:
            o, h, low, c, v = walk.step()
            lines.append(f"{stamp},{walk.symbol},{o},{h},{low},{c},{v}")
    return "\n".join(lines) + "\n"


def write_sample(path: Path | None = None, *, seed: int = SAMPLE_SEED, bars: int = SAMPLE_BARS) -> Path:
    """Write the sample data set to ``path`` (the shipped file by default) and return the path."""
    target = path or SAMPLE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(sample_csv(seed=seed, bars=bars), encoding="utf-8")
    return target
