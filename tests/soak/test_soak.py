"""A short soak in ``make test``: the real driver (``python -m soak``) runs the loop as processes for 40 s
of feed under chaos, with at least one strike of each kind, and every check must pass."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingenium.config import Settings
from ingenium.testing import settings_env

CHECKS = (
    "every process survived the chaos and stopped cleanly",
    "every event stored once",
    "every signal has exactly one order",
    "every order's fills sum to its filled quantity",
    "no fill is doubled",
    "ledger positions and cash equal the streams",
    "no message left unacknowledged",
    "nothing silently dropped",
)


@pytest.mark.timeout(300)  # about 100 s on an idle 2-core machine
def test_a_short_soak_under_chaos_loses_and_doubles_nothing(postgres_server: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "soak", "--market", "16m", "--wall", "40s", "--period", "4s",
               "--symbols", "acme,globex,initech", "--seed", "10", "--chaos-every", "10s",
               "--out", str(tmp_path / "soak"), "--database-url", postgres_server]
    done = subprocess.run(command, env=settings_env(Settings()), capture_output=True, text=True, timeout=280,
                          check=False, cwd=Path(__file__).resolve().parents[2])
    report = done.stdout
    context = f"{report}\n--- stderr ---\n{done.stderr[-3000:]}"
    assert done.returncode == 0, context
    for check in CHECKS:
        assert f"PASS {check}" in report, context
    assert "FAIL" not in report and report.rstrip().endswith("soak passed"), context
    # One strike of each kind was carried out, not only planned (seed 10 kills the feed, the portfolio, a strategy
    # replica and a ledger, besides three nats-server restarts and three cut ledger connections).
    assert "SIGKILL nats-server" in report and "nats-server back on" in report, context
    assert re.search(r"terminated backend \d+, the lock holder", report), context
    assert "killed and restarted" in report, context
