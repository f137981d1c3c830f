"""PostgreSQL URLs and connections for the ledger.

Users give the plain ``postgresql://user@host:port/db`` URL that psql takes (or pgserver's socket form
``postgresql://postgres:@/postgres?host=/tmp/dir``); the driver suffix is the code's business: asyncpg takes the
plain URL, SQLAlchemy and alembic get ``postgresql+psycopg://``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ingenium.config import Settings
from ingenium.errors import ConfigurationError, ConnectionFailed

#: ``application_name`` of the projector's connection, so operators (and tests) can find it in pg_stat_activity.
APPLICATION_NAME = "ingenium-ledger"
#: Advisory lock key held while migrating, so two processes starting at once migrate one after the other.
MIGRATION_LOCK = 0x1E_D6E2_0001

_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2")


def _split(url: str) -> tuple[str, str, str, str, str]:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ConfigurationError(
            f"database URL {url!r} is not a postgresql://user@host:port/db URL; fix INGENIUM_DATABASE_URL"
        )
    return parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment


def asyncpg_url(url: str) -> str:
    """Return the URL asyncpg takes: ``postgresql://`` without a driver suffix."""
    _, netloc, path, query, fragment = _split(url)
    return urlunsplit(("postgresql", netloc, path, query, fragment))


def sqlalchemy_url(url: str) -> str:
    """Return the URL SQLAlchemy and alembic take: ``postgresql+psycopg://`` (psycopg 3)."""
    _, netloc, path, query, fragment = _split(url)
    return urlunsplit(("postgresql+psycopg", netloc, path, query, fragment))


def require_database_url(settings: Settings) -> str:
    """Return the configured database URL, or raise an error that says how to configure one."""
    if not settings.database_url:
        raise ConfigurationError(
            "no database configured: set INGENIUM_DATABASE_URL=postgresql://user@host:5432/db, "
            "or run `ingenium up` to start an embedded PostgreSQL"
        )
    return settings.database_url


async def connect(url: str, *, application_name: str = APPLICATION_NAME) -> asyncpg.Connection:
    """Open one asyncpg connection, translating driver errors into ``ConnectionFailed``."""
    target = asyncpg_url(url)
    try:
        connection: asyncpg.Connection = await asyncpg.connect(
            # UTC, so a time that reaches the server as text (``ledger.batch_write``) without an offset is UTC.
            target, server_settings={"application_name": application_name, "timezone": "UTC"}, timeout=10
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ConnectionFailed(
            f"cannot reach PostgreSQL at {url} ({exc.__class__.__name__}: {exc}); is the server running? "
            "Check INGENIUM_DATABASE_URL, or run `ingenium up` for an embedded one"
        ) from exc
    return connection


def no_tables(url: str) -> ConfigurationError:
    """The error for a database the ledger's migrations have not run on."""
    return ConfigurationError(
        f"the ledger's tables do not exist in {url}: run `ingenium ledger migrate` (or `ingenium up`) first"
    )
