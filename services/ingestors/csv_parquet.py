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

from pydantic import BeforeValidator, Field

from ingenium.component import Params
from ingenium.errors import ConfigurationError
from ingenium.events import DataEvent
from ingenium.ingestor import Ingestor
from ingenium.period import infer_period, parse_period
from services.ingestors.reader import BarRow, read_bars


def _mapping(value: Any) -> Any:
    """Accept ``"Date=timestamp,Last=close"`` from ``--param`` as well as a dict."""
    if isinstance(value, str):
        pairs = [p for p in value.split(",") if p.strip()]
        out: dict[str, str] = {}
        for pair in pairs:
            column, sep, field = pair.partition("=")
            if not sep:
                raise ValueError(f"{pair!r} is not COLUMN=FIELD")
            out[column.strip()] = field.strip().lower()
        return out
    return value


class HistoricalParams(Params):
    """Where the bars are and how to read them."""

    path: Path = Field(description="CSV or Parquet file of OHLC bars.")
    symbol: str | None = Field(default=None, description="Symbol of every row, for files without a symbol column.")
    columns: Annotated[dict[str, str], BeforeValidator(_mapping)] = Field(
        default_factory=dict, description="File column → field (timestamp, symbol, open, high, low, close, volume)."
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

    def read(self) -> tuple[list[BarRow], str]:
        """Read and validate the file; returns the bars in time order and their period."""
        p = self.params
        bars = read_bars(p.path, symbol=p.symbol, columns=p.columns, tz=p.tz, symbols=self.symbols)
        if p.period is not None:
            parse_period(p.period)
            return bars, p.period
        by_symbol: dict[str, list[datetime]] = {}
        for bar in bars:
            by_symbol.setdefault(bar.symbol, []).append(bar.start)
        inferred = [q for times in by_symbol.values() if (q := infer_period(times)) is not None]
        if not inferred:
            raise ConfigurationError(f"{p.path}: cannot infer the bar period from one bar; pass --period (1m, 1d …)")
        return bars, min(inferred, key=parse_period)

    def events(self, bars: list[BarRow], period: str) -> list[DataEvent]:
        """The data events for ``bars``."""
        return [
            self.bar(b.symbol, b.start, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume,
                     period=period)
            for b in bars
        ]

    def _batches(self, events: list[DataEvent]) -> list[list[DataEvent]]:
        if self.pace is None:
            size = self.params.batch_size
            return [events[i : i + size] for i in range(0, len(events), size)]
        return [list(group) for _, group in groupby(events, key=lambda e: e.bar.timestamp)]

    async def run(self) -> None:
        """Read the file and publish its bars in batches; the result is kept in ``self.result``."""
        bars, period = self.read()
        symbols = {b.symbol for b in bars}
        read = len(bars)
        if self.params.skip_loaded:
            loaded = await self.last_stored(symbols, period)
            bars = [b for b in bars if (last := loaded.get(b.symbol)) is None or b.start > last]
        events = self.events(bars, period)
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
            period=period,
            first=bars[0].start if bars else None,
            last=bars[-1].start if bars else None,
        )
        self.log.info("%s: %s", self.params.path, self.result)
