"""What a portfolio resumes from after a restart, as ``services.portfolio.recovery`` reads it."""

from __future__ import annotations

from dataclasses import dataclass

from services.portfolio.book import Book


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """A portfolio's state, for ``RiskPortfolio.restore``.

    Attributes:
        book: Cash, positions, open orders and the fills already applied (the ledger's, then the streams' tail).
        handled_signals: Signals decided before the restart; their redelivery is skipped, not decided twice.

    """

    book: Book
    handled_signals: frozenset[str]
