"""NATS credentials of a secure local stack: one nkey per component kind, kept under the data directory.

``ingenium up --secure`` makes a seed per kind (``<data dir>/credentials/<kind>.nk``, mode 0600) the first time
and keeps it, and gives the embedded nats-server only the public keys with each kind's permissions
(:mod:`ingenium.permissions`). Every other command of that stack connects with the seed of its kind. Its streams
live in an account of their own (:func:`server_config`), so they are not those of a stack started without
``--secure`` on the same data dir.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nkeys

from ingenium.config import Settings
from ingenium.errors import ConfigurationError
from ingenium.permissions import KINDS, Kind, accounts, inbox_prefix, permissions
from ingenium.subjects import Subjects

CREDENTIALS_DIR = "credentials"


def seed_path(data_dir: Path, kind: Kind) -> Path:
    """Where the seed of ``kind`` lives."""
    return data_dir / CREDENTIALS_DIR / f"{kind}.nk"


def ensure_seeds(data_dir: Path) -> dict[Kind, str]:
    """Make a user nkey seed per kind where none exists yet (mode 0600); returns each kind's public key."""
    directory = data_dir / CREDENTIALS_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    public: dict[Kind, str] = {}
    for kind in KINDS:
        path = seed_path(data_dir, kind)
        if not path.exists():
            seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
            # Created 0600 from the start: the seed is never readable by others, not even for a moment.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(seed + b"\n")
        key = nkeys.from_seed(path.read_bytes().strip())
        public[kind] = key.public_key.decode()
        key.wipe()
    return public


def server_config(public_keys: dict[Kind, str], subjects: Subjects) -> str:
    """nats-server's ``accounts`` block for these keys (JSON is valid NATS configuration)."""
    users: list[dict[str, object]] = [
        {"nkey": public_keys[kind], "permissions": permissions(kind, subjects).server_config()} for kind in KINDS
    ]
    return "accounts " + json.dumps(accounts(users, subjects), indent=2) + "\n"


def for_kind(settings: Settings, kind: str) -> Settings:
    """``settings`` connecting as ``kind``'s user of the secure stack on its data dir."""
    if kind not in KINDS:
        raise ConfigurationError(
            f"a {kind} has no NATS user on a secure stack: subclass Strategy, Portfolio, Executor or Ingestor, "
            "or run it against a stack started without --secure"
        )
    return settings.model_copy(update={
        "nats_nkey_seed": seed_path(settings.data_dir, kind),
        "nats_inbox_prefix": inbox_prefix(kind),
        "nats_provisioned": kind != "provisioner",
    })


def as_stack_user(settings: Settings, kind: Kind) -> Settings:
    """``settings`` as ``kind``'s user when they connect as a user of the secure stack on their data dir.

    A stack add-on (the web UI inside ``ingenium up``) is handed the provisioner's settings; it connects as its own
    kind instead. Settings of a stack started without ``--secure`` come back unchanged.
    """
    seed = settings.nats_nkey_seed
    ours = {seed_path(settings.data_dir, k) for k in KINDS}
    if seed is None or Path(seed) not in ours:
        return settings
    return for_kind(settings, kind)

