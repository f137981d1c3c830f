"""``Bars``: validated OHLC bars in time order, held as an Arrow table and handed out in batches.

The columns stay as the file stored them (prices as text, exactly as written, or the Parquet column's type)
until a batch is asked for; only then are Python values built: ``Decimal`` prices, UTC datetimes and the event
ids. A backtest takes batch after batch, so it never holds more than one batch of Python objects for the bars.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingenium.bars.files import Rows
from ingenium.bars.values import to_decimals
from ingenium.events import DataEvent, Ohlc
from ingenium.ids import derive_id

#: Bars per batch: large enough that per-batch costs vanish, small enough to keep Python objects few.
BATCH = 65_536
PRICES = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class BarBatch:
    """Consecutive bars as Python values, one list per field, ready to become events."""

    ids: list[str]
    symbols: list[str]
    starts: list[datetime]
    ends: list[datetime]
    periods: list[str]
    opens: list[Decimal]
    highs: list[Decimal]
    lows: list[Decimal]
    closes: list[Decimal]
    volumes: list[Decimal]

    def __len__(self) -> int:
        return len(self.ids)


def datetimes_of(values: pa.Array | pa.ChunkedArray) -> list[datetime]:
    """UTC datetimes of a ``timestamp[us]`` (or int64 microseconds) column."""
    micros = np.asarray(values.cast(pa.int64()).to_numpy(zero_copy_only=False))
    if not (micros % 1_000_000).any():  # whole seconds (most bars): exact and twice as fast from the seconds
        at = datetime.fromtimestamp
        return [at(seconds, UTC) for seconds in (micros // 1_000_000).tolist()]
    return [moment.replace(tzinfo=UTC) for moment in micros.astype("datetime64[us]").tolist()]


def _strings(values: pa.ChunkedArray) -> list[str]:
    """The column's text values, one shared ``str`` per distinct value (symbols and periods repeat)."""
    encoded = values.combine_chunks().dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    return [distinct[i] for i in encoded.indices.to_numpy(zero_copy_only=False).tolist()]


