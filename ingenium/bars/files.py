"""Reading a CSV (``.csv``, ``.csv.gz``) or Parquet file into an Arrow table of the fields, without converting.

Columns are read as they are stored: CSV columns as text (so ``101.25`` stays exactly ``101.25``), Parquet
columns in their own types. Converting and checking is ``ingenium.bars.checks``' work.
"""

from __future__ import annotations

import csv
import gzip
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ingenium.bars.columns import resolve
from ingenium.bars.errors import BarFileError

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True, slots=True)
class Rows:
    """How to name row ``i`` of what was read in a message: ``line 17`` of a CSV file, ``row 16`` otherwise.

    A CSV file's line of a row is found only when a message needs it (a scan of the file): blank lines and
    quoted newlines make it differ from the row number.
    """

    file: str
    csv: bool = False
    _lines: list[array[int]] = field(default_factory=list, compare=False, repr=False)

    def number(self, index: int) -> int:
        """The CSV line (or the 1-based row) of row ``index``."""
        if not self.csv:
            return index + 1
        if not self._lines:
            self._lines.append(_data_lines(Path(self.file)))
        lines = self._lines[0]
        return lines[index] if index < len(lines) else index + 2

    def label(self, index: int) -> str:
        """``line 17`` or ``row 16``."""
        return f"{'line' if self.csv else 'row'} {self.number(index)}"


def _open_text(path: Path, errors: str = "strict") -> Any:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig", errors=errors)
    return path.open(newline="", encoding="utf-8-sig", errors=errors)


def _data_lines(path: Path) -> array[int]:
    """The file line of each data row (the rows pyarrow reads: blank lines skipped)."""
    lines: array[int] = array("l")
    # Only the lines are counted, for a message about a row: bytes that are not UTF-8 later in the file must not
    # turn that message into a UnicodeDecodeError (a fuzzer's finding). Newlines are ASCII, so the count holds.
    with _open_text(path, errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            if row:
                lines.append(reader.line_num)
    return lines


def _width_error(path: Path, width: int) -> BarFileError:
    with _open_text(path, errors="replace") as handle:  # as in _data_lines: only the shape of the rows matters
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            if row and len(row) != width:
                return BarFileError(str(path), f"{len(row)} fields, but the header names {width}; give every row "
                                               "one value per column", where=f"line {reader.line_num}",
                                    line=reader.line_num)
    return BarFileError(str(path), f"a row does not have the header's {width} fields")


def read_file(path: Path, mapping: Mapping[str, str]) -> tuple[pa.Table, Rows]:
    """Read the mapped columns of ``path`` into a table whose columns are named by field.

    Raises:
        BarFileError: the file is missing, of an unknown format, unreadable, or lacks a required column.

    """
    if file_kind(path):
        return _read_csv(path, mapping), Rows(str(path), csv=True)
    return _read_parquet(path, mapping), Rows(str(path))


def fields_in(path: Path, mapping: Mapping[str, str]) -> set[str]:
    """The fields ``path`` has a column for (read from its header or schema alone)."""
    file_kind(path)
    if path.name.lower().endswith(CSV_SUFFIXES):
        return set(resolve(_csv_headers(path), mapping, str(path)))
    try:
        return set(resolve(pq.read_schema(path).names, mapping, str(path)))
    except (OSError, pa.ArrowInvalid) as exc:
        raise BarFileError(str(path), f"cannot read the Parquet file ({exc}); give a Parquet file") from None


def file_kind(path: Path) -> bool:
    """Whether ``path`` is a CSV file (else Parquet); refuses a missing file or an unknown format."""
    if not path.is_file():
        raise BarFileError(str(path), "the file does not exist; check the path")
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return True
    if name.endswith(PARQUET_SUFFIXES):
        return False
    raise BarFileError(str(path), "unknown format; use a .csv, .csv.gz, .parquet or .pq file")


def _csv_headers(path: Path) -> list[str]:
    try:
        with _open_text(path) as handle:
            headers = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        raise BarFileError(str(path), f"cannot read the file ({exc}); give a UTF-8 CSV file") from None
    if headers is None:
        raise BarFileError(str(path), "the file is empty; the first line must name the columns")
    return headers


def _read_csv(path: Path, mapping: Mapping[str, str]) -> pa.Table:
    source = str(path)
    headers = _csv_headers(path)
    found = resolve(headers, mapping, source)
    names = [f"c{i}" for i in range(len(headers))]
    invalid: list[int] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row.actual_columns)
        return "skip"

    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 22),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                include_columns=[names[pos] for pos in found.values()],
                column_types={names[pos]: pa.string() for pos in found.values()},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
    except (OSError, pa.ArrowInvalid, EOFError) as exc:
        raise BarFileError(source, f"cannot read the file ({exc}); give a UTF-8 CSV file") from None
    if invalid:
        raise _width_error(path, len(headers))
    return pa.table({field: table.column(names[pos]) for field, pos in found.items()})


def _read_parquet(path: Path, mapping: Mapping[str, str]) -> pa.Table:
    source = str(path)
    try:
        schema = pq.read_schema(path)
        found = resolve(schema.names, mapping, source)
        table = pq.read_table(path, columns=[schema.names[pos] for pos in found.values()])
    except (OSError, pa.ArrowInvalid) as exc:
        raise BarFileError(source, f"cannot read the Parquet file ({exc}); give a Parquet file") from None
    return pa.table({field: table.column(schema.names[pos]) for field, pos in found.items()})
