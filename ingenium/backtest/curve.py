"""``Column``: a long series (an equity curve's times or values) kept compact, read as an ordinary sequence.

A run appends one point per bar to a plain list (the hot path's cost stays one ``list.append``); the engine
``seal``s the list after each batch of bars into an Arrow array, so a run of ten million bars holds its curve
as Arrow buffers (8 bytes a time, a few bytes of text a value) rather than ten million Python objects. Reading
rebuilds the values exactly: times as UTC datetimes, equity as the very ``Decimal`` text that was appended.
"""

from __future__ import annotations

import bisect
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any, TypeVar, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingenium.bars.table import datetimes_of
from ingenium.bars.values import to_decimals

T = TypeVar("T")
R = TypeVar("R", bound=tuple[Any, ...])
E = TypeVar("E", bound=Enum)
UTC_US = pa.timestamp("us", "UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _ByValue(Sequence[T]):
    """A sequence compared by its values with any other (a list of the same points equals it)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


class Column(_ByValue[T]):
    """Points appended to ``pending`` and sealed into Arrow chunks; a read-only sequence of the values.

    Args:
        encode: Pending values → one Arrow array.
        decode: One Arrow array → its values.

    """

    def __init__(self, encode: Callable[[list[T]], pa.Array], decode: Callable[[pa.Array], list[T]]) -> None:
        #: Appended to by the engine's hot loop (bind ``pending.append``: ``seal`` clears it in place).
        self.pending: list[T] = []
        self._encode, self._decode = encode, decode
        self._chunks: list[pa.Array] = []
        self._ends: list[int] = []  # the running length after each chunk

    def append(self, value: T) -> None:
        """Add one point."""
        self.pending.append(value)

    def seal(self) -> None:
        """Move the pending points into a compact chunk."""
        if self.pending:
            self._chunks.append(self._encode(self.pending))
            self._ends.append(len(self))
            self.pending.clear()

    def add(self, values: pa.Array) -> None:
        """Add points already in Arrow form (decoded as the sealed ones are)."""
        self.seal()
        if len(values):
            self._chunks.append(values)
            self._ends.append(len(self) + len(values))

    def arrow(self) -> pa.ChunkedArray:
        """All points as one Arrow column (the pending ones encoded too)."""
        tail = [self._encode(self.pending)] if self.pending else []
        first = self._chunks[0] if self._chunks else self._encode([])
        return pa.chunked_array([*self._chunks, *tail], type=first.type)

    def __len__(self) -> int:
        return (self._ends[-1] if self._ends else 0) + len(self.pending)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("curve index out of range")
        sealed = self._ends[-1] if self._ends else 0
        if index >= sealed:
            return self.pending[index - sealed]
        chunk = bisect.bisect_right(self._ends, index)
        offset = index - (self._ends[chunk - 1] if chunk else 0)
        return self._decode(self._chunks[chunk].slice(offset, 1))[0]

    def __iter__(self) -> Iterator[T]:
        for chunk in self._chunks:
            yield from self._decode(chunk)
        yield from self.pending

    def __repr__(self) -> str:
        return f"Column({len(self)} points)"


def time_column() -> Column[datetime]:
    """Points labelled by UTC datetimes, held as microseconds."""
    return Column(_encode_times, datetimes_of)


def decimal_column() -> Column[Decimal]:
    """Exact ``Decimal`` values, held as their text (``100000.00`` comes back as ``100000.00``)."""
    return Column(_encode_decimals, to_decimals)


# Module functions rather than lambdas: a result (and its columns) pickles, e.g. back from a sweep's worker.
def _encode_times(values: list[datetime]) -> pa.Array:
    return pa.array(values, UTC_US)


def _encode_decimals(values: list[Decimal]) -> pa.Array:
    return pa.array([str(v) for v in values], pa.string())


def micros(times: Column[datetime], lead: int | None = None) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The times as int64 microseconds since the epoch (after ``lead``, when given)."""
    return _numbers(times, pa.int64(), np.int64, lead)


def floats(values: Column[Decimal], lead: float | None = None) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The values as floats, each the nearest to its ``Decimal`` (as ``float(Decimal)`` rounds), after ``lead``."""
    return _numbers(values, pa.float64(), np.float64, lead)


def _numbers(column: Column[Any], kind: pa.DataType, dtype: Any, lead: float | None) -> np.ndarray[Any, Any]:
    # Converted a chunk at a time into the one array returned: converting the whole column and then prepending
    # ``lead`` held three copies of a ten-million-point curve at once (the peak of a long run's memory).
    out = np.empty(len(column) + (lead is not None), dtype=dtype)
    at = 0
    if lead is not None:
        out[0], at = lead, 1
    for chunk in column.arrow().chunks:
        out[at:at + len(chunk)] = pc.cast(chunk, kind).to_numpy(zero_copy_only=False)
        at += len(chunk)
    return out


class Moments(Sequence[datetime]):
    """UTC datetimes over int64 microseconds, each built when read: cheap random access (a search, a sample)."""

    def __init__(self, values: np.ndarray[Any, np.dtype[np.int64]]) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> datetime: ...
    @overload
    def __getitem__(self, index: slice) -> list[datetime]: ...
    def __getitem__(self, index: int | slice) -> datetime | list[datetime]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return EPOCH + timedelta(microseconds=int(self._values[index]))


class Records(_ByValue[R]):
    """Rows of one ``NamedTuple`` type (fills, round trips) kept as one ``Column`` per field, read as the tuples.

    A long run closes hundreds of thousands of trades; as tuples of Python values each cost about 400 bytes,
    as Arrow columns a few dozen. ``append`` adds a row to the columns' pending lists; ``seal`` compacts them.

    Args:
        row: The row type, built from the fields in order when read.
        columns: One column per field of ``row``, in its order.

    """

    def __init__(self, row: Callable[..., R], columns: tuple[Column[Any], ...]) -> None:
        self._row = row
        self._columns = columns
        self._appends = tuple(column.pending.append for column in columns)

    def append(self, row: R) -> None:
        """Add one row (a tuple of the columns' values)."""
        for add, value in zip(self._appends, row, strict=True):
            add(value)

    def seal(self) -> None:
        """Move the pending rows into compact chunks."""
        for column in self._columns:
            column.seal()

    def __len__(self) -> int:
        return len(self._columns[0])

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> list[R]: ...
    def __getitem__(self, index: int | slice) -> R | list[R]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._row(*(column[index] for column in self._columns))

    def __iter__(self) -> Iterator[R]:
        row = self._row
        for values in zip(*self._columns, strict=True):
            yield row(*values)

    def __repr__(self) -> str:
        return f"Records({len(self)} rows)"


def text_column() -> Column[str]:
    """Strings (symbols, order ids), held as Arrow text."""
    return Column(_encode_texts, _decode_texts)


def enum_column(kind: type[E]) -> Column[E]:
    """Members of a string enum (a fill's ``Side``), held as their values."""
    return Column(_encode_enums, partial(_decode_enums, kind))


def _encode_texts(values: list[str]) -> pa.Array:
    return pa.array(values, pa.string())


def _decode_texts(values: pa.Array) -> list[str]:
    return typing.cast(list[str], values.to_pylist())


def _encode_enums(values: list[E]) -> pa.Array:
    return pa.array([v.value for v in values], pa.string())


def _decode_enums(kind: type[E], values: pa.Array) -> list[E]:
    return [kind(v) for v in values.to_pylist()]
