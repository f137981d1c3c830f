"""``Account``: the backtest's own books, kept from the execution events every run publishes.

The engine does not read the portfolio's internals (any ``Portfolio`` subclass can be backtested): it keeps
cash and positions from the fills on the bus, marks positions to each bar's close, and records the equity
curve, the fills and the round-trip trades the statistics are computed from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from ingenium.accounting import DECIMALS, Position, apply_fill, cash_after
from ingenium.backtest.curve import Column, Records, decimal_column, enum_column, text_column, time_column
from ingenium.errors import IngeniumError
from ingenium.events import Event, ExecutionEvent, Side

ZERO = Decimal(0)
_add, _sub = DECIMALS.add, DECIMALS.subtract


class Fill(NamedTuple):
    """One fill, as ``trades.csv`` lists it (a run keeps its fills as columns, ``Records``, and reads them as these)."""

    timestamp: datetime
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal
    order_id: str


class RoundTrip(NamedTuple):
    """A position from flat back to flat (or to a flip): what win rate counts.

    Attributes:
        symbol: The instrument.
        direction: ``long`` or ``short``.
        opened: Time of the first fill.
        closed: Time of the fill that closed it.
        pnl: Realised profit net of the commissions of its fills.

    """

    symbol: str
    direction: str
    opened: datetime
    closed: datetime
    pnl: Decimal


@dataclass(slots=True, kw_only=True)
class _Open(Position):
    """The open position of one symbol (moved by the money core) and the round trip it is part of."""

    opened: datetime
    pnl: Decimal = ZERO  # the round trip's realized PnL net of its commissions


class Account:
    """Cash, positions, fills, equity curve and round trips of one run.

    Args:
        cash: Starting cash.

    """

    def __init__(self, cash: Decimal) -> None:
        self.initial_cash = cash
        self.cash = cash
        #: The fills, round trips and equity curve (one point per bar), kept compact: ``seal`` after each batch.
        self.fills: Records[Fill] = Records(Fill, (
            time_column(), text_column(), enum_column(Side), decimal_column(), decimal_column(), decimal_column(),
            text_column()))
        self.round_trips: Records[RoundTrip] = Records(RoundTrip, (
            text_column(), text_column(), time_column(), time_column(), decimal_column()))
        self.times: Column[datetime] = time_column()
        self.equity: Column[Decimal] = decimal_column()
        self.exposed = 0
        #: Last close per symbol, written by the engine after each bar.
        self.last: dict[str, Decimal] = {}
        self._open: dict[str, _Open] = {}
        #: Positions gone flat, kept to be reopened: the core's figures keep their digits through a flat moment
        #: (a quantity of 0.00 bought 1 into is 1.00), as the ledger's and the portfolio's positions do.
        self._flat: dict[str, _Open] = {}

    def seal(self) -> None:
        """Compact what was recorded since the last call (the engine calls it after each batch of bars)."""
        for records in (self.times, self.equity, self.fills, self.round_trips):
            records.seal()

    @property
    def positions(self) -> dict[str, Decimal]:
        """Open positions, signed (short is negative)."""
        return {symbol: trip.quantity for symbol, trip in self._open.items()}

    @property
    def holdings(self) -> Mapping[str, Position]:
        """Open positions by symbol (the live dictionary: empty when flat), for the engine's fast path."""
        return self._open

    def snapshot(self, when: datetime) -> None:
        """Record the equity at ``when``: cash plus each open position at its symbol's last close."""
        self.times.append(when)
        self.equity.append(self.marked() if self._open else self.cash)

    def marked(self) -> Decimal:
        """Return cash plus open positions at their last close, counting the bar as exposed (call once per bar)."""
        self.exposed += 1
        equity = self.cash
        last = self.last
        for symbol, trip in self._open.items():
            price = last.get(symbol)
            equity += trip.quantity * (price if price is not None else trip.average_price)
        return equity

    def on_execution(self, event: Event) -> None:
        """Apply one execution event (a bus tap); non-fills change nothing."""
        if not isinstance(event, ExecutionEvent) or not event.update.moves_quantity:
            return
        if event.side is None:
            raise IngeniumError(f"execution {event.id} has no Side; the executor must say whether it bought or sold")
        commission = event.commission or ZERO
        self.cash = cash_after(self.cash, event.side, event.quantity, event.price, commission)
        when = event.execution_timestamp
        self.fills.append(Fill(when, event.symbol, event.side, event.quantity, event.price, commission,
                               event.order_id))
        self._apply(event.symbol, event.side, event.quantity, event.price, commission, when)

    def _apply(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal, commission: Decimal, when: datetime
    ) -> None:
        trip = self._open.get(symbol)
        if trip is None:
            trip = self._flat.pop(symbol, None)
            if trip is None:
                trip = _Open(opened=when)
            else:
                trip.opened, trip.pnl = when, ZERO
            self._open[symbol] = trip
        held = trip.quantity
        realized = apply_fill(trip, side, quantity, price, commission)
        trip.pnl = _sub(_add(trip.pnl, realized), commission)
        after = trip.quantity
        if not held or (after and (after > 0) is (held > 0)):
            return  # opened, grew or shrank: the trip goes on
        self.round_trips.append(RoundTrip(symbol, "long" if held > 0 else "short", trip.opened, when, trip.pnl))
        if after:
            # A flip: the rest opens a new trip at this price; the fill's commission went to the closed one.
            trip.opened, trip.pnl = when, ZERO
        else:
            self._flat[symbol] = self._open.pop(symbol)
