"""The ledger: exactly-once projection of orders and executions into PostgreSQL, its tables, queries and rebuild.

``ledger.queries`` reads it (typed rows); ``ledger.projector.Projector`` writes it; ``ledger.migrate.upgrade``
creates its tables; ``ledger.rebuild.rebuild`` recomputes it.
"""

from ledger.config import LedgerConfig
from ledger.migrate import upgrade
from ledger.projector import Projector
from ledger.rebuild import rebuild

__all__ = ["LedgerConfig", "Projector", "rebuild", "upgrade"]
