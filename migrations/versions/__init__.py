"""Alembic revisions of the ledger's schema, oldest first."""
