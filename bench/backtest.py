"""Backtest throughput: SMA(10/20) crossover over N one-minute bars, Ingenium beside two baselines.

Prints bars per second, in the same run and on the same bars, of
  (a) a bare Python loop that only computes the two SMAs and their crossings (the floor of a Python backtest),
  (b) backtesting.py's SmaCross (its documented example: close and reverse on each crossing),
  (c) ``ingenium.backtest`` running the live classes: ``services.strategies:SmaCross``,
      ``services.portfolio:RiskPortfolio`` (long/short, 90% of equity) and ``services.executor:PaperExecutor``
      (fills at the next bar's open), including the equity curve and statistics, excluding file loading,
  (d) NautilusTrader when installed (``pip install '.[peers]'``; ``bench/peers/nautilus.py``), else skipped,
on the trade-heavy SMA(10/20) and on a quieter SMA(50/400) (a crossing every few hundred bars).

    .venv/bin/python bench/backtest.py            # 1,000,000 bars
    .venv/bin/python bench/backtest.py --bars 100000 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import math
import pstats
import random
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peers.nautilus import installed, run_nautilus
from ingenium.backtest import BacktestConfig, Bars, backtest_async
from ingenium.bars import bars_from_columns

FAST, SLOW = 10, 20
T0 = datetime(2020, 1, 6, tzinfo=UTC)


def random_walk(n: int, seed: int = 20240301) -> tuple[list[int], list[int], list[int], list[int]]:
    """Opens, highs, lows, closes in cents: a seeded random walk, each bar opening at the previous close."""
    rng = random.Random(seed)
    price = 10_000
    opens, highs, lows, closes = [], [], [], []
    for _ in range(n):
        o = price
        price = max(1_000, price + rng.randint(-20, 20))
        opens.append(o)
        closes.append(price)
        highs.append(max(o, price) + rng.randint(0, 8))
        lows.append(min(o, price) - rng.randint(0, 8))
    return opens, highs, lows, closes


def bare_loop(closes: list[int], fast: int = FAST, slow: int = SLOW) -> int:
    """The floor: two running sums and a comparison per bar; returns the number of crossings.

    Prices are integer cents, so the sums are exact like the strategy's Decimal sums, and a tie (the averages
    equal) is skipped as the strategy skips it: both count exactly the same crossings.
    """
    fast_sum = slow_sum = 0
    above = None
    crossings = 0
    for i, close in enumerate(closes):
        fast_sum += close
        slow_sum += close
        if i >= fast:
            fast_sum -= closes[i - fast]
        if i >= slow:
            slow_sum -= closes[i - slow]
        if i >= slow - 1:
            fast_scaled, slow_scaled = fast_sum * slow, slow_sum * fast
            if fast_scaled != slow_scaled:
                now = fast_scaled > slow_scaled
                if above is not None and now != above:
                    crossings += 1
                above = now
    return crossings


def run_backtesting_py(opens: list[int], highs: list[int], lows: list[int], closes: list[int], fast: int = FAST,
                       slow: int = SLOW) -> tuple[float, int]:
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        n1, n2 = fast, slow

        def init(self) -> None:
            close = self.data.Close
            self.sma1 = self.I(SMA, close, self.n1)
            self.sma2 = self.I(SMA, close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    index = pd.date_range(T0, periods=len(closes), freq="1min")
    frame = pd.DataFrame({"Open": opens, "High": highs, "Low": lows, "Close": closes}, index=index) / 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, SmaCross, cash=10_000_000, commission=0.0, finalize_trades=True)
        started = time.perf_counter()
        stats = bt.run()
        elapsed = time.perf_counter() - started
    return elapsed, int(stats["# Trades"])


def make_bars(opens: list[int], highs: list[int], lows: list[int], closes: list[int]) -> Bars:
    cents = [Decimal(i).scaleb(-2) for i in range(0, max(highs) + 1)]  # shared Decimals, as a loader's cache would
    columns = {
        "timestamp": [T0 + timedelta(minutes=i) for i in range(len(closes))],
        "open": [cents[x] for x in opens], "high": [cents[x] for x in highs],
        "low": [cents[x] for x in lows], "close": [cents[x] for x in closes],
    }
    bars = bars_from_columns(columns, symbol="bench", period="1m", source="random walk")
    bars.materialise()  # Python values built here, outside the timed run, as the old loader built them
    return bars


def ingenium_config(fast: int = FAST, slow: int = SLOW) -> BacktestConfig:
    return BacktestConfig(
        strategy="services.strategies:SmaCross", strategy_params={"fast": fast, "slow": slow},
        portfolio="services.portfolio:RiskPortfolio",
        portfolio_params={"sizing": "equity_fraction", "equity_fraction": "0.9", "long_only": False},
        executor="services.executor:PaperExecutor", cash=Decimal(100_000), fill="next_open",
    )


def measure(args: argparse.Namespace, profiler: cProfile.Profile | None,
            walk: tuple[list[int], list[int], list[int], list[int]], bars: Bars, fast: int, slow: int, name: str,
            loading: float) -> None:
    """Rounds of (a) the bare loop, (b) backtesting.py, (c) ingenium and (d) NautilusTrader, the best of each."""
    opens, highs, lows, closes = walk
    n = len(closes)
    config = ingenium_config(fast, slow)
    bare = peer = elapsed = nautilus = math.inf
    trades = orders = 0
    # Rounds of each in turn, the best of each counted: a busy machine slows all alike.
    for _ in range(args.repeat):
        started = time.perf_counter()
        crossings = bare_loop(closes, fast, slow)
        bare = min(bare, time.perf_counter() - started)
        if not args.skip_backtesting_py:
            took, trades = run_backtesting_py(opens, highs, lows, closes, fast, slow)
            peer = min(peer, took)
        if not args.skip_nautilus and installed():
            ran = run_nautilus(opens, highs, lows, closes, T0, fast, slow)
            assert ran is not None
            nautilus, orders = min(nautilus, ran[0]), ran[1]
        gc.collect()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result = asyncio.run(backtest_async(config, bars))
        if profiler is not None:
            profiler.disable()
        elapsed = min(elapsed, time.perf_counter() - started)
    print(f"{name}: {n:,} bars   SMA({fast}) x SMA({slow}) crossings: {crossings:,}   best of {args.repeat}")
    print(f"(a) bare Python loop     {n / bare:>12,.0f} bars/s   {bare:7.2f} s")
    if peer < math.inf:
        print(f"(b) backtesting.py       {n / peer:>12,.0f} bars/s   {peer:7.2f} s   trades {trades:,}")
    print(f"(c) ingenium.backtest    {n / elapsed:>12,.0f} bars/s   {elapsed:7.2f} s   "
          f"signals {result.events['signal']:,}"
          f"  orders {result.events['order']:,}  fills {result.stats.fills:,}  (validating the bars took "
          f"{loading:.2f} s more)")
    if nautilus < math.inf:
        print(f"(d) NautilusTrader       {n / nautilus:>12,.0f} bars/s   {nautilus:7.2f} s   orders {orders:,} "
              "(float SMAs: a near-tie may cross where exact sums do not)")
    else:
        print("(d) NautilusTrader       skipped: " + ("--skip-nautilus" if args.skip_nautilus else
                                                      "not installed (pip install '.[peers]', Python 3.11: 1.221)"))
    if result.events["signal"] != crossings:
        raise SystemExit(f"the strategy emitted {result.events['signal']} signals for {crossings} crossings")
    print(f"ratios: the bare loop is {elapsed / bare:.1f}x faster than ingenium (target: within 15x)")
    if peer < math.inf:
        print(f"        ingenium is {peer / elapsed:.2f}x the speed of backtesting.py (target: at least 2x)")
    if nautilus < math.inf:
        print(f"        ingenium is {nautilus / elapsed:.2f}x the speed of NautilusTrader")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000, help="number of one-minute bars (default 1,000,000)")
    parser.add_argument("--skip-backtesting-py", action="store_true", help="leave out baseline (b)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest counts (noisy machines)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the Ingenium run")
    parser.add_argument("--skip-nautilus", action="store_true", help="leave out NautilusTrader (minutes at 1M bars)")
    parser.add_argument("--skip-quiet", action="store_true", help="only the trade-heavy SMA(10/20) load, not also "
                                                                  "the quieter SMA(50/400)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # refused orders log warnings; the benchmark measures, not reads
    n = args.bars

    opens, highs, lows, closes = random_walk(n)
    started = time.perf_counter()
    bars = make_bars(opens, highs, lows, closes)
    loading = time.perf_counter() - started
    config = ingenium_config()
    config.classes()  # import the services outside the timed region, as backtesting.py is imported below
    import services.executor.recovery
    import services.portfolio.recovery  # noqa: F401  (imported lazily by on_start; a one-time cost)

    profiler = cProfile.Profile() if args.profile else None
    loads = [(FAST, SLOW, "trade-heavy")] + ([] if args.skip_quiet else [(50, 400, "quieter")])
    for fast, slow, name in loads:
        measure(args, profiler, (opens, highs, lows, closes), bars, fast, slow, name, loading)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
