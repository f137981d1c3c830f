"""What a portfolio resumes from after a restart, as ``services.portfolio.recovery`` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from ingenium.events import SignalEvent
from services.portfolio.book import Book


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """A portfolio's state, for ``RiskPortfolio.restore``.

    Attributes:
        book: Cash, positions, open orders and the fills already applied (the ledger's, then the streams' tail).
        handled_signals: Signals decided before the restart; their redelivery is skipped, not decided twice.
        first_signals: Signals the dead process was delivered but did not answer, in stream order: decided before
            anything the consumer delivers, and their redelivery then skipped.

    """

    book: Book
    handled_signals: frozenset[str]
    first_signals: tuple[SignalEvent, ...] = ()
