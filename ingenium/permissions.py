"""Who may publish and subscribe to what: one NATS user per component kind, with the rights of its job only.

This table is the one source of the users' permissions and accounts: ``ingenium up --secure`` renders it into the
embedded nats-server's configuration, and ``deploy/helm/nats-values.yaml`` is checked against it by the tests.

A listed allow denies everything else; the explicit denies guard against a later widening of an allow. Subscribe
permissions do not gate what a JetStream consumer delivers (nats-server #3202), so reads are controlled by which
consumers a user may pull from (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>``) and by which streams it may
read by direct get (``$JS.API.DIRECT.GET.<stream>``). No component may create or delete a consumer (issue #14):
they bind to the durables ``ingenium streams init`` made, and read ranges by direct get. Each kind has an inbox
prefix of its own (``_INBOX_<kind>``), so no component can subscribe to another's replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from ingenium.subjects import StreamKey, Subjects

Kind = Literal["provisioner", "ingestor", "strategy", "portfolio", "executor", "ledger", "web"]
KINDS: tuple[Kind, ...] = get_args(Kind)

#: JetStream administration: only the provisioner may do it.
_ADMIN = [
    "$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>",
]


@dataclass(frozen=True, slots=True)
class Permissions:
    """One user's permissions, in nats-server's terms."""

    publish_allow: list[str]
    publish_deny: list[str]
    subscribe_allow: list[str]
    allow_responses: bool = True
    #: The inbox prefix the user's connections must use (``INGENIUM_NATS_INBOX_PREFIX``).
    inbox_prefix: str = "_INBOX"
    subscribe_deny: list[str] = field(default_factory=list)

    def may_publish(self, subject: str) -> bool:
        """Whether nats-server lets this user publish on ``subject`` (a deny overrides an allow)."""
        return (any(_matches(p, subject) for p in self.publish_allow)
                and not any(_matches(p, subject) for p in self.publish_deny))

    def server_config(self) -> dict[str, object]:
        """The ``permissions`` block of a nats-server ``authorization.users`` entry."""
        publish: dict[str, list[str]] = {"allow": self.publish_allow}
        if self.publish_deny:
            publish["deny"] = self.publish_deny
        subscribe: dict[str, list[str]] = {"allow": self.subscribe_allow}
        if self.subscribe_deny:
            subscribe["deny"] = self.subscribe_deny
        block: dict[str, object] = {"publish": publish, "subscribe": subscribe}
        if self.allow_responses:
            block["allow_responses"] = True
        return block


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    want, got = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(got) > i
        if i >= len(got) or (token != "*" and token != got[i]):
            return False
    return len(got) == len(want)


def inbox_prefix(kind: str) -> str:
    """The inbox prefix of one kind's connections."""
    return f"_INBOX_{kind}"


def _pull(subjects: Subjects, key: StreamKey, durable: str = "*") -> list[str]:
    """Pull from, ack on and look at one's own durable consumer of a stream (bind, never create).

    Resetting it to its ack floor is part of pulling: after a gap in its deliveries, the lost ones come first.
    """
    stream = subjects.stream(key)
    return [
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.RESET.{stream}.{durable}",
    ]


def _direct(subjects: Subjects, *keys: StreamKey) -> list[str]:
    """Read these streams by direct get (``ingenium.streamread``), which needs no consumer."""
    return [f"$JS.API.DIRECT.GET.{stream}{tail}" for stream in map(subjects.stream, keys) for tail in ("", ".>")]


