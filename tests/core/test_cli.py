"""The CLI as a user meets it: real processes, real servers, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ingenium.config import Settings
from ingenium.testing import settings_env

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "go-json"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingenium", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=cwd)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return settings_env(settings)


def test_publish_prints_sequence_then_duplicate(env: dict[str, str]) -> None:
    first = cli("publish", "order", f"@{GOLDEN / 'order_market.json'}", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["seq"] == 1
    second = cli("publish", "order", (GOLDEN / "order_market.json").read_text(), env=env)
    assert second.stdout.strip() == "duplicate"


def test_publish_invalid_event_names_the_field(env: dict[str, str]) -> None:
    raw = json.loads((GOLDEN / "order_market.json").read_text())
    raw["Quantity"] = "-5"
    assert_one_line_error(cli("publish", "order", json.dumps(raw), env=env), "Quantity", "greater than 0")


def test_publish_bad_kind_and_missing_file(env: dict[str, str]) -> None:
    assert_one_line_error(cli("publish", "quote", "{}", env=env), "unknown event kind 'quote'")
    assert_one_line_error(cli("publish", "order", "@/no/such.json", env=env), "cannot read /no/such.json")


def test_streams_init_is_idempotent_and_ls_shows_them(env: dict[str, str], settings: Settings) -> None:
    first = cli("streams", "init", env=env)
    assert first.returncode == 0, first.stderr
    assert f"{settings.subjects.stream('order')}" in first.stdout
    again = cli("streams", "init", env=env)
    assert "updated" in again.stdout and "created" not in again.stdout
    listing = cli("streams", "ls", env=env)
    assert settings.subjects.stream("execution") in listing.stdout


def test_run_bad_target_and_bad_param(env: dict[str, str]) -> None:
    assert_one_line_error(cli("run", "nosuchmodule:Thing", env=env), "cannot import 'nosuchmodule'")
    assert_one_line_error(cli("run", "tests.core.components", env=env), "package.module:ClassName")
    assert_one_line_error(cli("run", "tests.core.components:Echo", "--param", "recrod=x", env=env),
                          "no parameter 'recrod'", "did you mean 'record'")
    assert_one_line_error(cli("run", "tests.core.components:Flaky", "--param", "failures=many", env=env),
                          "'failures'")


def test_unreachable_server_and_bad_url_are_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, INGENIUM_NATS_URL="nats://127.0.0.1:1", INGENIUM_DATA_DIR=str(tmp_path))
    assert_one_line_error(cli("streams", "ls", env=env), "cannot reach NATS at nats://127.0.0.1:1")
    env["INGENIUM_NATS_URL"] = "http://example"
    assert_one_line_error(cli("streams", "ls", env=env), "INGENIUM_NATS_URL", "nats://host:port")
    env["INGENIUM_NATS_URL"] = ""
    env["INGENIUM_DATABASE_URL"] = "mysql://x"
    assert_one_line_error(cli("streams", "ls", env=env), "INGENIUM_DATABASE_URL")


def test_a_plugin_command_without_a_database_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "INGENIUM_DATABASE_URL"}
    env["INGENIUM_DATA_DIR"] = str(tmp_path)  # no stack runs there, so no embedded database is found either
    assert_one_line_error(cli("runs", "ls", env=env), "no database configured", "INGENIUM_DATABASE_URL")


def test_up_refuses_a_taken_port_in_one_line(tmp_path: Path, nats_url: str) -> None:
    port = nats_url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGENIUM_")}
    env["INGENIUM_DATA_DIR"] = str(tmp_path / "up")  # not the store of the server holding the port
    assert_one_line_error(cli("up", "--nats-port", port, env=env), f"port {port} is already taken")


@pytest.mark.servers  # `ingenium up` in a child process starts its own
def test_up_starts_embedded_servers_and_other_commands_find_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGENIUM_")}
    env["INGENIUM_DATA_DIR"] = str(tmp_path)
    with subprocess.Popen([sys.executable, "-m", "ingenium", "up", "--nats-port", "-1"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as up:
        port = _check_up(up, env)
    assert up.returncode == 0  # SIGTERM, as a service manager sends it, is a clean stop
    with pytest.raises(OSError):  # and the embedded nats-server stopped with it
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not (tmp_path / "stack.json").exists()
    # The data stays: streams survive a restart of the embedded server.
    assert (tmp_path / "nats" / "jetstream").is_dir()


def _check_up(up: subprocess.Popen[str], env: dict[str, str]) -> int:
    try:
        assert up.stdout is not None
        lines = []
        for line in up.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "NATS       nats://127.0.0.1:" in output, output
        assert "PostgreSQL postgresql://" in output
        listing = cli("streams", "ls", env=env)  # no URL set: found through the running stack
        assert listing.returncode == 0, listing.stderr
        assert "INGENIUM_ORDERS" in listing.stdout
        return int(output.split("NATS       nats://127.0.0.1:")[1].split()[0])
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)


def test_bad_arguments_are_one_line(env: dict[str, str]) -> None:
    assert_one_line_error(cli("bogus", env=env), "No such command 'bogus'")
    assert_one_line_error(cli("run", env=env), "Missing argument", "ingenium run --help")
    assert_one_line_error(cli("ledger", "orders", "--status", "bogus", env=env), "'--status'", "'bogus'")
