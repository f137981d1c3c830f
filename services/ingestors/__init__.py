"""Ingestors: a historical file loader and live feeds (a synthetic one, and the base for exchange feeds)."""

from services.ingestors.csv_parquet import HistoricalIngestor, HistoricalParams, LoadResult
from services.ingestors.feed import BarFeed, FeedBar, FeedDisconnected
from services.ingestors.synthetic import SyntheticFeed, SyntheticParams

__all__ = [
    "BarFeed",
    "FeedBar",
    "FeedDisconnected",
    "HistoricalIngestor",
    "HistoricalParams",
    "LoadResult",
    "SyntheticFeed",
    "SyntheticParams",
]
