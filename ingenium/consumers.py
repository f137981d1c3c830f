"""The durable consumers a component reads through: their configuration, creation and binding.

One durable pull consumer per stream a component reads, named ``<component>-<stream key>``. Without
``INGENIUM_NATS_PROVISIONED`` a component creates (or updates) its own consumers as it starts. With it, a
provisioning step (``ingenium streams init --component …``) holds the rights to create them, and the component
only binds to what exists, failing in one line when it is missing.

Replicas of a component (the Helm chart's Deployments, ``make soak``'s two strategies) bind the same durable. They
are hot standbys, not workers sharing it: the durable has the priority group ``replicas`` with the ``pinned_client``
policy (ADR-42, nats-server 2.11+), so the server delivers to one replica (the pinned one) only; the others' pull
requests wait. When the pinned one stops pulling (it died) for ``PIN_TIMEOUT_SECONDS``, the server pins another,
which carries on from the ack floor (``ingenium.pull``). A strategy keeps per-symbol state, so splitting a symbol's
bars between replicas would break it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from ingenium.component import Component
from ingenium.config import Settings
from ingenium.errors import ConfigurationError
from ingenium.subjects import StreamKey

#: The one priority group of every durable; pull requests name it.
GROUP = "replicas"
#: Seconds without a pull from the pinned replica before the server pins another (well above a pull's expiry,
#: 1 s, as ADR-42 advises, so a replica between two pulls keeps its pin): the bound on a takeover.
PIN_TIMEOUT_SECONDS = 5.0


@dataclass
class PinnedConsumerConfig(ConsumerConfig):
    """A consumer configuration with ADR-42's priority group fields, which nats-py 2.16 does not have."""

    priority_groups: list[str] | None = None
    priority_policy: str | None = None
    priority_timeout: float | None = None

    def as_dict(self) -> dict[str, object]:
        """The API form: the timeout in nanoseconds."""
        result = super().as_dict()
        if self.priority_timeout is not None:
            result["priority_timeout"] = self._to_nanoseconds(self.priority_timeout)
        return result


def durable_name(component: Component, key: StreamKey) -> str:
    """The durable consumer ``component`` reads stream ``key`` through."""
    return f"{component.name}-{key}"


def consumer_config(component: Component, settings: Settings, key: StreamKey) -> PinnedConsumerConfig:
    """The configuration of ``component``'s durable consumer of stream ``key``."""
    subjects = settings.subjects
    durable = durable_name(component, key)
    if key == "data":
        symbols = component.symbols
        filters = [subjects.data(s) for s in symbols] if symbols else [subjects.all_data]
    else:
        filters = [subjects.kind_subject(kind) for kind, *_ in component.routes(key)]
    return PinnedConsumerConfig(
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
        priority_groups=[GROUP],
        priority_policy="pinned_client",
        priority_timeout=PIN_TIMEOUT_SECONDS,
    )


def _filters(config: ConsumerConfig) -> list[str]:
    return sorted(config.filter_subjects or ([config.filter_subject] if config.filter_subject else []))


def _priority(config: PinnedConsumerConfig) -> tuple[object, ...]:
    return config.priority_groups, config.priority_policy, config.priority_timeout


async def _existing(js: JetStreamContext, stream: str, name: str) -> PinnedConsumerConfig:
    """The consumer's configuration with its priority group fields (``NotFoundError`` when it does not exist)."""
    await js.consumer_info(stream, name)  # raises NotFoundError as nats-py does
    # nats-py drops the fields it does not know: read them from the raw answer.
    reply = await js._nc.request(f"{js._prefix}.CONSUMER.INFO.{stream}.{name}", b"", timeout=js._timeout)
    config = json.loads(reply.data)["config"]
    if config.get("priority_timeout") is not None:
        config["priority_timeout"] = config["priority_timeout"] / 1_000_000_000
    existing: PinnedConsumerConfig = PinnedConsumerConfig.from_response(config)
    return existing


async def ensure_consumer(js: JetStreamContext, stream: str, config: PinnedConsumerConfig) -> str:
    """Create the consumer, or give an existing one the wanted filter and priority group (it keeps its position).

    What was done, in one line. nats-server 2.15 lets an update add the priority group to a durable made before
    replicas were pinned.
    """
    assert config.name is not None
    try:
        existing = await _existing(js, stream, config.name)
    except NotFoundError:
        await js.add_consumer(stream, config)
        return f"created consumer {config.name} on {stream}"
    if _filters(existing) == _filters(config) and _priority(existing) == _priority(config):
        return f"consumer {config.name} on {stream} is up to date"
    # The component now reads more (or less) of the stream, e.g. cancel requests beside orders; or the durable
    # predates the priority group its replicas are pinned through.
    existing.filter_subject = config.filter_subject
    existing.filter_subjects = config.filter_subjects
    existing.priority_groups = config.priority_groups
    existing.priority_policy = config.priority_policy
    existing.priority_timeout = config.priority_timeout
    try:
        await js.add_consumer(stream, existing)  # create-or-update since nats-server 2.10
    except nats.js.errors.BadRequestError as exc:
        raise ConfigurationError(
            f"consumer {config.name} of stream {stream} cannot be given the wanted filter and priority group "
            f"{GROUP!r} ({exc.description}): delete it (`nats consumer rm {stream} {config.name}`; it starts "
            "again from the stream's first message) and start the component again"
        ) from None
    return f"updated consumer {config.name} on {stream}"


async def bind_consumer(js: JetStreamContext, stream: str, config: PinnedConsumerConfig) -> None:
    """Check that the provisioned consumer exists as wanted (filter, priority group); one line naming the fix if not."""
    assert config.name is not None
    try:
        info = await _existing(js, stream, config.name)
    except NotFoundError:
        raise ConfigurationError(
            f"consumer {config.name} of stream {stream} does not exist and this user may not create it: run "
            "`ingenium streams init --component NAME=package.module:Class` for this component first"
        ) from None
    if _filters(info) != _filters(config):
        raise ConfigurationError(
            f"consumer {config.name} of stream {stream} reads {', '.join(_filters(info))}, not "
            f"{', '.join(_filters(config))}: run `ingenium streams init --component …` again with this component's "
            "symbols"
        )
    if _priority(info) != _priority(config):
        raise ConfigurationError(
            f"consumer {config.name} of stream {stream} has priority groups {info.priority_groups} "
            f"({info.priority_policy}, timeout {info.priority_timeout}s), not [{GROUP!r}] (pinned_client, timeout "
            f"{PIN_TIMEOUT_SECONDS:g}s), so its replicas would not be hot standbys: run `ingenium streams init "
            "--component …` again for this component"
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
