"""What the writing projector keeps in memory between batches.

Recent orders, every position, the cash account, the ids of events written by a batch that has not committed yet,
and the ids this session's batches recorded most recently. Only the projector holding the lock writes the ledger,
so what it last wrote is what PostgreSQL holds once its transactions commit. Batches change this state before they
commit (the next batch is planned while the last one is written), so it lives exactly as long as one projector
session: any failure ends the session and throws it away with the uncommitted changes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterable

import asyncpg

from ledger import batch_sql
from ledger.rows import CashState, OrderState, PositionState

#: Ids per stream that a session remembers having recorded (between one and two times this many): a copy of an
#: event mostly comes soon after it.
RECENT_IDS = 100_000


class ProjectorCache:
    """Orders (the ``order_cache`` most recently used), positions and cash, as planned so far.

    Args:
        order_cache: How many orders to keep (about 1 kB each); at least as many as one batch touches, so an
            order a batch in flight changed is never read back from PostgreSQL before that batch commits.

    """

    def __init__(self, order_cache: int) -> None:
        self.order_cache = order_cache
        self._orders: OrderedDict[str, OrderState] = OrderedDict()
        self.positions: dict[str, PositionState] = {}
        self.cash: CashState | None = None
        #: Per stream, the event ids that batches written but not committed yet recorded.
        self.unconfirmed: dict[str, set[str]] = {}
        #: Orders that executions in batches written but not committed yet are waiting for.
        self.waiting: set[str] = set()
        #: Per stream, event ids this session committed: the newest generation first, at most ``RECENT_IDS`` each.
        #: Two generations, so forgetting the oldest ids costs one swap rather than a step per id.
        self.recent: dict[str, tuple[set[str], set[str]]] = {}

    async def orders(self, conn: asyncpg.Connection, order_ids: Collection[str]) -> dict[str, OrderState]:
        """Return the known orders among ``order_ids``, from memory or else from PostgreSQL."""
        found: dict[str, OrderState] = {}
        missing: list[str] = []
        for order_id in order_ids:
            order = self._orders.get(order_id)
            if order is None:
                missing.append(order_id)
            else:
                self._orders.move_to_end(order_id)
                found[order_id] = order
        found.update(await batch_sql.load_orders(conn, missing))
        return found

    def keep(self, orders: Iterable[OrderState]) -> None:
        """Remember orders (new, loaded or changed), forgetting the least recently used beyond the cache size."""
        for order in orders:
            self._orders[order.order_id] = order
            self._orders.move_to_end(order.order_id)
        while len(self._orders) > self.order_cache:
            self._orders.popitem(last=False)

    def unconfirmed_in(self, stream: str) -> set[str]:
        """Event ids of ``stream`` recorded by batches not committed yet."""
        return self.unconfirmed.setdefault(stream, set())

    def confirm(self, stream: str, event_ids: set[str], waiting: set[str]) -> None:
        """Forget what a batch left unconfirmed, once it committed (or once its connection reads it)."""
        self.unconfirmed_in(stream).difference_update(event_ids)
        self.waiting.difference_update(waiting)
        newest, older = self.recent.get(stream) or (set(), set())
        if len(newest) >= RECENT_IDS:
            newest, older = set(), newest
        newest |= event_ids
        self.recent[stream] = (newest, older)

    def recorded(self, stream: str, ids: set[str]) -> set[str]:
        """Which of ``ids`` this session recorded: in a batch in flight, or among the latest it committed."""
        newest, older = self.recent.get(stream) or (set(), set())
        return (ids & self.unconfirmed_in(stream)) | (ids & newest) | (ids & older)  # each walks the smaller set

    async def positions_of(self, conn: asyncpg.Connection, symbols: Collection[str]) -> dict[str, PositionState]:
        """Return the positions of ``symbols`` that exist, loading those not in memory yet."""
        missing = [symbol for symbol in symbols if symbol not in self.positions]
        self.positions.update(await batch_sql.load_positions(conn, missing))
        return {symbol: self.positions[symbol] for symbol in symbols if symbol in self.positions}

    async def cash_account(self, conn: asyncpg.Connection) -> CashState:
        """Return the cash account, loading it the first time."""
        if self.cash is None:
            self.cash = await batch_sql.load_cash(conn)
        return self.cash
