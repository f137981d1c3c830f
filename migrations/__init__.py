"""Alembic migrations of the ledger's tables; run them with ``ingenium ledger migrate`` (``ledger.migrate``)."""