class Bars:
    """Bars that passed validation, sorted by start time (then symbol).

    Build them with ``ingenium.bars.read_bars`` (a file) or ``bars_from_columns`` (columns in memory); both
    check every row, so the engine turns rows into events without validating them again.

    Args:
        table: Columns ``symbol``, ``start``, ``end`` (``timestamp[us, UTC]``: start plus period, when the bar
            became known), ``period`` (``1m``), ``open`` … ``volume`` (as stored) and ``row`` (the source row).
        source: Where the bars came from, for messages and the summary.
        rows: How to name a source row in a message.
        warnings: Problems accepted under the gap policy ``warn``, and sessions of the calendar with missing
            bars, one line each.
        gaps: Gaps found in the data (runs of missing bars), accepted under the gap policy.
        missing_bars: Bars those gaps lack, where known (a misaligned bar leaves it unknown).
        calendar: The exchange calendar the data was checked against (``XNYS``), if any.

    """

    def __init__(self, table: pa.Table, *, source: str = "<memory>", rows: Rows | None = None,
                 warnings: tuple[str, ...] = (), gaps: int = 0, missing_bars: int = 0,
                 calendar: str | None = None) -> None:
        self.table = table
        self.source = source
        self.rows = rows or Rows(source)
        self.warnings = warnings
        self.gaps = gaps
        self.missing_bars = missing_bars
        self.calendar = calendar

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def __repr__(self) -> str:
        # Short: a million rows would take seconds to format wherever a Bars ends up in a message.
        span = f"{self.first_start.isoformat()} .. {self.last_end.isoformat()}" if len(self) else "empty"
        return f"Bars({len(self)} bars of {', '.join(self.symbol_names)} from {self.source}, {span})"

    def __getstate__(self) -> dict[str, Any]:
        # Workers of a sweep get the Arrow table (compact), not the Python lists built from it.
        return {k: v for k, v in self.__dict__.items() if k != "_all"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def first_start(self) -> datetime:
        """Start of the first bar."""
        return datetimes_of(self.table.column("start").slice(0, 1))[0]

    @property
    def last_start(self) -> datetime:
        """Start of the last bar."""
        return datetimes_of(self.table.column("start").slice(len(self) - 1, 1))[0]

    @property
    def last_end(self) -> datetime:
        """End of the last bar."""
        return datetimes_of(self.table.column("end").slice(len(self) - 1, 1))[0]

    @cached_property
    def symbol_names(self) -> list[str]:
        """The distinct symbols, sorted."""
        return sorted(pc.unique(self.table.column("symbol")).to_pylist())

    def batches(self, size: int = BATCH) -> Iterator[BarBatch]:
        """The bars as Python values, ``size`` at a time (all at once if ``materialise`` was called)."""
        done = self.__dict__.get("_all")
        if done is not None:
            yield done
            return
        for start in range(0, len(self), size):
            yield self._convert(self.table.slice(start, size))

    def materialise(self) -> BarBatch:
        """Build every bar's Python values once and keep them (what ``ids``, ``closes`` … return)."""
        done = self.__dict__.get("_all")
        if done is None:
            done = self.__dict__["_all"] = self._convert(self.table)
        return done

    @property
    def materialised(self) -> bool:
        """Whether ``materialise`` built (and keeps) every bar's Python values."""
        return "_all" in self.__dict__

    @staticmethod
    def _convert(part: pa.Table) -> BarBatch:
        symbols = _strings(part.column("symbol"))
        starts = datetimes_of(part.column("start"))
        periods = _strings(part.column("period"))
        ids = [derive_id("data", symbol, period, start.isoformat())
               for symbol, period, start in zip(symbols, periods, starts, strict=True)]
        opens, highs, lows, closes, volumes = (to_decimals(part.column(name).combine_chunks()) for name in PRICES)
        spans = np.unique(np.asarray(part.column("end").cast(pa.int64()).to_numpy(zero_copy_only=False))
                          - np.asarray(part.column("start").cast(pa.int64()).to_numpy(zero_copy_only=False)))
        if len(spans) == 1:  # one bar length: each end is its start plus it
            length = timedelta(microseconds=int(spans[0]))
            ends = [start + length for start in starts]
        else:
            ends = datetimes_of(part.column("end"))
        return BarBatch(ids, symbols, starts, ends, periods, opens, highs, lows, closes, volumes)

    ids = property(lambda self: self.materialise().ids, doc="Event ids, derived from (symbol, period, start).")
    symbols = property(lambda self: self.materialise().symbols, doc="Symbol of each bar.")
    starts = property(lambda self: self.materialise().starts, doc="Bar starts (UTC).")
    ends = property(lambda self: self.materialise().ends, doc="Bar ends (UTC).")
    periods = property(lambda self: self.materialise().periods, doc="Bar lengths as written on the wire (1m).")
    opens = property(lambda self: self.materialise().opens, doc="Open prices.")
    highs = property(lambda self: self.materialise().highs, doc="High prices.")
    lows = property(lambda self: self.materialise().lows, doc="Low prices.")
    closes = property(lambda self: self.materialise().closes, doc="Close prices.")
    volumes = property(lambda self: self.materialise().volumes, doc="Volumes.")

    def price_lines(self) -> dict[str, tuple[list[datetime], list[Decimal]]]:
        """Per symbol, its bars' starts and closes (the report's price lines), built from the columns."""
        done = self.__dict__.get("_all")
        if len(self.symbol_names) == 1 and done is not None:  # built already: the same lists, not a copy
            return {self.symbol_names[0]: (done.starts, done.closes)}
        return {name: (datetimes_of(starts), to_decimals(closes))
                for name, (starts, closes) in self.price_columns().items()}

    def price_columns(self) -> dict[str, tuple[pa.Array, pa.Array]]:
        """Per symbol, its bars' starts and closes as Arrow arrays (no Python value per bar)."""
        table = self.table
        if len(self.symbol_names) == 1:
            parts = {self.symbol_names[0]: table}
        else:
            parts = {name: table.filter(pc.equal(table.column("symbol"), name)) for name in self.symbol_names}
        return {name: (part.column("start").combine_chunks(), part.column("close").combine_chunks())
                for name, part in parts.items()}

    def id_at(self, index: int) -> str:
        """The event id of bar ``index``, without building the others."""
        return self._convert(self.table.slice(index, 1)).ids[0]

    def event(self, index: int) -> DataEvent:
        """Build the ``DataEvent`` for one bar: ``Timestamp`` is the bar's end, ``Ohlc.Timestamp`` its start.

        Validated as any event is; the backtest's hot path builds the same events with ``trusted_bar`` instead.
        """
        one = self._convert(self.table.slice(index, 1))
        bar = Ohlc(open=one.opens[0], high=one.highs[0], low=one.lows[0], close=one.closes[0], volume=one.volumes[0],
                   period=one.periods[0], timestamp=one.starts[0])
        return DataEvent(id=one.ids[0], timestamp=one.ends[0], symbol=one.symbols[0], ohlc=bar)

    def label(self, index: int) -> str:
        """Where bar ``index`` is in its source: ``line 17`` of a CSV file, ``row 16`` otherwise."""
        return self.rows.label(int(self.table.column("row")[index].as_py()))

    def between(self, since: datetime | None = None, until: datetime | None = None) -> Bars:
        """Return the bars starting at or after ``since`` and before ``until`` (either may be ``None``).

        The warnings and gap counts stay those of the whole file.
        """
        starts = self.table.column("start").cast(pa.int64()).to_numpy()
        lo = 0 if since is None else int(np.searchsorted(starts, _micros(since)))
        hi = len(self) if until is None else int(np.searchsorted(starts, _micros(until)))
        if lo == 0 and hi == len(self):
            return self
        return Bars(self.table.slice(lo, max(0, hi - lo)), source=self.source, rows=self.rows,
                    warnings=self.warnings, gaps=self.gaps, missing_bars=self.missing_bars, calendar=self.calendar)


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
