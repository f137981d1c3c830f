"""Peak memory of a long backtest fed in batches: SMA(10/20) (or --fast/--slow) over N one-minute bars.

The bars are made a batch at a time (a seeded random walk in numpy), checked as ``Bars`` and fed to one
``Engine``, so no more than a batch of bars exists at once; the run keeps its fills, trades and its equity curve
(compact, ``ingenium.backtest.curve``). Prints the peak RSS (``ru_maxrss``) after each tenth of the run: a bounded
run levels off instead of growing with the bars. Given several sizes, each runs in its own process (a peak RSS
is per process) and the peaks are compared: the ratio of the largest to the smallest, and the bytes each further
bar cost.

    .venv/bin/python bench/memory.py --bars 1000000 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.backtest import ingenium_config
from ingenium.backtest import Engine
from ingenium.bars import bars_from_columns

T0 = datetime(2020, 1, 6, tzinfo=UTC)
BATCH = 65_536


def peak_mib() -> float:
    """The process's peak resident set so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch(first: int, size: int, price: int, rng: np.random.Generator) -> tuple[pa.Table, int]:
    """``size`` one-minute bars from bar ``first`` on, opening at ``price`` cents; and the last close."""
    closes = np.maximum(1_000, price + np.cumsum(rng.integers(-20, 21, size)))
    opens = np.concatenate(([price], closes[:-1]))
    highs = np.maximum(opens, closes) + rng.integers(0, 9, size)
    lows = np.minimum(opens, closes) - rng.integers(0, 9, size)
    start = int(T0.timestamp()) * 1_000_000 + first * 60_000_000
    times = pa.array(start + np.arange(size, dtype=np.int64) * 60_000_000, pa.int64()).cast(pa.timestamp("us", "UTC"))
    table = pa.table({"timestamp": times, **{name: pa.array(values / 100) for name, values in
                                             (("open", opens), ("high", highs), ("low", lows), ("close", closes))}})
    return table, int(closes[-1])


async def run(n: int, fast: int, slow: int) -> None:
    config = ingenium_config(fast, slow)
    config.classes()
    engine = Engine(config)
    await engine.start()
    rng = np.random.default_rng(20240301)
    price, done, started, tenth = 10_000, 0, time.perf_counter(), max(1, n // 10)
    print(f"before the run: peak RSS {peak_mib():,.0f} MiB")
    while done < n:
        size = min(BATCH, n - done)
        table, price = batch(done, size, price, rng)
        await engine.feed(bars_from_columns(table, symbol="bench", period="1m", source="random walk"))
        before, done = done, done + size
        if done // tenth != before // tenth:
            rate = done / (time.perf_counter() - started)
            print(f"{done:>12,} bars   peak RSS {peak_mib():>7,.0f} MiB   {rate:,.0f} bars/s")
    await engine.stop()
    result = engine.result(run_id="memory", kind="backtest", source="random walk")
    print(f"done: {n:,} bars, {len(result.fills):,} fills, {len(result.equity):,} equity points, final equity "
          f"{result.stats.final_equity}, sharpe {result.stats.sharpe:.3f}; peak RSS {peak_mib():,.0f} MiB")


def compare(sizes: list[int], fast: int, slow: int) -> None:
    """Run each size in a child process; print each peak RSS, the ratio of the last to the first, and bytes/bar."""
    peaks: list[float] = []
    for n in sizes:
        child = subprocess.run([sys.executable, __file__, "--bars", str(n), "--fast", str(fast), "--slow", str(slow)],
                               capture_output=True, text=True, check=True)
        found = re.search(r"done: .*peak RSS ([\d,]+) MiB", child.stdout)
        if found is None:
            raise SystemExit(f"no peak RSS in the {n:,}-bar run's output:\n{child.stdout}{child.stderr}")
        peaks.append(float(found.group(1).replace(",", "")))
        print(child.stdout.strip().splitlines()[-1])
    for n, peak in zip(sizes, peaks, strict=True):
        print(f"{n:>12,} bars: peak RSS {peak:>7,.0f} MiB")
    growth = (peaks[-1] - peaks[0]) * 2**20 / (sizes[-1] - sizes[0])
    print(f"peak RSS ratio {sizes[-1]:,} / {sizes[0]:,} bars: {peaks[-1] / peaks[0]:.2f}x "
          f"(bars {sizes[-1] / sizes[0]:.0f}x); {growth:,.0f} B per further bar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="number(s) of one-minute bars (default 1M and 10M, each in its own process)")
    parser.add_argument("--fast", type=int, default=10, help="fast SMA (default 10)")
    parser.add_argument("--slow", type=int, default=20, help="slow SMA (default 20; 400 with --fast 50 is a quieter "
                                                           "load, a crossing every few hundred bars)")
    args = parser.parse_args()
    sizes = sorted(set(args.bars))
    if len(sizes) > 1:
        compare(sizes, args.fast, args.slow)
        return
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(sizes[0], args.fast, args.slow))


if __name__ == "__main__":
    main()
