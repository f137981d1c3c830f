"""Connecting to NATS, with driver errors translated into one actionable message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

import nats
from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.errors import ConfigurationError, ConnectionFailed

log = logging.getLogger("ingenium.connection")


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of NATS connections: the configured CA (else the system's), and a client certificate if set."""
    try:
        context = ssl.create_default_context(cafile=str(settings.nats_tls_ca) if settings.nats_tls_ca else None)
        if settings.nats_tls_cert and settings.nats_tls_key:
            context.load_cert_chain(str(settings.nats_tls_cert), str(settings.nats_tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load the NATS TLS files ({exc}): check INGENIUM_NATS_TLS_CA, INGENIUM_NATS_TLS_CERT and "
            "INGENIUM_NATS_TLS_KEY name readable PEM files"
        ) from exc
    return context


async def connect_nats(settings: Settings, url: str | None = None, *, name: str = "ingenium") -> Client:
    """Connect to the NATS server in ``url`` (or ``settings.nats_url``) with the configured credentials."""
    target = url or settings.nats_url
    if not target:
        raise ConfigurationError(
            "no NATS server configured: set INGENIUM_NATS_URL=nats://host:4222, or run `ingenium up` "
            "to start an embedded one"
        )
    options: dict[str, object] = {
        "servers": [s.strip() for s in target.split(",")],
        "name": name,
        "connect_timeout": 3,
        # A few quick tries at start-up so a wrong URL fails fast; unlimited reconnects once connected (below).
        "max_reconnect_attempts": 3,
        "reconnect_time_wait": 0.5,
        "allow_reconnect": True,
        # A node that vanishes without closing its sockets (power loss, a partition) is noticed after about
        # three missed pings, not nats-py's default of four minutes, and the client moves to another node.
        "ping_interval": 5,
        "max_outstanding_pings": 3,
    }
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password
    if settings.nats_token:
        options["token"] = settings.nats_token
    if settings.nats_creds:
        options["user_credentials"] = str(settings.nats_creds)
    if settings.nats_nkey_seed:
        if not settings.nats_nkey_seed.is_file():
            raise ConfigurationError(f"INGENIUM_NATS_NKEY_SEED {settings.nats_nkey_seed} is not a readable file: "
                                     "give the path of a file holding a user nkey seed (SU...)")
        options["nkeys_seed"] = str(settings.nats_nkey_seed)
    options["inbox_prefix"] = settings.nats_inbox_prefix
    if settings.nats_tls_ca or settings.nats_tls_cert:
        options["tls"] = tls_context(settings)

    client: list[Client] = []
    refused_tls: list[ssl.SSLError] = []
    tls_failed = asyncio.Event()

    async def _log_error(exc: Exception) -> None:
        # Start-up failures surface as ConnectionFailed below; later ones are reconnected, so only log them.
        log.debug("NATS connection error: %r", exc)
        if not client and isinstance(exc, ssl.SSLError):
            # nats-py can hang closing a socket whose handshake failed: give up at once, naming the cause.
            refused_tls.append(exc)
            tls_failed.set()

    async def _disconnected() -> None:
        if client and (client[0].is_closed or client[0].is_draining):
            return  # our own close or drain, not an outage
        log.warning("disconnected from NATS at %s; reconnecting", target)

    async def _reconnected() -> None:
        log.warning("reconnected to NATS")

    connecting = asyncio.ensure_future(nats.connect(
        error_cb=_log_error, disconnected_cb=_disconnected, reconnected_cb=_reconnected, **options  # type: ignore[arg-type]
    ))
    watcher = asyncio.ensure_future(tls_failed.wait())
    try:
        await asyncio.wait([connecting, watcher], return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connecting
        raise ConnectionFailed(
            f"TLS with NATS at {target} failed ({refused_tls[0]}): set INGENIUM_NATS_TLS_CA to the CA that signed "
            "the server's certificate, and INGENIUM_NATS_TLS_CERT/_KEY if the server requires a client certificate"
        ) from refused_tls[0]
    try:
        nc = connecting.result()
    except (OSError, TimeoutError, nats.errors.NoServersError) as exc:
        raise ConnectionFailed(
            f"cannot reach NATS at {target} ({exc.__class__.__name__}): is the server running? "
            "Check INGENIUM_NATS_URL, or unset it to use the embedded server"
        ) from exc
    client.append(nc)
    # nats-py reads these per attempt; a running component should ride out a server restart however long.
    nc.options["max_reconnect_attempts"] = -1
    nc.options["reconnect_time_wait"] = 2
    return nc


def server_at_least(nc: Client, major: int, minor: int) -> bool:
    """Whether the server ``nc`` is connected to is nats-server ``major.minor`` or later (some features need it)."""
    version = nc.connected_server_version
    return (version.major, version.minor) >= (major, minor)
