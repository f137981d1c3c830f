"""Alembic environment for the ledger: psycopg 3 driver, one advisory lock so concurrent migrates run one at a time."""

from __future__ import annotations

import logging.config
import os

from alembic import context
from sqlalchemy import create_engine, pool, text

from ledger.database import MIGRATION_LOCK, sqlalchemy_url
from ledger.migrate import VERSION_TABLE
from ledger.tables import SQLModel

config = context.config
# The alembic command line logs as alembic.ini says; Ingenium (ledger.migrate) configures logging itself.
if config.attributes.get("configure_logger", True) and config.config_file_name and config.get_section("loggers"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("INGENIUM_DATABASE_URL")
    if not url:
        raise SystemExit("set INGENIUM_DATABASE_URL=postgresql://user@host:port/db to migrate the ledger")
    return sqlalchemy_url(url)


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Other components may keep tables in the same database (the runs of migration 0003 are not SQLModel
    # classes): autogenerate looks at the ledger's tables, and the indexes and columns on them, only.
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table is None or table.startswith("ledger_")


def run_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, version_table=VERSION_TABLE,
        include_object=_include,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection, target_metadata=target_metadata, version_table=VERSION_TABLE,
                include_object=_include, transaction_per_migration=False,
            )
            with context.begin_transaction():
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
