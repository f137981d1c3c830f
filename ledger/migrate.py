"""Create and upgrade the ledger's tables with the alembic migrations shipped in the ``migrations`` package.

The migrations directory is located from the installed package, so this works from any working directory.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import threading
from collections.abc import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import OperationalError

from ingenium.errors import ConnectionFailed
from ledger.database import sqlalchemy_url

#: alembic's bookkeeping table, named so it is clearly the ledger's.
VERSION_TABLE = "ledger_alembic_version"
_IN_PROCESS = threading.Lock()


def alembic_config(database_url: str | None = None) -> Config:
    """Build an alembic ``Config`` pointing at the shipped migrations and, when given, at ``database_url``."""
    location = importlib.resources.files("migrations")
    config = Config(str(location / "alembic.ini"))
    config.set_main_option("script_location", str(location))
    # Logging is the application's: alembic.ini's logging section is for the alembic command line only.
    config.attributes["configure_logger"] = False
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def head() -> str:
    """Return the newest revision the shipped migrations define."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError("the ledger migrations define no revision; the installation is incomplete")
    return revision


def current(database_url: str) -> str | None:
    """Return the revision ``database_url`` is at, or ``None`` before the first migration."""
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    except OperationalError as exc:
        raise ConnectionFailed(f"cannot reach PostgreSQL at {database_url}: {_one_line(exc)}") from exc
    finally:
        engine.dispose()


@contextlib.contextmanager
def _alembic_logs(verbose: bool) -> Iterator[None]:
    """Alembic logs every step at INFO; an application that logs INFO would print them all unless asked to."""
    logger = logging.getLogger("alembic")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def upgrade(database_url: str, revision: str = "head", *, verbose: bool = False) -> str | None:
    """Bring the ledger's tables in ``database_url`` up to ``revision``; returns the revision reached.

    Idempotent and safe to call from several processes at once (they take turns on an advisory lock) and from
    several threads (alembic's context is global, so they take turns on a lock here too). Blocking: from async
    code, call it with ``asyncio.to_thread``. alembic's INFO lines are logged only when ``verbose``.
    """
    try:
        with _IN_PROCESS, _alembic_logs(verbose):
            command.upgrade(alembic_config(database_url), revision)
    except OperationalError as exc:
        raise ConnectionFailed(
            f"cannot migrate the ledger at {database_url}: {_one_line(exc)}; is PostgreSQL running?"
        ) from exc
    with _alembic_logs(verbose):
        return current(database_url)


def _one_line(exc: OperationalError) -> str:
    """The driver's message on one line (psycopg spreads it over several)."""
    return " ".join(str(exc.orig).split())
