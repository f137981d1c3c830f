"""Settings from the environment (``INGENIUM_*``), validated once at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingenium.subjects import Subjects

#: A Go duration as nats-server reads ``sync_interval``: 2m, 10s, 1m30s, 500ms.
_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")


class Settings(BaseSettings):
    """Where Ingenium finds its servers and how it shapes streams and consumers.

    Every field reads ``INGENIUM_<FIELD>`` from the environment (or a ``.env`` file).
    """

    model_config = SettingsConfigDict(env_prefix="INGENIUM_", env_file=".env", extra="ignore", frozen=True)

    nats_url: str | None = Field(default=None, description="nats://host:port; unset: embedded nats-server.")
    nats_user: str | None = Field(default=None, description="NATS user name.")
    nats_password: str | None = Field(default=None, description="NATS password.")
    nats_token: str | None = Field(default=None, description="NATS auth token.")
    nats_creds: Path | None = Field(default=None, description="Path to a NATS .creds file.")
    nats_nkey_seed: Path | None = Field(default=None, description="Path to a file holding a NATS user nkey seed.")
    nats_tls_ca: Path | None = Field(default=None, description="CA certificate (PEM) NATS servers are checked against.")
    nats_tls_cert: Path | None = Field(default=None, description="Client certificate (PEM) for NATS (mutual TLS).")
    nats_tls_key: Path | None = Field(default=None, description="Private key (PEM) of the NATS client certificate.")
    nats_inbox_prefix: str = Field(
        default="_INBOX", pattern=r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$",
        description="Prefix of this process's reply inboxes; a secured user may subscribe only to its own.",
    )
    nats_provisioned: bool = Field(
        default=False, description="Streams, consumers and buckets are made by `ingenium streams init`; "
        "components only bind to their durable consumers (set for users without the rights to create them).",
    )
    database_url: str | None = Field(
        default=None, description="postgresql://user@host:port/db as psql takes it; unset: embedded PostgreSQL."
    )
    nats_monitor_url: str | None = Field(
        default=None, description="http://host:8222 of nats-server's monitoring port (for `ingenium status`)."
    )
    data_dir: Path = Field(
        default_factory=lambda: default_data_dir(),
        description="Where embedded servers keep their data and `ingenium up` its stack file; one per user.",
    )
    namespace: str = Field(
        default="", pattern=r"^[a-zA-Z0-9_-]*$", description="Prefix for subjects and streams; empty for live."
    )
    nats_sync_interval: str | None = Field(
        default=None, description="JetStream fsync policy of embedded servers: 'always' or a duration (2m, 10s); "
        "unset: nats-server's default (2m)."
    )
    stream_replicas: int = Field(default=1, ge=1, le=5, description="Replicas per stream (3 on a cluster).")
    stream_cluster: str | None = Field(default=None, description="NATS cluster the streams are placed in.")
    stream_tags: str = Field(
        default="", description="Comma-separated server tags the streams are placed on (e.g. sync:always)."
    )
    stream_max_age_days: float = Field(default=0, ge=0, description="Retention in days; 0 keeps everything.")
    duplicate_window_seconds: float = Field(default=120, gt=0, description="JetStream dedup window.")
    fetch_batch: int = Field(default=200, ge=1, le=10_000, description="Messages a consumer fetches at once.")
    ack_wait_seconds: float = Field(default=30, gt=0, description="Redelivery delay for unacked messages.")
    max_attempts: int = Field(default=5, ge=1, description="Handler attempts before a message is dead-lettered.")
    retry_backoff_seconds: float = Field(default=0.5, ge=0, description="First retry delay; doubles per attempt.")
    startup_wait_seconds: float = Field(
        default=120, ge=0, description="How long a starting component waits for JetStream to answer for its streams "
        "and consumers (a leader election, a node restarting) before it gives up.",
    )
    publish_retry_seconds: float = Field(
        default=30, ge=0, description="How long a publish JetStream did not store is sent again (same Nats-Msg-Id)."
    )

    @field_validator("nats_url")
    @classmethod
    def _check_nats_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for url in value.split(","):
            parts = urlsplit(url.strip())
            if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
                raise ValueError(f"INGENIUM_NATS_URL {url!r} is not a nats://host:port URL")
        return value

    @field_validator("nats_tls_key")
    @classmethod
    def _cert_with_key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("nats_tls_cert") is None):
            raise ValueError("INGENIUM_NATS_TLS_CERT and INGENIUM_NATS_TLS_KEY go together: set both or neither")
        return value

    @field_validator("nats_sync_interval")
    @classmethod
    def _check_sync_interval(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        if value != "always" and not _DURATION.fullmatch(value):
            raise ValueError(f"{value!r} is neither 'always' nor a duration such as 2m, 10s or 500ms")
        return value

    @field_validator("publish_retry_seconds")
    @classmethod
    def _retries_inside_dedup_window(cls, value: float, info: ValidationInfo) -> float:
        # A publish retried after its first copy left the duplicate window would be stored twice.
        window = info.data.get("duplicate_window_seconds")
        if window is not None and value >= window:
            raise ValueError(
                f"must be shorter than INGENIUM_DUPLICATE_WINDOW_SECONDS ({window:g}), or a retried publish may be "
                "stored twice"
            )
        return value

    @property
    def placement_tags(self) -> list[str]:
        """``stream_tags`` as a list."""
        return [t.strip() for t in self.stream_tags.split(",") if t.strip()]

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Absolute once, at start-up: the stack file records it and other terminals compare it.
        return value.expanduser().absolute()

    @field_validator("nats_monitor_url")
    @classmethod
    def _check_monitor_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"INGENIUM_NATS_MONITOR_URL {value!r} is not an http://host:port URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
            raise ValueError(f"INGENIUM_DATABASE_URL {value!r} is not a postgresql://user@host:port/db URL")
        return value

    @property
    def subjects(self) -> Subjects:
        """Subject and stream names for this namespace."""
        return Subjects(self.namespace)


def default_data_dir() -> Path:
    """The per-user data directory (``~/.local/share/ingenium`` on Linux), whatever the working directory."""
    return platformdirs.user_data_path("ingenium", appauthor=False)
