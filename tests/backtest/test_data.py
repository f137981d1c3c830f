"""Loading and checking bar files: every problem names the file and the row."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingenium.bars import BarFileError, bars_from_columns, read_bars
from ingenium.errors import ConfigurationError
from ingenium.ids import derive_id
from ingenium.period import format_period, parse_period

HEADER = "timestamp,open,high,low,close,volume"
GOOD = [
    "2024-03-01T14:30:00Z,100,101,99,100.5,10",
    "2024-03-01T14:31:00Z,100.5,102,100,101.5,12",
    "2024-03-01T14:32:00Z,101.5,102,101,101,9",
]


def csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "acme.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_csv_loads_in_order_with_ids_the_ingestor_derives(tmp_path: Path) -> None:
    bars = read_bars(csv(tmp_path, GOOD))
    assert len(bars) == 3
    assert bars.symbols == ["acme"] * 3
    assert bars.periods == ["1m"] * 3
    assert bars.starts[0] == datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    assert bars.ends[0] == datetime(2024, 3, 1, 14, 31, tzinfo=UTC)
    assert bars.closes == [Decimal("100.5"), Decimal("101.5"), Decimal("101")]
    assert bars.ids[0] == derive_id("data", "acme", "1m", bars.starts[0].isoformat())
    event = bars.event(1)
    assert event.timestamp == bars.ends[1] and event.bar.timestamp == bars.starts[1]
    assert event.bar.high == Decimal(102)


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (GOOD, "timestamp,open,close", "missing column(s) high, low"),
        ([GOOD[0], "2024-03-01T14:31:00Z,100.5,102,100,,12"], HEADER, "line 3: close is empty"),
        ([GOOD[0], "2024-03-01T14:31:00Z,100.5,102,100,abc,12"], HEADER, "line 3: close 'abc' is not a number"),
        ([GOOD[0], "2024-03-01T14:31:00Z,0,102,0,101,12"], HEADER, "line 3: open 0 must be greater than zero"),
        ([GOOD[0], "2024-03-01T14:31:00Z,-1,102,-2,101,12"], HEADER, "line 3: open -1 must be greater than zero"),
        ([GOOD[0], "2024-03-01T14:31:00Z,100,102,100,101,-5"], HEADER, "line 3: volume -5 must not be negative"),
        ([GOOD[0], "2024-03-01T14:31:00Z,100,100.5,100,101,5"], HEADER, "line 3: low 100 / high 100.5 must bracket"),
        ([GOOD[0], "2024-03-01T14:31:00Z,100,102,99,NaN,5"], HEADER, "line 3: close 'NaN' is not a number"),
        ([GOOD[0], "yesterday,100,102,99,101,5"], HEADER, "line 3: timestamp 'yesterday' is not a time"),
        ([GOOD[1], GOOD[0], GOOD[2]], HEADER, "line 3: acme at 2024-03-01T14:30:00+00:00 comes before line 2"),
        ([GOOD[0], GOOD[1], GOOD[1]], HEADER, "line 4: acme at 2024-03-01T14:31:00+00:00 duplicates the timestamp"
                                              " of line 3"),
        ([GOOD[0], "2024-03-01T14:30:00Z,100,101,99,100.5"], HEADER, "line 3: 5 fields, but the header names 6"),
        ([], HEADER, "no rows"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, rows: list[str], header: str, message: str) -> None:
    with pytest.raises(BarFileError) as caught:
        read_bars(csv(tmp_path, rows, header))
    assert message in str(caught.value)
    assert str(tmp_path / "acme.csv") in str(caught.value)


def test_gap_policy_error_warn_and_accept(tmp_path: Path) -> None:
    rows = [GOOD[0], GOOD[1], "2024-03-01T14:35:00Z,101.5,102,101,101,9"]
    with pytest.raises(BarFileError) as caught:
        read_bars(csv(tmp_path, rows), gaps="error")
    assert ("line 4: acme at 2024-03-01T14:35:00+00:00 follows line 3 after 0:04:00, a gap (3 missing bar(s))"
            in str(caught.value))
    warned = read_bars(csv(tmp_path, rows), gaps="warn", period="1m")
    assert len(warned) == 3 and len(warned.warnings) == 1 and "line 4" in warned.warnings[0]
    accepted = read_bars(csv(tmp_path, rows), period="1m")  # the default accepts gaps and counts them
    assert accepted.warnings == () and (accepted.gaps, accepted.missing_bars) == (1, 3)


def test_overlapping_bars_are_refused(tmp_path: Path) -> None:
    rows = [GOOD[0], "2024-03-01T14:30:30Z,100.5,102,100,101.5,12"]
    with pytest.raises(BarFileError, match=r"line 3: .* less than the bar period 1m; bars overlap"):
        read_bars(csv(tmp_path, rows), period="1m")


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(BarFileError, match="does not exist"):
        read_bars(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(BarFileError, match="unknown format"):
        read_bars(tmp_path / "x.json")


def test_naive_times_in_a_zone_epochs_aliases_and_mapping(tmp_path: Path) -> None:
    rows = ["2024-03-01 09:30:00,100,101,99,100.5", "2024-03-01 09:31:00,100.5,102,100,101.5"]
    bars = read_bars(csv(tmp_path, rows, "Date,Open,High,Low,Close"), tz="America/New_York")
    assert bars.starts[0] == datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    assert bars.volumes == [Decimal(0), Decimal(0)]
    epoch = int(datetime(2024, 3, 1, 14, 30, tzinfo=UTC).timestamp()) * 1000
    rows = [f"{epoch},100,101,99,100.5", f"{epoch + 60_000},100.5,102,100,101.5"]
    bars = read_bars(csv(tmp_path, rows, "when,open,high,low,close"), mapping={"timestamp": "when"})
    assert bars.starts[1] == datetime(2024, 3, 1, 14, 31, tzinfo=UTC)
    with pytest.raises(ConfigurationError, match="unknown time zone"):
        read_bars(csv(tmp_path, rows, "when,open,high,low,close"), mapping={"timestamp": "when"}, tz="Mars/Base")


def test_multi_symbol_files_sort_by_time_then_symbol(tmp_path: Path) -> None:
    rows = [
        "2024-03-01T14:30:00Z,ZED,10,11,9,10", "2024-03-01T14:31:00Z,ZED,10,11,9,10.5",
        "2024-03-01T14:30:00Z,ACME,100,101,99,100", "2024-03-01T14:31:00Z,ACME,100,101,99,101",
    ]
    bars = read_bars(csv(tmp_path, rows, "timestamp,symbol,open,high,low,close", name="many.csv"))
    assert list(bars.symbols) == ["ACME", "ZED", "ACME", "ZED"]
    assert bars.symbol_names == ["ACME", "ZED"]
    bad = [*rows, "2024-03-01T14:32:00Z,bad sym,1,1,1,1"]
    with pytest.raises(BarFileError, match="line 6: symbol 'bad sym' is not valid"):
        read_bars(csv(tmp_path, bad, "timestamp,symbol,open,high,low,close", name="many.csv"))


def test_period_column_and_inference(tmp_path: Path) -> None:
    rows = ["2024-03-01,100,101,99,100.5,1d", "2024-03-04,100.5,102,100,101.5,1d"]
    bars = read_bars(csv(tmp_path, rows, "date,open,high,low,close,period"))
    assert bars.periods == ["1d", "1d"] and bars.ends[0] == datetime(2024, 3, 2, tzinfo=UTC)
    with pytest.raises(BarFileError, match="cannot infer the bar period of acme from 1 bar"):
        read_bars(csv(tmp_path, GOOD[:1]))
    assert len(read_bars(csv(tmp_path, GOOD[:1]), period="1m")) == 1


def test_gzip_and_parquet_give_the_same_bars(tmp_path: Path) -> None:
    plain = read_bars(csv(tmp_path, GOOD))
    packed = tmp_path / "acme.csv.gz"
    with gzip.open(packed, "wt") as out:
        out.write("\n".join([HEADER, *GOOD]) + "\n")
    table = pa.table({
        "timestamp": pa.array([datetime(2024, 3, 1, 14, 30 + i, tzinfo=UTC) for i in range(3)],
                              pa.timestamp("ns", "UTC")),
        "open": [100.0, 100.5, 101.5], "high": [101.0, 102.0, 102.0], "low": [99.0, 100.0, 101.0],
        "close": [100.5, 101.5, 101.0], "volume": pa.array([10, 12, 9], pa.int64()),
    })
    pq.write_table(table, tmp_path / "acme.parquet")
    for other in (read_bars(packed), read_bars(tmp_path / "acme.parquet")):
        assert other.ids == plain.ids and other.starts == plain.starts
        assert other.closes == plain.closes and other.highs == plain.highs
    table = table.set_column(4, "close", pa.array([100.5, -1.0, 101.0]))
    pq.write_table(table, tmp_path / "bad.parquet")
    with pytest.raises(BarFileError, match=r"bad\.parquet row 2: close -1\.0 must be greater than zero"):
        read_bars(tmp_path / "bad.parquet", symbol="acme")


def test_between_cuts_by_start_time(tmp_path: Path) -> None:
    bars = read_bars(csv(tmp_path, GOOD))
    part = bars.between(datetime(2024, 3, 1, 14, 31, tzinfo=UTC), datetime(2024, 3, 1, 14, 32, tzinfo=UTC))
    assert list(part.starts) == [datetime(2024, 3, 1, 14, 31, tzinfo=UTC)]
    assert bars.between() is bars


def test_periods_round_trip() -> None:
    for text in ("1s", "30s", "1m", "5m", "1h", "4h", "1d", "1w"):
        assert format_period(parse_period(text)) == text
    assert format_period(timedelta(minutes=90)) == "90m"
    with pytest.raises(ConfigurationError):
        parse_period("0m")
    with pytest.raises(ConfigurationError):
        parse_period("5 minutes")


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "acme.csv"
    path.write_text("\n".join([HEADER, GOOD[0], "", GOOD[1], "2024-03-01T14:32:00Z,101.5,102,101,,9"]) + "\n")
    with pytest.raises(BarFileError, match="line 5: close is empty"):
        read_bars(path)


def test_decimals_keep_how_they_were_written() -> None:
    columns = {"timestamp": ["2024-03-01T14:30:00Z", "2024-03-01T14:31:00Z"], "open": ["1.0", "1"],
               "high": [Decimal("1.0"), Decimal("1")], "low": [1, 1], "close": [1.0, 1.0]}
    bars = bars_from_columns(columns, symbol="x", period="1m")
    assert [str(v) for v in bars.opens] == ["1.0", "1"] and [str(v) for v in bars.highs] == ["1.0", "1"]
    assert bars.lows == [Decimal(1)] * 2 and [str(v) for v in bars.closes] == ["1.0", "1.0"]
    assert bars.closes[0] is bars.closes[1]  # repeated values share one object
