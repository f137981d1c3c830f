"""Event ids: random ones for new facts, derived ones where a retry must reproduce the same id.

A redelivered message must yield the same downstream id, so JetStream's ``Nats-Msg-Id`` dedup (and the
ledger's own dedup) drops the second copy. ``derive_id`` gives that: same inputs, same id.
"""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("5b1f8a4e-2c0d-4f7e-9a51-1e6f0c3d7b92")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def new_id(prefix: str) -> str:
    """A fresh random id such as ``order_1f0c…``."""
    return f"{prefix}_{uuid.uuid4().hex}"


def derive_id(prefix: str, *parts: object) -> str:
    """A deterministic id from ``parts``: the same parts always give the same id."""
    # The value of uuid.uuid5(_NAMESPACE, key).hex, computed directly (2.3x faster): ids are derived for every
    # loaded bar and every event a component emits, on the backtest's hot path.
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(map(str, parts)).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return f"{prefix}_{digest.hex()}"
