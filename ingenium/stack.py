"""The local stack: embedded NATS and PostgreSQL where no server URL is configured.

The stack lives in the data directory (``INGENIUM_DATA_DIR``, by default one per user, so the same from every
working directory). Whoever starts embedded servers there holds an OS lock on ``<data_dir>/stack.lock`` for as
long as they run, so a second ``ingenium up`` on the same data cannot start a second nats-server on the same
JetStream store; the OS releases the lock of a process that died, and the next ``up`` takes over. The lock
holder records where its servers listen in ``<data_dir>/stack.json``, which every other command reads, so
``ingenium run …`` in another terminal finds the servers with nothing set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import filelock
import psutil

from ingenium import credentials
from ingenium.config import Settings
from ingenium.embedded import EmbeddedNats, EmbeddedPostgres, process_running
from ingenium.errors import EmbeddedServerError, StackAlreadyRunning

log = logging.getLogger("ingenium.stack")

STATE_FILE = "stack.json"
LOCK_FILE = "stack.lock"
#: How long a second ``up`` waits for a stack that is still starting to say where it listens.
STARTING_WAIT = 120.0


@dataclass(frozen=True, slots=True)
class StackState:
    """What ``stack.json`` says about the running stack."""

    pid: int
    data_dir: str
    nats_url: str | None = None
    database_url: str | None = None
    nats_monitor_url: str | None = None
    #: The embedded nats-server's pid, recorded as soon as it runs, so a successor can stop it if we die.
    nats_pid: int | None = None
    #: False while the servers are still starting: other commands wait for (or ignore) such a stack.
    ready: bool = True
    #: Started with ``--secure``: every client connects as its kind's user (``<data dir>/credentials``).
    secure: bool = False

    @classmethod
    def read(cls, data_dir: Path) -> StackState | None:
        """The recorded state, or ``None`` when there is none (or it is unreadable)."""
        try:
            raw = json.loads((data_dir / STATE_FILE).read_text())
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    @property
    def alive(self) -> bool:
        """Whether the process that wrote it still runs (a zombie, killed but not yet reaped, does not)."""
        return process_running(self.pid)

    def describe(self) -> str:
        """``NATS nats://…, PostgreSQL postgresql://…`` (what the stack offers)."""
        parts = [f"NATS {self.nats_url}" if self.nats_url else "", f"PostgreSQL {self.database_url}"
                 if self.database_url else ""]
        return ", ".join(p for p in parts if p) or "no servers yet"


def running_stack(settings: Settings) -> StackState | None:
    """The stack serving on ``settings.data_dir``: its process is alive and its servers have started."""
    state = StackState.read(settings.data_dir)
    return state if state is not None and state.ready and state.alive else None


def resolve_settings(settings: Settings, kind: str = "provisioner") -> Settings:
    """Fill unset server URLs from the stack running on the same data dir, if there is one.

    On a secure stack the process connects as ``kind``'s user (the operator's commands as the provisioner).
    """
    if settings.nats_url and settings.database_url:
        return settings
    state = running_stack(settings)
    if state is None:
        return settings
    updates: dict[str, str | None] = {"database_url": settings.database_url or state.database_url}
    if not settings.nats_url:
        updates["nats_url"] = state.nats_url
        updates["nats_monitor_url"] = settings.nats_monitor_url or state.nats_monitor_url
    resolved = settings.model_copy(update=updates)
    if state.secure and not settings.nats_url:
        resolved = credentials.for_kind(resolved, kind)
    return resolved


@dataclass
class LocalStack:
    """Servers started for this process, and settings that point at them."""

    settings: Settings
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    started: list[str] = field(default_factory=list)
    #: Set when this stack replaced one whose process had died: what was cleaned up.
    took_over: str | None = None
    _lock: filelock.BaseFileLock | None = None

    def stop(self) -> None:
        """Stop what this stack started (configured external servers are left alone) and release the lock."""
        try:
            if self.nats is not None:
                self.nats.stop()
            if self.postgres is not None:
                self.postgres.stop()
        finally:
            if self._lock is not None:
                with contextlib.suppress(OSError):
                    (self.settings.data_dir / STATE_FILE).unlink()
                self._lock.release()
                self._lock = None


