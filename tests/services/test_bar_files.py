"""Reading bar files: mapping, time zones, Parquet, row-level errors, the sample data set."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingenium.bars import BarFileError, read_bars
from ingenium.errors import ConfigurationError
from ingenium.period import format_period, infer_period, parse_period
from services.data import SAMPLE_FILE, SAMPLE_SEED, SAMPLE_SYMBOLS, sample_csv
from services.ingestors import HistoricalIngestor


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_sample_is_what_the_generator_makes() -> None:
    assert SAMPLE_FILE.read_text() == sample_csv(seed=SAMPLE_SEED)
    bars = read_bars(SAMPLE_FILE)
    assert set(bars.symbols) == set(SAMPLE_SYMBOLS)
    assert len(bars) == 390 * len(SAMPLE_SYMBOLS)
    assert sample_csv(seed=1) != sample_csv(seed=2)


def test_column_mapping_time_zone_and_sorting(tmp_path: Path) -> None:
    path = write(tmp_path, "Date,Px_Open,High,Low,Last,Vol\n"
                           "2024-03-01 10:01:00,10,11,9,10.5,100\n"
                           "2024-03-01 10:00:00,10,10,10,10,0\n")
    bars = read_bars(path, symbol="ACME", mapping={"timestamp": "Date", "open": "Px_Open", "close": "Last"},
                     tz="America/New_York", sort=True)
    assert bars.starts == [datetime(2024, 3, 1, 15, 0, tzinfo=UTC), datetime(2024, 3, 1, 15, 1, tzinfo=UTC)]
    assert bars.closes[1] == Decimal("10.5") and bars.volumes[1] == 100 and bars.label(1) == "line 2"
    assert bars.symbols[0] == "ACME"


def test_epoch_timestamps_and_offsets(tmp_path: Path) -> None:
    path = write(tmp_path, "symbol,time,open,high,low,close\n"
                           "a,1709287200,1,1,1,1\n"
                           "a,1709287260000,1,1,1,1\n"
                           "b,2024-03-01T11:00:00+01:00,2,2,2,2\n")
    bars = read_bars(path)
    assert set(bars.starts) == {datetime(2024, 3, 1, 10, 0, tzinfo=UTC), datetime(2024, 3, 1, 10, 1, tzinfo=UTC)}
    assert read_bars(path, symbols=["B"], period="1m").symbols == ["b"]


def test_parquet_with_nanosecond_timestamps(tmp_path: Path) -> None:
    table = pa.table({
        "timestamp": pa.array([datetime(2024, 1, 2, 14, 30), datetime(2024, 1, 2, 14, 31)], pa.timestamp("ns")),
        "open": [1.5, 1.6], "high": [1.7, 1.7], "low": [1.4, 1.5], "close": [1.6, 1.65], "volume": [10, 20],
    })
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)
    bars = read_bars(path, symbol="XYZ")
    assert bars.closes == [Decimal("1.6"), Decimal("1.65")]
    assert bars.starts[0] == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("symbol,timestamp,open,high,low,close\na,2024-01-01,1,1,1,-1\n", "line 2: close -1 must be greater than zero"),
        ("symbol,timestamp,open,high,low,close\na,2024-01-01,1,1,1,1\na,2024-01-01,2,2,2,2\n", "line 3: a at"),
        ("symbol,timestamp,open,high,low,close\na,yesterday,1,1,1,1\n", "line 2: timestamp 'yesterday'"),
        ("symbol,timestamp,open,high,low,close\na,2024-01-01,1,0.5,1,1\n", "must bracket"),
        ("symbol,timestamp,open,high,low,close\na,2024-01-01,x,1,1,1\n", "open 'x' is not a number"),
        ("symbol,timestamp,open,high,low,close\na b,2024-01-01,1,1,1,1\n", "symbol 'a b' is not valid"),
        ("symbol,when,open,high,low,close\n", r"missing column\(s\) timestamp"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(BarFileError, match=message):
        read_bars(write(tmp_path, body))


def test_bad_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n")
    with pytest.raises(BarFileError, match="pass --symbol"):
        HistoricalIngestor(path=path).read()
    with pytest.raises(ConfigurationError, match="not a field"):
        read_bars(path, symbol="a", mapping={"opening": "open"})
    with pytest.raises(ConfigurationError, match="time zone 'Mars/Base'"):
        read_bars(path, symbol="a", tz="Mars/Base")
    with pytest.raises(BarFileError, match="unknown format"):
        read_bars(write(tmp_path, "", "bars.txt"))
    with pytest.raises(BarFileError, match="cannot infer the bar period"):
        HistoricalIngestor(path=path, symbol="a").read()


def test_periods() -> None:
    assert parse_period("5m").total_seconds() == 300
    assert format_period(parse_period("90m")) == "90m" and format_period(parse_period("120m")) == "2h"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert infer_period([start, start.replace(hour=1), start.replace(hour=3)]) == "1h"
    with pytest.raises(ConfigurationError, match="not a bar length"):
        parse_period("1y")


def test_historical_params_from_cli_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "D,o,h,l,c\n2024-01-01,1,1,1,1\n2024-01-02,1,1,1,1\n")
    ingestor = HistoricalIngestor(path=str(path), symbol="a", columns="timestamp=D")
    bars = ingestor.read()
    assert bars.periods == ["1d", "1d"] and len(bars) == 2
    events = ingestor.events(bars)
    again = HistoricalIngestor(path=str(path), symbol="a", columns="timestamp=D").events(bars)
    assert [e.id for e in events] == [e.id for e in again]
