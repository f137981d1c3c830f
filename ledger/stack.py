"""What the ledger adds to ``ingenium up`` (the ``ingenium.stack`` entry point): its tables, created or upgraded."""

from __future__ import annotations

import asyncio

from ingenium.config import Settings
from ledger.database import require_database_url
from ledger.migrate import upgrade


async def prepare(settings: Settings, *, verbose: bool = False) -> str | None:
    """Create or upgrade the ledger's tables (what ``ingenium up`` runs); returns the revision reached.

    alembic's INFO lines (one per step) are shown only with ``verbose``.
    """
    return await asyncio.to_thread(upgrade, require_database_url(settings), verbose=verbose)


class LedgerTables:
    """The stack add-on: ``ingenium up`` migrates the ledger's tables before it says the stack is ready."""

    async def start(self, settings: Settings, *, verbose: bool) -> list[str]:
        """Migrate; nothing to print (the migration's own lines only with ``verbose``)."""
        await prepare(settings, verbose=verbose)
        return []

    async def stop(self) -> None:
        """Nothing runs between start and stop."""