def _lock_stack(data_dir: Path) -> filelock.BaseFileLock:
    """Take the data dir's stack lock, or raise naming the stack that holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(data_dir / LOCK_FILE, thread_local=False)
    deadline = time.monotonic() + STARTING_WAIT
    while True:
        try:
            lock.acquire(timeout=0.2)
            return lock
        except filelock.Timeout:
            pass
        state = StackState.read(data_dir)
        if state is not None and state.ready and state.alive:
            raise StackAlreadyRunning(
                f"a stack is already running on {data_dir} (pid {state.pid}): {state.describe()}; use it as it is, "
                "stop it first, or set INGENIUM_DATA_DIR to another directory"
            )
        if time.monotonic() > deadline:  # the holder started but never said where it listens
            raise StackAlreadyRunning(
                f"another process holds {data_dir / LOCK_FILE} and has not started its servers within "
                f"{STARTING_WAIT:.0f}s; stop it, or set INGENIUM_DATA_DIR to another directory"
            )


def _take_over(data_dir: Path) -> str | None:
    """Clean up after a stack whose process died (the lock is ours, so it did); returns what was done."""
    stale = StackState.read(data_dir)
    if stale is None:
        return None
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    note = f"took over from a stack (pid {stale.pid}) that stopped without cleaning up"
    if stale.nats_pid is None:
        return note
    try:
        leftover = psutil.Process(stale.nats_pid)
        store = str(data_dir / "nats")
        ours = "nats-server" in leftover.name() and store in leftover.cmdline()
    except psutil.Error:
        return note
    if not ours:  # gone, and its pid reused by an unrelated process: leave that alone
        return note
    # Still serving the JetStream store a new nats-server is about to open: it must stop first.
    leftover.terminate()  # nats-server flushes JetStream on SIGTERM
    if not _gone(leftover, 10):
        leftover.kill()
        if not _gone(leftover, 5):
            raise EmbeddedServerError(f"a nats-server (pid {leftover.pid}) left by a dead stack still runs on "
                                      f"{store} and does not stop; kill it, then start again")
    return f"{note}; stopped its leftover nats-server (pid {leftover.pid})"


def _gone(process: psutil.Process, timeout: float) -> bool:
    """Wait until ``process`` (not necessarily our child) has exited; a zombie counts as exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def start_stack(
    settings: Settings, *, nats_port: int = -1, need_database: bool = True, quiet: bool = True,
    secure: bool = False,
) -> LocalStack:
    """Start an embedded nats-server and PostgreSQL for whichever URL is not configured.

    Data lives under ``settings.data_dir`` so a restart keeps streams and tables. Servers of a stack already
    running on that data dir are used instead of starting new ones.

    Args:
        settings: Configured URLs; the unset ones get embedded servers.
        nats_port: Port of the embedded nats-server (``-1``: any free one).
        need_database: Whether to start PostgreSQL too.
        quiet: Hide the embedded servers' start-up warnings.
        secure: Start nats-server with one nkey user per component kind (:mod:`ingenium.permissions`); the
            stack's settings then connect as the provisioner.

    Raises:
        StackAlreadyRunning: Another process holds the data dir's stack lock.
        EmbeddedServerError: A server did not start.

    """
    settings = resolve_settings(settings)
    stack = LocalStack(settings)
    want_nats = not settings.nats_url
    want_postgres = need_database and not settings.database_url
    if not (want_nats or want_postgres):
        return stack
    data_dir = settings.data_dir
    stack._lock = _lock_stack(data_dir)
    updates: dict[str, str | None] = {}
    try:
        stack.took_over = _take_over(data_dir)
        if want_nats:
            authorization = None
            if secure:
                keys = credentials.ensure_seeds(data_dir)
                authorization = credentials.server_config(keys, settings.subjects)
            stack.nats = EmbeddedNats(data_dir / "nats", port=nats_port, monitor_port=-1,
                                      sync_interval=settings.nats_sync_interval, config=authorization)
            updates["nats_url"] = stack.nats.start()
            updates["nats_monitor_url"] = stack.nats.monitor_url
            stack.started.append("nats")
            write_state(settings.model_copy(update=updates), nats_pid=stack.nats.pid, ready=False, secure=secure)
        if want_postgres:
            stack.postgres = EmbeddedPostgres(data_dir / "postgres", quiet=quiet)
            updates["database_url"] = stack.postgres.start()
            stack.started.append("postgres")
        stack.settings = settings.model_copy(update=updates)
        write_state(stack.settings, nats_pid=stack.nats.pid if stack.nats else None, secure=secure)
        if secure and want_nats:
            stack.settings = credentials.for_kind(stack.settings, "provisioner")
    except BaseException:  # Ctrl-C while a server starts must not leave the other one running
        stack.stop()
        raise
    return stack


def write_state(
    settings: Settings, *, nats_pid: int | None = None, ready: bool = True, secure: bool = False
) -> Path:
    """Record this process's server URLs for other commands using the same data dir."""
    path = settings.data_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    state = StackState(pid=os.getpid(), data_dir=str(settings.data_dir), nats_url=settings.nats_url,
                       database_url=settings.database_url, nats_monitor_url=settings.nats_monitor_url,
                       nats_pid=nats_pid, ready=ready, secure=secure)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state)))
    temporary.replace(path)  # readers never see half a file
    return path
