"""The portfolio: sizing, risk limits, a book of positions and cash, and recovery from the ledger."""

from services.portfolio.book import Book, OpenOrder, Position
from services.portfolio.portfolio import RiskPortfolio, RiskPortfolioParams
from services.portfolio.risk import Rejection, RiskLimits, check
from services.portfolio.sizing import SizingMode, target_size

__all__ = [
    "Book",
    "OpenOrder",
    "Position",
    "Rejection",
    "RiskLimits",
    "RiskPortfolio",
    "RiskPortfolioParams",
    "SizingMode",
    "check",
    "target_size",
]
