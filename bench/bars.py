"""Loading and validating bar files: ``ingenium.bars.read_bars`` beside a raw pyarrow read of the same file.

Writes N one-minute bars (a seeded random walk, prices as two-decimal text) as CSV and as Parquet, then times,
in the same run and on the same files,
  (a) the raw baseline: ``pyarrow.csv.read_csv`` / ``pyarrow.parquet.read_table`` of the file, nothing checked;
  (b) ``read_bars``: reading plus every check (times, prices, OHLC bracket, order, period, gaps), vectorised;
  (c) building the Python values of every bar (``Decimal`` prices, datetimes, ids), batch by batch, as a
      backtest does while it runs.

    .venv/bin/python bench/bars.py                 # 1,000,000 bars
    .venv/bin/python bench/bars.py --bars 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingenium.bars import read_bars

TARGET = 1.0  # seconds for 1M bars, read and validated (issue #15)


def random_walk(n: int, seed: int = 20240301) -> pa.Table:
    """N one-minute bars from 2020-01-06, prices in cents written as text with two decimals."""
    rng = np.random.default_rng(seed)
    closes = np.maximum(1_000, 10_000 + np.cumsum(rng.integers(-20, 21, n)))
    opens = np.concatenate([[10_000], closes[:-1]])
    highs = np.maximum(opens, closes) + rng.integers(0, 9, n)
    lows = np.minimum(opens, closes) - rng.integers(0, 9, n)
    start = np.datetime64("2020-01-06T00:00:00", "s").astype(np.int64)
    stamps = pa.array((start + 60 * np.arange(n)) * 1_000_000, pa.int64()).cast(pa.timestamp("us", "UTC"))

    def text(cents: np.ndarray) -> pa.Array:
        return pa.array([f"{c // 100}.{c % 100:02d}" for c in cents.tolist()], pa.string())

    return pa.table({"timestamp": stamps, "open": text(opens), "high": text(highs), "low": text(lows),
                     "close": text(closes), "volume": pa.array(rng.integers(1, 1_000, n))})


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    fastest, out = math.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000, help="number of one-minute bars (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts (noisy machines)")
    args = parser.parse_args()
    n = args.bars
    table = random_walk(n)
    with tempfile.TemporaryDirectory(prefix="bench-bars-") as folder:
        csv_file, parquet_file = Path(folder) / "bench.csv", Path(folder) / "bench.parquet"
        times = pa.array(table.column("timestamp").cast(pa.int64()).to_numpy() // 1_000_000).cast(pa.timestamp("s"))
        pcsv.write_csv(table.set_column(0, "timestamp", pa.compute.strftime(times, "%Y-%m-%dT%H:%M:%SZ")), csv_file)
        pq.write_table(table, parquet_file)
        print(f"bars: {n:,}   best of {args.repeat}   CSV {csv_file.stat().st_size / 1e6:.0f} MB, "
              f"Parquet {parquet_file.stat().st_size / 1e6:.0f} MB")
        for kind, file, raw in (("CSV", csv_file, lambda f=csv_file: pcsv.read_csv(f)),
                                ("Parquet", parquet_file, lambda f=parquet_file: pq.read_table(f))):
            baseline, _ = best(args.repeat, raw)
            ours, bars = best(args.repeat, lambda f=file: read_bars(f, symbol="bench"))
            assert len(bars) == n and bars.gaps == 0
            built, _ = best(1, lambda b=bars: sum(len(batch) for batch in b.batches()))
            scaled = ours * 1_000_000 / n
            print(f"{kind:8} (a) raw pyarrow read   {baseline:6.3f} s")
            print(f"{kind:8} (b) read_bars          {ours:6.3f} s   {ours / baseline:5.1f}x the raw read   "
                  f"{n / ours:>12,.0f} bars/s   {'within' if scaled < TARGET else 'OVER'} the {TARGET:.0f} s "
                  "target for 1M bars")
            print(f"{kind:8} (c) Python values      {built:6.3f} s   {n / built:>12,.0f} bars/s (during a run)")


if __name__ == "__main__":
    main()