def permissions(kind: Kind, subjects: Subjects | None = None) -> Permissions:
    """The permissions of ``kind``'s user under ``subjects``' namespace."""
    s = subjects or Subjects()
    inbox = inbox_prefix(kind)
    if kind == "provisioner":
        # `ingenium streams init` and the operator's commands (status, streams ls, publish, order cancel).
        return Permissions(
            publish_allow=["$JS.API.>", "$SRV.>", s.all_data, s.signal, s.order, s.cancel, s.execution],
            publish_deny=[], subscribe_allow=[f"{inbox}.>"], allow_responses=False, inbox_prefix=inbox,
        )
    events = {"data": s.all_data, "signal": s.signal, "order": s.order, "cancel": s.cancel,
              "execution": s.execution}
    common = ["$JS.API.INFO", "$JS.API.STREAM.INFO.*", s.all_dead_letters]
    publishes: dict[Kind, list[str]] = {
        "ingestor": ["data"], "strategy": ["signal"], "portfolio": ["order", "cancel"],
        "executor": ["execution"], "ledger": [], "web": ["cancel"],
    }
    own = [events[e] for e in publishes[kind]]
    data = s.stream("data")
    allow: list[str]
    if kind == "ingestor":
        # The last bar stored per symbol, to skip bars already loaded.
        allow = [f"$JS.API.STREAM.MSG.GET.{data}", f"$JS.API.DIRECT.GET.{data}", f"$JS.API.DIRECT.GET.{data}.>"]
    elif kind == "strategy":
        allow = _pull(s, "data")
    elif kind == "portfolio":
        # Recovery reads the order, execution and signal streams and its own consumers' positions.
        allow = [*_pull(s, "signal"), *_pull(s, "execution"), *_direct(s, "order", "execution", "signal")]
    elif kind == "executor":
        # Its order log is a key-value bucket made by the provisioning step; prices come from the data stream.
        allow = [*_pull(s, "order"), *_pull(s, "data"), f"$JS.API.STREAM.MSG.GET.{data}",
                 f"$JS.API.DIRECT.GET.{data}", f"$JS.API.DIRECT.GET.{data}.>", "$KV.*.>",
                 "$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.*.$KV.>"]
    elif kind == "ledger":
        allow = _direct(s, "order", "execution")
    else:  # web: reads stream and consumer state and dead letters, asks components for discovery
        allow = ["$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.CONSUMER.INFO.*.*",
                 "$JS.API.CONSUMER.NAMES.*", "$JS.API.CONSUMER.LIST.*", "$JS.API.STREAM.MSG.GET.*",
                 "$JS.API.DIRECT.GET.*", "$JS.API.DIRECT.GET.*.>", "$SRV.>"]
    denied = [subject for event, subject in events.items() if event not in publishes[kind]]
    subscribe = [f"{inbox}.>", "$SRV.>"]
    if kind == "web":
        # Live updates through core subscriptions: read-only.
        subscribe.append(f"{s.namespace}.ingenium.>" if s.namespace else "ingenium.>")
    elif kind == "ledger":
        # Core subscriptions on what it projects wake its readers up when something is published.
        subscribe += [s.order, s.cancel, s.execution]
    return Permissions(
        publish_allow=[*own, *common, *allow], publish_deny=[*denied, *_ADMIN], subscribe_allow=subscribe,
        inbox_prefix=inbox,
    )


#: The account that holds the streams; no user logs into it.
STREAMS_ACCOUNT = "INGENIUM_STREAMS"
#: The account every component's user logs into.
USERS_ACCOUNT = "INGENIUM"


def accounts(users: list[dict[str, object]], subjects: Subjects | None = None) -> dict[str, object]:
    """nats-server's ``accounts``: the streams in one account, ``users`` in another that imports what they use.

    The users' account reaches the streams' account only through service imports (the JetStream API, acks,
    key-value writes and the event subjects). A pull request's reply subject is then mapped to a reply into the
    users' account, so deliveries asked to go to ``ingenium.portfolio.order`` land there, where no stream
    listens, instead of being stored as orders: nats-server checks no permission on a reply subject.
    """
    s = subjects or Subjects()
    # Wildcards only: nats-server passes a reply subject that is itself exactly a service import straight through,
    # unmapped (tested: an import of `ingenium.portfolio.order` alone lets a pull deliver into the order stream).
    events = f"{s.namespace}.ingenium.>" if s.namespace else "ingenium.>"
    services = ["$JS.API.>", "$JS.ACK.>", "$KV.>", events]
    return {
        STREAMS_ACCOUNT: {
            "jetstream": "enabled",
            # A pull request is answered by a stream of messages, not one reply.
            "exports": [{"service": x, **({"response_type": "stream"} if x == "$JS.API.>" else {})}
                        for x in services],
        },
        USERS_ACCOUNT: {
            "users": users,
            "imports": [{"service": {"account": STREAMS_ACCOUNT, "subject": x}} for x in services],
        },
    }
