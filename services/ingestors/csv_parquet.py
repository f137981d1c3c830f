"""Historical ingestor: a one-shot load of OHLC bars from a CSV or Parquet file.

Run it with ``ingenium ingest file bars.csv`` (progress bar, column mapping) or as a component with
``ingenium run services.ingestors.csv_parquet:HistoricalIngestor --param path=bars.csv``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BeforeValidator, Field

from ingenium.bars import BarFileError, Bars, fields_in, parse_mapping, read_bars
from ingenium.component import Params
from ingenium.events import DataEvent
from ingenium.ingestor import Ingestor


class HistoricalParams(Params):
    """Where the bars are and how to read them."""

    path: Path = Field(description="CSV or Parquet file of OHLC bars.")
    symbol: str | None = Field(default=None, description="Symbol of every row, for files without a symbol column.")
    columns: Annotated[dict[str, str], BeforeValidator(parse_mapping)] = Field(
        default_factory=dict,
        description="Field → file column for non-standard headers: timestamp=Date,close=Last (or a dict).",
    )
    tz: str = Field(default="UTC", description="Time zone of naive timestamps (IANA name).")
    period: str | None = Field(default=None, description="Bar length such as 1m or 1d; inferred when unset.")
    batch_size: int = Field(default=2000, ge=1, le=100_000, description="Bars published per batch.")
    skip_loaded: bool = Field(
        default=True,
        description="Skip bars at or before the last bar already in the stream for the symbol, so a re-run "
        "adds nothing even after the stream's duplicate window.",
    )


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load did."""

    read: int
    skipped: int
    published: int
    duplicates: int
    symbols: tuple[str, ...]
    period: str
    first: datetime | None
    last: datetime | None


class HistoricalIngestor(Ingestor[HistoricalParams]):
    """Publishes every bar of a file, in time order, then stops.

    Bar ids derive from (symbol, period, bar time), so JetStream drops a bar published twice inside its
    duplicate window; with ``skip_loaded`` bars already in the stream are not even sent, so a re-run long
    after the window stores nothing new either.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Called with (bars done, bars to publish) after each batch; the CLI draws a progress bar with it.
        self.progress: Callable[[int, int], None] | None = None
        #: When set, bars are published one bar time at a time and this is awaited after each (the demo waits
        #: there for the loop to react, as a market would give it time to).
        self.pace: Callable[[datetime], Awaitable[None]] | None = None
        self.result: LoadResult | None = None

    def read(self) -> Bars:
        """Read and check the file (rows sorted by time per symbol); returns the bars in time order."""
        p = self.params
        if p.symbol is None and "symbol" not in fields_in(p.path, p.columns):
            # Live data is not named after a file: the symbol is said, or read from the file.
            raise BarFileError(str(p.path), "no symbol column; pass --symbol AAPL, or map one (--map symbol=Ticker)")
        return read_bars(p.path, mapping=p.columns, symbol=p.symbol, period=p.period, tz=p.tz,
                         symbols=self.symbols, sort=True)

    def events(self, bars: Bars) -> list[DataEvent]:
        """The data events for ``bars``."""
        return [
            self.bar(symbol, start, open=o, high=h, low=low, close=c, volume=v, period=period)
            for batch in bars.batches()
            for symbol, start, period, o, h, low, c, v in zip(batch.symbols, batch.starts, batch.periods, batch.opens,
                                                               batch.highs, batch.lows, batch.closes, batch.volumes,
                                                               strict=True)
        ]

    def _batches(self, events: list[DataEvent]) -> list[list[DataEvent]]:
        if self.pace is None:
            size = self.params.batch_size
            return [events[i : i + size] for i in range(0, len(events), size)]
        return [list(group) for _, group in groupby(events, key=lambda e: e.bar.timestamp)]

    async def run(self) -> None:
        """Read the file and publish its bars in batches; the result is kept in ``self.result``."""
        bars = self.read()
        symbols = set(bars.symbol_names)
        pairs = pc.unique(pc.binary_join_element_wise(bars.table.column("symbol"), bars.table.column("period"), " "))
        periods = dict(pair.split(" ") for pair in pairs.to_pylist())
        read = len(bars)
        if self.params.skip_loaded:
            loaded: dict[str, datetime] = {}
            for period in set(periods.values()):
                loaded.update(await self.last_stored([s for s, q in periods.items() if q == period], period))
            bars = _after(bars, loaded)
        events = self.events(bars)
        published = duplicates = 0
        for batch in self._batches(events):
            for outcome in await self.emit(batch):
                published += 1
                duplicates += outcome.duplicate
            if self.pace is not None:
                await self.pace(batch[0].bar.timestamp)
            if self.progress is not None:
                self.progress(published, len(events))
        if self.progress is not None and not events:
            self.progress(0, 0)
        self.result = LoadResult(
            read=read,
            skipped=read - len(events),
            published=published - duplicates,
            duplicates=duplicates,
            symbols=tuple(sorted(symbols)),
            period=",".join(sorted(set(periods.values()))),
            first=bars.first_start if len(bars) else None,
            last=bars.last_start if len(bars) else None,
        )
        self.log.info("%s: %s", self.params.path, self.result)


def _after(bars: Bars, loaded: dict[str, datetime]) -> Bars:
    """The bars that start after the last one already stored for their symbol."""
    if not loaded:
        return bars
    table = bars.table
    lower = pc.utf8_lower(table.column("symbol"))
    stored = pa.chunked_array([pa.array([False] * len(bars))])
    for symbol, last in loaded.items():  # one pass per symbol, not per bar
        older = pc.less_equal(table.column("start"), pa.scalar(last, pa.timestamp("us", "UTC")))
        stored = pc.or_(stored, pc.and_(pc.equal(lower, symbol.lower()), older))
    return Bars(table.filter(pc.invert(stored)), source=bars.source, rows=bars.rows, warnings=bars.warnings,
                gaps=bars.gaps, missing_bars=bars.missing_bars, calendar=bars.calendar)
