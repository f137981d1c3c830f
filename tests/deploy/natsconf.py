"""A real nats-server configured from deploy/helm/nats-values.yaml, as the official NATS chart configures it.

The chart writes ``config.merge`` into ``nats.conf`` as JSON and unquotes strings written ``<< … >>`` (so
``<< $VAR >>`` becomes a variable NATS reads from the environment); ``config.jetstream.merge`` goes into the
``jetstream`` block. The same happens here, with the server on a free port on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingenium.config import Settings
from ingenium.embedded import nats_server_binary
from ingenium.permissions import USERS_ACCOUNT, inbox_prefix

VALUES = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "nats-values.yaml"


def nats_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return values


def users() -> dict[str, dict[str, Any]]:
    """The users of the values file by name."""
    return {u["user"]: u for u in nats_values()["config"]["merge"]["accounts"][USERS_ACCOUNT]["users"]}


def render_conf(store_dir: Path) -> str:
    """``nats.conf`` for one server: the values' merge blocks with ``<< >>`` unquoted, as the chart renders them."""
    config = nats_values()["config"]
    jetstream = {"store_dir": str(store_dir), **config["jetstream"].get("merge", {})}
    conf = {"jetstream": jetstream, **config["merge"]}
    return re.sub(r'"<< (.+?) >>"', r"\1", json.dumps(conf, indent=2))


def password_variable(user: str) -> str:
    """The environment variable the values file reads ``user``'s password from."""
    match = re.fullmatch(r"<< \$(\w+) >>", users()[user]["password"])
    assert match, f"user {user}: password must be << $VARIABLE >>, read from the secret"
    return match.group(1)


@dataclass
class SecuredNats:
    """A running nats-server with the values' users; ``passwords`` as its environment gave them."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    passwords: dict[str, str] = field(default_factory=dict)

    def settings(self, base: Settings, user: str) -> Settings:
        """``base`` connecting as ``user``, as the chart's pods of that kind do (own inbox, provisioned consumers)."""
        return base.model_copy(update={
            "nats_url": self.url, "nats_user": user, "nats_password": self.passwords[user],
            "nats_inbox_prefix": inbox_prefix(user), "nats_provisioned": user != "provisioner",
        })

    def violations(self, user: str | None = None) -> list[str]:
        """Permission violations the server logged (``Publish Violation``, ``Subscription Violation``)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if " Violation - " in line and (user is None or f"/user:{user}\"" in line)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_secured_nats(directory: Path, timeout: float = 10.0) -> SecuredNats:
    """Start nats-server with the values' JetStream settings and users, each with a random password."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nats.conf"
    conf.write_text(render_conf(directory / "jetstream"))
    passwords = {user: secrets.token_hex(16) for user in users()}
    env = {password_variable(user): password for user, password in passwords.items()}
    log = directory / "nats.log"
    ports = directory / "ports"
    ports.mkdir()
    binary = nats_server_binary()
    stderr = directory / "nats.stderr"
    with stderr.open("wb") as err:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [binary, "-c", str(conf), "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", str(ports), "-l", str(log)],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )
    ports_file = ports / f"{Path(binary).name}_{process.pid}.ports"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nats-server refused the values' configuration: {stderr.read_text()}")
        if ports_file.exists():
            try:
                url = json.loads(ports_file.read_text())["nats"][0]
            except (json.JSONDecodeError, KeyError, IndexError):
                time.sleep(0.02)
                continue
            return SecuredNats(url, process, log, passwords)
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"nats-server did not start within {timeout}s")
