"""``Bars``: validated OHLC bars in time order, held in columns, the input of a backtest."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ingenium.backtest.trusted import trusted_bar
from ingenium.events import DataEvent


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Bars:
    """Bars that passed validation, sorted by start time (then symbol), one column per field.

    Build them with ``ingenium.backtest.load_bars`` (CSV or Parquet) or ``bars_from_columns``; both check every
    row, so the engine can turn rows into events without validating them again.

    Attributes:
        ids: Event ids, derived from (symbol, period, start) as the historical ingestor derives them.
        symbols: Symbol of each bar.
        starts: Bar start (UTC).
        ends: Bar end (UTC): start plus period, when the bar became known.
        periods: Bar length as written on the wire (``1m``).
        opens: Open prices.
        highs: High prices.
        lows: Low prices.
        closes: Close prices.
        volumes: Volumes.
        source: Where the bars came from, for messages and the summary.
        warnings: Problems accepted under the gap policy ``warn``, and sessions of the calendar with missing
            bars, one line each.
        gaps: Gaps found in the data (runs of missing bars), accepted under the gap policy.
        missing_bars: Bars those gaps lack, where known (a misaligned bar leaves it unknown).
        calendar: The exchange calendar the data was checked against (``XNYS``), if any.

    """

    ids: Sequence[str]
    symbols: Sequence[str]
    starts: Sequence[datetime]
    ends: Sequence[datetime]
    periods: Sequence[str]
    opens: Sequence[Decimal]
    highs: Sequence[Decimal]
    lows: Sequence[Decimal]
    closes: Sequence[Decimal]
    volumes: Sequence[Decimal]
    source: str = "<memory>"
    warnings: tuple[str, ...] = field(default=())
    gaps: int = 0
    missing_bars: int = 0
    calendar: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        # Short: a million rows would take seconds to format wherever a Bars ends up in a message.
        span = f"{self.starts[0].isoformat()} .. {self.ends[-1].isoformat()}" if len(self) else "empty"
        return f"Bars({len(self)} bars of {', '.join(self.symbol_names)} from {self.source}, {span})"

    def event(self, index: int) -> DataEvent:
        """Build the ``DataEvent`` for one bar: ``Timestamp`` is the bar's end, ``Ohlc.Timestamp`` its start."""
        return trusted_bar(
            self.ids[index], self.symbols[index], self.starts[index], self.ends[index], self.periods[index],
            self.opens[index], self.highs[index], self.lows[index], self.closes[index], self.volumes[index],
        )

    @property
    def symbol_names(self) -> list[str]:
        """The distinct symbols, sorted."""
        return sorted(set(self.symbols))

    def between(self, since: datetime | None = None, until: datetime | None = None) -> Bars:
        """Return the bars starting at or after ``since`` and before ``until`` (either may be ``None``).

        The warnings and gap counts stay those of the whole file.
        """
        lo = 0 if since is None else bisect_left(self.starts, since)
        hi = len(self) if until is None else bisect_left(self.starts, until)
        if lo == 0 and hi == len(self):
            return self
        cut = slice(lo, max(lo, hi))
        return Bars(
            ids=self.ids[cut], symbols=self.symbols[cut], starts=self.starts[cut], ends=self.ends[cut],
            periods=self.periods[cut], opens=self.opens[cut], highs=self.highs[cut], lows=self.lows[cut],
            closes=self.closes[cut], volumes=self.volumes[cut], source=self.source, warnings=self.warnings,
            gaps=self.gaps, missing_bars=self.missing_bars, calendar=self.calendar,
        )
