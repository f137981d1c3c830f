"""Every running component announces itself as a NATS micro service, so tools find it with ``$SRV.PING``/``INFO``.

A live process answers; a dead one does not, so whoever asks sees it gone as soon as it stops answering. The
service name is the component's id (replicas share it, each instance has its own service id); the metadata
says what it is: ``kind``, ``class``, ``params`` (JSON), ``symbols`` and ``consumers`` (``stream/durable``, comma
separated), so a viewer can look up each consumer's pending and ack-pending counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.service import Service

log = logging.getLogger("ingenium.discovery")

#: The version every component announces (the micro protocol requires a semantic version).
VERSION = "0.1.0"


async def announce(
    nc: Client,
    *,
    name: str,
    kind: str,
    cls: str,
    params: Mapping[str, Any],
    consumers: Iterable[tuple[str, str]] = (),
    symbols: Iterable[str] | None = None,
) -> Service | None:
    """Start the micro service describing this process; ``None`` (with a warning) if the server refused it."""
    metadata = {
        "kind": kind,
        "class": cls,
        "params": json.dumps(params, default=str, sort_keys=True),
        "symbols": ",".join(symbols) if symbols else "",
        "consumers": ",".join(f"{stream}/{durable}" for stream, durable in consumers),
    }
    try:
        return await add_service(nc, name=name, version=VERSION, description=f"ingenium {kind}", metadata=metadata)
    except Exception as exc:  # discovery is for viewers: a component must run even when it cannot be seen
        log.warning("%s: cannot announce the component over NATS micro: %r", name, exc)
        return None


async def withdraw(service: Service | None) -> None:
    """Stop answering discovery requests (a clean stop; a killed process simply stops answering)."""
    if service is not None:
        try:
            await service.stop()
        except Exception as exc:  # the connection may be gone already; stopping goes on, but say so
            log.warning("stopping the discovery service failed: %r", exc)
