"""Finding the running components: a ``$SRV.STATS`` scatter-gather, then each consumer's info from JetStream.

Only processes alive now answer, so a component that died disappears at the next ask (every two seconds on the
page).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError

from ingenium.subjects import Subjects


@dataclass
class ConsumerLag:
    """One durable consumer's backlog and in-flight work."""

    stream: str
    name: str
    pending: int = 0
    ack_pending: int = 0
    redelivered: int = 0
    last_active: datetime | None = None


@dataclass
class ComponentView:
    """One component (all its replicas), as the Components page shows it."""

    name: str
    kind: str
    cls: str
    params: dict[str, Any]
    symbols: str
    replicas: int
    instance_ids: list[str]
    started: datetime
    consumers: list[ConsumerLag] = field(default_factory=list)
    dead_letters: int = 0

    @property
    def uptime_seconds(self) -> float:
        """Seconds since its oldest replica started."""
        return (datetime.now(UTC) - self.started).total_seconds()

    @property
    def last_activity(self) -> datetime | None:
        """The latest ack of any of its consumers."""
        times = [c.last_active for c in self.consumers if c.last_active is not None]
        return max(times) if times else None


async def request_many(nc: Client, subject: str, *, wait: float = 0.4) -> list[dict[str, Any]]:
    """Publish one request and gather every reply that arrives within ``wait`` seconds."""
    inbox = nc.new_inbox()
    replies: list[dict[str, Any]] = []
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(subject, b"", reply=inbox)
        await nc.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while (left := deadline - loop.time()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except TimeoutError:
                break
            with contextlib.suppress(ValueError):
                replies.append(json.loads(msg.data))
    finally:
        await sub.unsubscribe()
    return replies


def _time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    # Go writes nanoseconds; Python takes microseconds.
    head, _, frac = value.rstrip("Z").partition(".")
    text = f"{head}.{frac[:6]}" if frac else head
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def discover(nc: Client, subjects: Subjects) -> list[ComponentView]:
    """Every component answering ``$SRV.STATS`` now, grouped by name, with its consumers' lag and dead letters."""
    views: dict[str, ComponentView] = {}
    for reply in await request_many(nc, "$SRV.STATS"):
        meta = reply.get("metadata") or {}
        if "kind" not in meta:
            continue  # a micro service that is not an Ingenium component
        name = str(reply.get("name", "?"))
        started = _time(reply.get("started"))
        view = views.get(name)
        if view is None:
            try:
                params = json.loads(meta.get("params") or "{}")
            except ValueError:
                params = {"raw": meta.get("params")}
            view = views[name] = ComponentView(
                name=name, kind=meta["kind"], cls=meta.get("class", ""), params=params,
                symbols=meta.get("symbols", ""), replicas=0, instance_ids=[], started=started,
                consumers=[ConsumerLag(*c.split("/", 1)) for c in (meta.get("consumers") or "").split(",")
                           if "/" in c],
            )
        view.replicas += 1
        view.instance_ids.append(str(reply.get("id", "")))
        view.started = min(view.started, started)
    js = nc.jetstream()
    for view in views.values():
        for lag in view.consumers:
            with contextlib.suppress(NotFoundError):
                info = await js.consumer_info(lag.stream, lag.name)
                lag.pending = info.num_pending or 0
                lag.ack_pending = info.num_ack_pending or 0
                lag.redelivered = info.num_redelivered or 0
                active = info.ack_floor.last_active if info.ack_floor is not None else None
                if active is not None:
                    lag.last_active = active if active.tzinfo else active.replace(tzinfo=UTC)
    counts = await dead_letter_counts(nc, subjects)
    for view in views.values():
        view.dead_letters = counts.get(view.name, 0)
    return sorted(views.values(), key=lambda v: (v.kind, v.name))


async def dead_letter_counts(nc: Client, subjects: Subjects) -> dict[str, int]:
    """Dead letters stored per component (from the subjects of the dead-letter stream)."""
    prefix = subjects.dead_letter("")
    try:
        info = await nc.jetstream().stream_info(
            subjects.stream("deadletter"), subjects_filter=subjects.all_dead_letters
        )
    except NotFoundError:
        return {}
    return {s[len(prefix):]: n for s, n in (info.state.subjects or {}).items()}
