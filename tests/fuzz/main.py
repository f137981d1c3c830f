"""Run one fuzz target under atheris (libFuzzer): ``python -m tests.fuzz.main TARGET [--seconds S | --runs N]``.

``TARGET`` is one of ``tests.fuzz.targets.TARGETS``, or ``all``: every target in one process, its first byte
choosing (one start-up instead of one per target, for the bounded run in ``make test``).

The corpus lives in ``--corpus`` (default: a fresh temporary directory) and starts from the target's seeds;
libFuzzer adds what reaches new code. A finding stops the run with the traceback and exit code 1, and libFuzzer
writes the input to ``--artifacts`` (``crash-…``, ``timeout-…``, ``oom-…``), to replay with
``python -m tests.fuzz.main TARGET --replay FILE``. Per input, ``--timeout`` seconds and ``--rss-mb`` of memory
are the bounds: past them libFuzzer reports a hang or an unbounded allocation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import atheris


def _escaped(token: bytes) -> str:
    """A token as libFuzzer's dictionary format quotes it: printable ASCII as is, the rest as ``\\xNN``."""
    return "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--seconds", type=int, default=0, help="Fuzz for this long (default: until --runs).")
    parser.add_argument("--runs", type=int, default=0, help="Inputs to try (0: no limit).")
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--timeout", type=int, default=10, help="Seconds one input may take.")
    parser.add_argument("--rss-mb", type=int, default=1024, help="Memory the process may use.")
    parser.add_argument("--max-len", type=int, default=8192, help="Largest input tried, in bytes.")
    parser.add_argument("--replay", type=Path, default=None, help="Run the target once on this input.")
    args = parser.parse_args()

    with atheris.instrument_imports(include=["ingenium", "ledger", "services", "tests.fuzz"]):
        from tests.fuzz.targets import TARGETS, all_targets, dictionary, seeds

    if args.target != "all" and args.target not in TARGETS:
        parser.error(f"unknown target {args.target!r}; targets: all, {', '.join(TARGETS)}")
    target = all_targets if args.target == "all" else TARGETS[args.target]
    if args.replay is not None:
        target(args.replay.read_bytes())
        return
    corpus = args.corpus or Path(tempfile.mkdtemp(prefix=f"ingenium-fuzz-{args.target}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds(args.target)):
        (corpus / f"seed-{i}").write_bytes(seed)
    args.artifacts.mkdir(parents=True, exist_ok=True)
    tokens = corpus.parent / f"{corpus.name}.dict"
    tokens.write_text("".join(f'"{_escaped(token)}"\n' for token in dictionary()))
    fuzzer_args = [sys.argv[0], str(corpus), f"-dict={tokens}", f"-artifact_prefix={args.artifacts}/",
                   f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_mb}", f"-max_len={args.max_len}",
                   "-print_final_stats=1"]
    if args.seconds:
        fuzzer_args.append(f"-max_total_time={args.seconds}")
    if args.runs:
        fuzzer_args.append(f"-runs={args.runs}")
    atheris.Setup(fuzzer_args, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
