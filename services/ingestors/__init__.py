"""Ingestors: a historical file loader and live feeds (a synthetic one, and the base for exchange feeds)."""

from services.ingestors.csv_parquet import HistoricalIngestor, HistoricalParams, LoadResult
from services.ingestors.feed import BarFeed, FeedBar, FeedDisconnected
from services.ingestors.reader import BarRow, DataFileError, read_bars
from services.ingestors.synthetic import SyntheticFeed, SyntheticParams

__all__ = [
    "BarFeed",
    "BarRow",
    "DataFileError",
    "FeedBar",
    "FeedDisconnected",
    "HistoricalIngestor",
    "HistoricalParams",
    "LoadResult",
    "SyntheticFeed",
    "SyntheticParams",
    "read_bars",
]
