"""The local stack: embedded NATS and PostgreSQL where no server URL is configured.

``ingenium up`` writes where its servers listen to ``<data_dir>/stack.json``; other commands in other
terminals read it, so ``ingenium run …`` finds the embedded servers without any variable set.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ingenium.config import Settings
from ingenium.embedded import EmbeddedNats, EmbeddedPostgres

STATE_FILE = "stack.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve_settings(settings: Settings) -> Settings:
    """Fill unset server URLs from a running ``ingenium up`` in the same data dir, if there is one."""
    if settings.nats_url and settings.database_url:
        return settings
    state_path = settings.data_dir / STATE_FILE
    if not state_path.exists():
        return settings
    try:
        state = json.loads(state_path.read_text())
    except (OSError, json.JSONDecodeError):
        return settings
    if not _alive(int(state.get("pid", 0))):
        return settings
    return settings.model_copy(
        update={
            "nats_url": settings.nats_url or state.get("nats_url"),
            "database_url": settings.database_url or state.get("database_url"),
        }
    )


@dataclass
class LocalStack:
    """Servers started for this process, and settings that point at them."""

    settings: Settings
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    started: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop what this stack started (configured external servers are left alone)."""
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()
        state = self.settings.data_dir / STATE_FILE
        if self.started and state.exists():
            state.unlink()


def start_stack(settings: Settings, *, nats_port: int = -1, need_database: bool = True) -> LocalStack:
    """Start an embedded nats-server and PostgreSQL for whichever URL is not configured.

    Data lives under ``settings.data_dir`` so a restart keeps streams and tables.
    """
    settings = resolve_settings(settings)
    stack = LocalStack(settings)
    updates: dict[str, str] = {}
    data_dir = settings.data_dir.resolve()
    if not settings.nats_url:
        stack.nats = EmbeddedNats(data_dir / "nats", port=nats_port, sync_interval=settings.nats_sync_interval)
        updates["nats_url"] = stack.nats.start()
        stack.started.append("nats")
    if need_database and not settings.database_url:
        stack.postgres = EmbeddedPostgres(data_dir / "postgres")
        try:
            updates["database_url"] = stack.postgres.start()
        except Exception:
            stack.stop()
            raise
        stack.started.append("postgres")
    stack.settings = settings.model_copy(update=updates)
    if stack.started:
        write_state(stack.settings)
    return stack


def write_state(settings: Settings) -> Path:
    """Record this process's server URLs for other commands using the same data dir."""
    path = settings.data_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"pid": os.getpid(), "nats_url": settings.nats_url, "database_url": settings.database_url})
    )
    return path
