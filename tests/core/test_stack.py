"""The local stack as a user meets it: one per data dir, found from any directory, taken over when its owner died.

Every test here runs the real ``ingenium`` command in child processes with the per-user default data dir
moved into the test's own directory (``XDG_DATA_HOME``), so the default is what is exercised and nothing
touches the real one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.core.test_cli import assert_one_line_error, cli

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "go-json"
#: A stack starts an embedded PostgreSQL (initdb on first start); on a busy machine that takes a while.
START_TIMEOUT = 240


def user_env(tmp_path: Path) -> dict[str, str]:
    """No INGENIUM_* at all: the data dir is the per-user default, which lives under the test's XDG_DATA_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGENIUM_", "OTEL_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def start_up(env: dict[str, str], cwd: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start `ingenium up` and return it with its output up to the ready line."""
    cwd.mkdir(parents=True, exist_ok=True)
    up = subprocess.Popen([sys.executable, "-m", "ingenium", "up", "--nats-port", "-1", *extra], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert up.stdout is not None
    lines = []
    deadline = time.monotonic() + START_TIMEOUT
    for line in up.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line or time.monotonic() > deadline:
            break
    output = "".join(lines)
    assert "Press Ctrl-C" in output, output
    return up, output


def field(output: str, label: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith(label))


def servers_on(data_dir: Path) -> list[str]:
    """Command lines of the nats-server and postgres processes that use ``data_dir``."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        args = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in args and ("nats-server" in args or "postgres" in (process.info["name"] or "")):
            with_status = process.status() if process.is_running() else psutil.STATUS_DEAD
            if with_status != psutil.STATUS_ZOMBIE:
                found.append(args)
    return found


def status(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = cli("status", "--json", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def component(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "ingenium", *args], env=env, cwd=log.parent, stdout=out,
                                stderr=subprocess.STDOUT)


def stop(up: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> str:
    up.send_signal(sig)
    out, _ = up.communicate(timeout=120)
    return out


@pytest.mark.servers  # `ingenium up` in a child process starts its own
@pytest.mark.timeout(900)
def test_second_up_refuses_and_every_command_finds_the_stack_from_any_directory(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    data_dir = tmp_path / "xdg" / "ingenium"
    up, output = start_up(env, tmp_path / "first")
    try:
        nats, postgres = field(output, "NATS "), field(output, "PostgreSQL ")
        assert field(output, "data dir ") == str(data_dir)  # the per-user place, not the working directory
        assert json.loads((data_dir / "stack.json").read_text())["nats_url"] == nats
        assert not (tmp_path / "first" / ".ingenium").exists()
        # Quiet by default: no alembic INFO lines, no platformdirs warning (--verbose shows them: test below).
        assert "alembic" not in output and "INFO" not in output and "Warning" not in output, output

        (tmp_path / "second").mkdir()
        second = cli("up", "--nats-port", "-1", env=env, cwd=tmp_path / "second")
        assert_one_line_error(second, "already running", nats, postgres)
        assert len([s for s in servers_on(data_dir) if "nats-server" in s]) == 1  # no second server on the store

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        bar = {"Id": "bar-1", "Timestamp": "2024-03-01T14:31:00Z", "Symbol": "ACME", "Type": "data.type.ohlc",
               "Ohlc": {"Open": "100", "High": "101", "Low": "99", "Close": "100.5", "Volume": "1000",
                        "Period": "1m", "Timestamp": "2024-03-01T14:30:00Z"}}
        published = cli("publish", "data", json.dumps(bar), env=env, cwd=elsewhere)
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout) == {"stream": "INGENIUM_DATA", "seq": 1}

        # `replay` finds the stack too (it used to look for INGENIUM_NATS_URL only).
        replayed = cli("replay", "-s", "services.strategies:SmaCross", "--out", str(tmp_path / "r"), env=env,
                       cwd=elsewhere)
        assert replayed.returncode == 0, replayed.stderr
        assert "replayed 1 bars read from INGENIUM_DATA[*] seq 1-1" in replayed.stdout

        order = cli("publish", "order", f"@{GOLDEN / 'order_market.json'}", env=env, cwd=elsewhere)
        assert order.returncode == 0, order.stderr
        report = status(env, elsewhere)
        assert report["stack"] == {"data_dir": str(data_dir), "pid": up.pid, "running": True}
        assert [s["url"] for s in report["servers"]] == [nats, postgres]
        assert report["servers"][0]["version"].startswith("nats-server 2.")
        assert report["servers"][1]["version"].startswith("PostgreSQL ")
        assert {s["stream"]: s["last_seq"] for s in report["streams"]}["INGENIUM_ORDERS"] == 1
        assert {r["stream"]: (r["checkpoint"], r["lag"]) for r in report["ledger"]}["INGENIUM_ORDERS"] == (0, 1)
        assert report["components"] == []

        echo = component(["run", "services.strategies:SmaCross", "--name", "echo"], env, tmp_path / "echo.log")
        ledger = component(["ledger", "serve"], env, tmp_path / "ledger.log")
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                report = status(env, elsewhere)
                consumers = {c["consumer"]: c for c in report["consumers"]}
                lag = {r["stream"]: r["lag"] for r in report["ledger"]}
                names = {c["name"] for c in report["components"]}
                done = "echo-data" in consumers and consumers["echo-data"]["last_ack"] and lag["INGENIUM_ORDERS"] == 0
                if done and {"ingenium-strategy-echo", "ingenium-ledger"} <= names:
                    break
                assert time.monotonic() < deadline, report
                time.sleep(1)
            echo_data = consumers["echo-data"]
            assert echo_data["durable"] and echo_data["stream"] == "INGENIUM_DATA"
            assert (echo_data["pending"], echo_data["ack_pending"], echo_data["delivered_seq"]) == (0, 0, 1)
            assert echo_data["last_delivered"]
        finally:
            for child in (echo, ledger):
                child.send_signal(signal.SIGINT)
                assert child.wait(120) == 0
    finally:
        out = stop(up)
    assert up.returncode == 0, out  # Ctrl-C is a clean stop
    assert "stopping the stack" in out
    assert servers_on(data_dir) == []
    assert not (data_dir / "stack.json").exists()


@pytest.mark.servers  # `ingenium up` in a child process starts its own
@pytest.mark.timeout(900)
def test_a_stack_whose_process_was_killed_is_taken_over(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    data_dir = tmp_path / "xdg" / "ingenium"
    up, output = start_up(env, tmp_path / "a")
    old_nats = field(output, "NATS ")
    up.kill()  # no chance to stop its servers or remove its lock and stack file
    up.communicate(timeout=30)
    assert (data_dir / "stack.json").exists() and any("nats-server" in s for s in servers_on(data_dir))

    successor, output = start_up(env, tmp_path / "b", "--verbose")
    try:
        assert "Context impl PostgresqlImpl" in output  # alembic's lines, shown only when asked for
        assert f"took over from a stack (pid {up.pid})" in output
        assert "stopped its leftover nats-server" in output
        assert field(output, "NATS ") != old_nats
        assert len([s for s in servers_on(data_dir) if "nats-server" in s]) == 1
        status = cli("status", "--json", env=env, cwd=tmp_path)
        assert json.loads(status.stdout)["stack"]["pid"] == successor.pid, status.stderr
    finally:
        out = stop(successor)
    assert successor.returncode == 0, out
    # The successor stopped everything, the dead stack's PostgreSQL included.
    deadline = time.monotonic() + 30
    while servers_on(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert servers_on(data_dir) == []
