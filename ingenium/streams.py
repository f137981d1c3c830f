"""The JetStream streams Ingenium needs, created or updated idempotently, replicated and placed as configured."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import Placement, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from ingenium.config import Settings
from ingenium.errors import ConfigurationError
from ingenium.subjects import STREAM_KEYS, StreamKey

#: JetStream error codes that mean "this cluster cannot hold the stream as asked".
_NOT_CLUSTERED = 10074  # replicas > 1 not supported in non-clustered mode
_NO_PEERS = 10005  # no suitable peers for placement
_INSUFFICIENT = 10023  # insufficient resources


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
    tags = settings.placement_tags
    placement = None
    if settings.stream_cluster or tags:
        placement = Placement(cluster=settings.stream_cluster, tags=tags or None)
    return StreamConfig(
        name=subjects.stream(key),
        description=f"Ingenium {key} events",
        subjects=subjects.stream_subjects(key),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        num_replicas=settings.stream_replicas,
        placement=placement,
        max_age=settings.stream_max_age_days * 86400 if settings.stream_max_age_days else None,
        duplicate_window=settings.duplicate_window_seconds,
        # Components read streams by direct get, which needs no consumer (issue #14).
        allow_direct=True,
    )


def cluster_nodes(nc: Client) -> int | None:
    """Servers of the connected server's cluster that are up, from the INFO it sent on connect.

    1 for a server that is not clustered; ``None`` when the cluster does not advertise its servers
    (``no_advertise``), so only JetStream itself can tell.
    """
    info = nc._server_info  # the INFO protocol message; nats-py keeps it but has no public accessor for it
    if not info.get("cluster"):
        return 1
    return len(info.get("connect_urls") or []) or None


async def ensure_streams(js: JetStreamContext, settings: Settings, *, nodes: int | None = None) -> list[str]:
    """Create every stream, or update it to the wanted configuration; returns what was done per stream.

    Raises ``ConfigurationError`` (one line) when the cluster cannot hold the streams as configured: fewer
    ``nodes`` (when given) than the replicas asked for, or JetStream's own refusal (a server that is not
    clustered, no servers matching the placement).
    """
    done: list[str] = []
    for key in STREAM_KEYS:
        config = stream_config(settings, key)
        assert config.name is not None
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            _check_nodes(settings, nodes, config.name)
            await _apply(js.add_stream(config), settings, config.name)
            done.append(f"created {config.name}{_shape(settings)}")
        else:
            if (info.config.num_replicas or 1) < settings.stream_replicas:
                _check_nodes(settings, nodes, config.name)
            await _apply(js.update_stream(config), settings, config.name)
            done.append(f"updated {config.name}{_shape(settings)}")
    return done


def _shape(settings: Settings) -> str:
    """`` (3 replicas, tags sync:always)`` when the streams are replicated or placed."""
    parts = [f"{settings.stream_replicas} replicas"] if settings.stream_replicas > 1 else []
    if settings.stream_cluster:
        parts.append(f"cluster {settings.stream_cluster}")
    if settings.placement_tags:
        parts.append(f"tags {','.join(settings.placement_tags)}")
    return f" ({', '.join(parts)})" if parts else ""


def _check_nodes(settings: Settings, nodes: int | None, stream: str) -> None:
    if nodes is not None and nodes < settings.stream_replicas:
        raise _too_few(stream, settings.stream_replicas, nodes)


def _too_few(stream: str, replicas: int, nodes: int) -> ConfigurationError:
    what = "NATS is a single server, not a cluster" if nodes == 1 else f"the NATS cluster has {nodes} servers up"
    return ConfigurationError(
        f"cannot give {stream} {replicas} replicas: {what}; start at least {replicas} clustered nats-servers, "
        f"or set INGENIUM_STREAM_REPLICAS={nodes}"
    )


async def _apply(request: Awaitable[object], settings: Settings, stream: str) -> None:
    """Await a stream create or update, translating "the cluster cannot hold this" into one line."""
    try:
        await request
    except APIError as exc:
        replicas = settings.stream_replicas
        if exc.err_code == _NOT_CLUSTERED:
            raise _too_few(stream, replicas, 1) from exc
        if exc.err_code in (_NO_PEERS, _INSUFFICIENT):
            where = ", ".join(
                part for part in (
                    f"cluster {settings.stream_cluster}" if settings.stream_cluster else "",
                    f"tags {','.join(settings.placement_tags)}" if settings.placement_tags else "",
                ) if part
            )
            raise ConfigurationError(
                f"cannot place {stream} with {replicas} replicas{' in ' + where if where else ''}: JetStream says "
                f"{exc.description!r}; the cluster needs {replicas} servers with JetStream"
                f"{' matching the placement' if where else ''}, or lower INGENIUM_STREAM_REPLICAS"
            ) from exc
        raise


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
