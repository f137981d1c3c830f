"""The one bar reader: epoch units, mixed time forms, exact prices, the error's place, mappings, batches."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingenium.bars import BarFileError, parse_mapping, read_bars
from ingenium.errors import ConfigurationError

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
SECONDS = int(T0.timestamp())


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000, 1_000_000_000])
def test_epoch_seconds_milliseconds_microseconds_and_nanoseconds(tmp_path: Path, scale: int) -> None:
    rows = [f"{(SECONDS + 60 * i) * scale},100,101,99,100.5" for i in range(3)]
    bars = read_bars(write(tmp_path / "acme.csv", ["timestamp,open,high,low,close", *rows]))
    assert bars.starts[0] == T0 and bars.periods == ["1m"] * 3


def test_zoned_naive_and_epoch_times_in_one_column(tmp_path: Path) -> None:
    rows = ["2024-03-01T15:30:00+01:00,1,1,1,1", "2024-03-01 09:31:00,1,1,1,1", f"{SECONDS + 120},1,1,1,1"]
    bars = read_bars(write(tmp_path / "acme.csv", ["timestamp,open,high,low,close", *rows]), tz="America/New_York")
    assert [(s - T0).total_seconds() for s in bars.starts] == [0, 60, 120]


def test_prices_stay_exactly_as_written(tmp_path: Path) -> None:
    rows = ["2024-03-01T14:30:00Z, 101.25 ,101.30,101.10,101.20", "2024-03-01T14:31:00Z,101.25,101.3,101.1,101.2500"]
    bars = read_bars(write(tmp_path / "acme.csv", ["timestamp,open,high,low,close", *rows]))
    assert [str(v) for v in bars.opens] == ["101.25", "101.25"]
    assert [str(v) for v in bars.highs] == ["101.30", "101.3"] and str(bars.closes[1]) == "101.2500"
    event = bars.event(0)
    assert event.bar.open == Decimal("101.25") and event.to_json().count(b'"101.25"') == 1


def test_the_error_names_file_line_and_column_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "acme.csv", ["timestamp,open,high,low,close", "2024-03-01T14:30:00Z,1,1,1,1", "",
                                         "2024-03-01T14:31:00Z,1,1,1,abc"])
    with pytest.raises(BarFileError) as caught:
        read_bars(path)
    error = caught.value
    assert (error.file, error.line, error.column) == (str(path), 4, "close")
    assert str(error) == f"{path} line 4: close 'abc' is not a number with at most 20 digits before and 18 after " \
                         "the point; write a decimal such as 101.25"
    assert "\n" not in str(error)


def test_parquet_columns_of_every_kind(tmp_path: Path) -> None:
    table = pa.table({
        "Date": pa.array([T0.replace(minute=30 + i) for i in range(2)], pa.timestamp("ns", "UTC")),
        "open": pa.array([Decimal("100.50"), Decimal("101")], pa.decimal128(10, 2)),
        "high": pa.array([102, 103], pa.int32()), "low": [99.5, 100.0], "close": ["101", "102.25"],
        "Ticker": ["ACME", "ACME"],
    })
    pq.write_table(table, tmp_path / "bars.pq")
    bars = read_bars(tmp_path / "bars.pq", mapping="timestamp=Date")
    assert bars.symbols == ["ACME", "ACME"] and bars.starts[1] == T0.replace(minute=31)
    assert [str(v) for v in bars.opens] == ["100.50", "101.00"] and bars.highs == [Decimal(102), Decimal(103)]
    assert [str(v) for v in bars.lows] == ["99.5", "100.0"] and bars.closes[1] == Decimal("102.25")
    pq.write_table(table.set_column(3, "low", pa.array([99.5, float("nan")])), tmp_path / "nan.parquet")
    with pytest.raises(BarFileError, match=r"nan\.parquet row 2: low nan is not a number"):
        read_bars(tmp_path / "nan.parquet", mapping={"timestamp": "Date"})


def test_one_mapping_syntax_and_a_reversed_pair_is_explained() -> None:
    assert parse_mapping("timestamp=Date, close=Last") == {"timestamp": "Date", "close": "Last"}
    assert parse_mapping(["timestamp=Date", "close=Last"]) == parse_mapping({"Timestamp": "Date", "close": "Last"})
    with pytest.raises(ConfigurationError, match="write FIELD=COLUMN: timestamp=Date"):
        parse_mapping("Date=timestamp")
    with pytest.raises(ConfigurationError, match="is not FIELD=COLUMN"):
        parse_mapping("timestamp")


def test_sorting_on_request_and_gzip(tmp_path: Path) -> None:
    lines = ["symbol,timestamp,open,high,low,close", "b,2024-03-01T14:31:00Z,2,2,2,2", "a,2024-03-01T14:31:00Z,1,1,1,1",
             "a,2024-03-01T14:30:00Z,1,1,1,1", "b,2024-03-01T14:30:00Z,2,2,2,2"]
    packed = tmp_path / "bars.csv.gz"
    with gzip.open(packed, "wt") as out:
        out.write("\n".join(lines) + "\n")
    with pytest.raises(BarFileError, match=r"line 5: b at 2024-03-01T14:30:00\+00:00 comes before line 2"):
        read_bars(packed)
    bars = read_bars(packed, sort=True)
    later = T0.replace(minute=31)
    assert bars.symbols == ["a", "b", "a", "b"] and bars.starts == [T0, T0, later, later]
    assert bars.label(0) == "line 4" and bars.volumes == [Decimal(0)] * 4


def test_batches_hold_the_same_bars_as_the_whole(tmp_path: Path) -> None:
    rows = [f"{SECONDS + 60 * i},{100 + i},{101 + i},{99 + i},{100 + i}.5" for i in range(10)]
    bars = read_bars(write(tmp_path / "acme.csv", ["timestamp,open,high,low,close", *rows]))
    parts = list(bars.batches(3))
    assert [len(p) for p in parts] == [3, 3, 3, 1]
    assert [i for p in parts for i in p.ids] == bars.ids
    assert [c for p in parts for c in p.closes] == bars.closes
    assert [e for p in parts for e in p.ends] == bars.ends
