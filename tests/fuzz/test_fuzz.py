"""The bounded fuzz run of ``make test``: every target under atheris for a fixed number of inputs.

All targets share one process (``all``: the first byte picks the target; libFuzzer runs once per process, and
one start-up per target would cost most of the budget), from every target's seeds, with libFuzzer's bounds on
time per input and memory: a crash, a hang or an allocation past the bound fails the test with the fuzzer's
report. ``make fuzz`` runs each target in its own process for longer (``FUZZ_SECONDS`` each).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Inputs in all: about ten seconds on a busy 2-core machine.
RUNS = int(os.environ.get("INGENIUM_FUZZ_RUNS", "8000"))


def test_every_target_survives_a_bounded_fuzz_run(tmp_path: Path) -> None:
    target = "all"
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.main", target, "--runs", str(RUNS), "--corpus", str(tmp_path / "corpus"),
         "--artifacts", str(tmp_path), "--timeout", "10", "--rss-mb", "1024"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    uncaught = result.stderr.find("=== Uncaught Python exception")
    report = result.stderr[uncaught:uncaught + 6000] if uncaught >= 0 else result.stderr[-6000:]
    assert result.returncode == 0, f"fuzz target {target} failed:\n{report}"
    assert f"Done {RUNS} runs" in result.stderr, report  # it fuzzed, rather than stopping early
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))) == []


def test_make_fuzz_runs_the_named_targets_for_the_given_time() -> None:
    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "fuzz", "FUZZ_SECONDS=1", "FUZZ_TARGETS=event-cancel headers"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "fuzzing event-cancel for 1s" in result.stdout and "fuzzing headers for 1s" in result.stdout
    assert result.stdout.count("Done ") == 2
