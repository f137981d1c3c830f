"""The JetStream streams Ingenium needs, created or updated idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from ingenium.config import Settings
from ingenium.subjects import StreamKey

STREAM_KEYS: tuple[StreamKey, ...] = ("data", "signal", "order", "execution", "deadletter")


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What ``ingenium streams ls`` shows for one stream."""

    name: str
    subjects: list[str]
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    consumers: int


def stream_config(settings: Settings, key: StreamKey) -> StreamConfig:
    """The configuration Ingenium wants for one stream."""
    subjects = settings.subjects
    return StreamConfig(
        name=subjects.stream(key),
        description=f"Ingenium {key} events",
        subjects=subjects.stream_subjects(key),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=settings.stream_replicas,
        max_age=settings.stream_max_age_days * 86400 if settings.stream_max_age_days else None,
        duplicate_window=settings.duplicate_window_seconds,
    )


async def ensure_streams(js: JetStreamContext, settings: Settings) -> list[str]:
    """Create every stream, or update it to the wanted configuration; returns what was done per stream."""
    done: list[str] = []
    for key in STREAM_KEYS:
        config = stream_config(settings, key)
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            done.append(f"created {config.name}")
        else:
            await js.update_stream(config)
            done.append(f"updated {config.name}")
    return done


async def list_streams(js: JetStreamContext, settings: Settings) -> list[StreamStatus]:
    """State of each Ingenium stream that exists."""
    statuses = []
    for key in STREAM_KEYS:
        name = settings.subjects.stream(key)
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            continue
        state = info.state
        statuses.append(
            StreamStatus(
                name=name,
                subjects=list(info.config.subjects or []),
                messages=state.messages,
                bytes=state.bytes,
                first_seq=state.first_seq,
                last_seq=state.last_seq,
                consumers=state.consumer_count,
            )
        )
    return statuses
