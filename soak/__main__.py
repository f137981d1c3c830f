"""``python -m soak``: run the loop under chaos and print the checks; exit 1 naming the failed ones."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from soak.config import SoakConfig
from soak.run import soak


def main() -> None:
    """Parse the options, run the soak, print its report."""
    defaults = SoakConfig()
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--market", default="1h", help="market time the feed covers (default 1h)")
    parser.add_argument("--wall", default="10m", help="wall time it takes (default 10m)")
    parser.add_argument("--period", default=defaults.period, help=f"bar length (default {defaults.period})")
    parser.add_argument("--symbols", default=",".join(defaults.symbols), help="comma-separated symbols")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the feed and the chaos plan")
    parser.add_argument("--chaos-every", default="20s", help="mean time between two strikes (default 20s)")
    parser.add_argument("--out", type=Path, default=defaults.out, help="logs and stores (default soak-output)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to use (default: embedded)")
    args = parser.parse_args()
    try:
        config = SoakConfig(market=args.market, wall=args.wall, period=args.period, seed=args.seed,
                            symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
                            chaos_every=args.chaos_every, out=args.out, database_url=args.database_url)
    except ValidationError as exc:
        first = exc.errors()[0]
        sys.exit(f"error: --{'-'.join(str(p) for p in first['loc']).replace('_', '-')}: {first['msg']}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    result = asyncio.run(soak(config))
    print(result.report(), flush=True)
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
