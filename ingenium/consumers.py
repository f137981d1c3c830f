"""The durable consumers a component reads through: their configuration, creation and binding.

One durable pull consumer per stream a component reads, named ``<component>-<stream key>``. Without
``INGENIUM_NATS_PROVISIONED`` a component creates (or updates) its own consumers as it starts. With it, a
provisioning step (``ingenium streams init --component …``) holds the rights to create them, and the component
only binds to what exists, failing in one line when it is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ingenium.component import Component
from ingenium.config import Settings
from ingenium.errors import ConfigurationError
from ingenium.subjects import StreamKey


def durable_name(component: Component, key: StreamKey) -> str:
    """The durable consumer ``component`` reads stream ``key`` through."""
    return f"{component.name}-{key}"


def consumer_config(component: Component, settings: Settings, key: StreamKey) -> ConsumerConfig:
    """The configuration of ``component``'s durable consumer of stream ``key``."""
    subjects = settings.subjects
    durable = durable_name(component, key)
    if key == "data":
        symbols = component.symbols
        filters = [subjects.data(s) for s in symbols] if symbols else [subjects.all_data]
    else:
        filters = [subjects.kind_subject(kind) for kind, *_ in component.routes(key)]
    return ConsumerConfig(
        name=durable,
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_seconds,
        # Retries are counted by the runner, not by the server, so that the last failure is dead-lettered.
        max_deliver=-1,
        max_ack_pending=max(1000, settings.fetch_batch * 4),
        filter_subject=filters[0] if len(filters) == 1 else None,
        filter_subjects=filters if len(filters) > 1 else None,
    )


def _filters(config: ConsumerConfig) -> list[str]:
    return sorted(config.filter_subjects or ([config.filter_subject] if config.filter_subject else []))


def takes(config: ConsumerConfig, subject: str) -> bool:
    """Whether a consumer of ``config`` is given messages of ``subject`` (one of its stream's subjects).

    A server before 2.10 keeps no list of filters, so a consumer asked for several has none and takes them all.
    """
    filters = _filters(config)
    return not filters or subject in filters


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> str:
    """Create the consumer, or give an existing one the wanted filter (it keeps its position); what was done."""
    assert config.name is not None
    try:
        info = await js.consumer_info(stream, config.name)
    except NotFoundError:
        await js.add_consumer(stream, config)
        return f"created consumer {config.name} on {stream}"
    if _filters(info.config) == _filters(config):
        return f"consumer {config.name} on {stream} is up to date"
    # The component now reads more (or less) of the stream, e.g. cancel requests beside orders.
    info.config.filter_subject = config.filter_subject
    info.config.filter_subjects = config.filter_subjects
    await js.add_consumer(stream, info.config)  # create-or-update since nats-server 2.10
    return f"updated consumer {config.name} on {stream}"


async def bind_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Check that the provisioned consumer exists with the wanted filter; one line naming the fix if not."""
    assert config.name is not None
    try:
        info = await js.consumer_info(stream, config.name)
    except NotFoundError:
        raise ConfigurationError(
            f"consumer {config.name} of stream {stream} does not exist and this user may not create it: run "
            "`ingenium streams init --component NAME=package.module:Class` for this component first"
        ) from None
    if _filters(info.config) != _filters(config):
        raise ConfigurationError(
            f"consumer {config.name} of stream {stream} reads {', '.join(_filters(info.config))}, not "
            f"{', '.join(_filters(config))}: run `ingenium streams init --component …` again with this component's "
            "symbols"
        )


async def provision(js: JetStreamContext, components: Sequence[Component], settings: Settings) -> list[str]:
    """Create or update the consumers (and whatever else a component needs made for it) of ``components``."""
    done = []
    for component in components:
        for key in component.consumes():
            done.append(await ensure_consumer(js, settings.subjects.stream(key), consumer_config(component,
                                                                                                 settings, key)))
        done += await component.provision(js, settings)
    return done
