"""Event ids: random ones for new facts, derived ones where a retry must reproduce the same id.

A redelivered message must yield the same downstream id, so JetStream's ``Nats-Msg-Id`` dedup (and the
ledger's own dedup) drops the second copy. ``derive_id`` gives that: same inputs, same id.
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("5b1f8a4e-2c0d-4f7e-9a51-1e6f0c3d7b92")


def new_id(prefix: str) -> str:
    """A fresh random id such as ``order_1f0c…``."""
    return f"{prefix}_{uuid.uuid4().hex}"


def derive_id(prefix: str, *parts: object) -> str:
    """A deterministic id from ``parts``: the same parts always give the same id."""
    key = "\x1f".join(str(p) for p in parts)
    return f"{prefix}_{uuid.uuid5(_NAMESPACE, key).hex}"
