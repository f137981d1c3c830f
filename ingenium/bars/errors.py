"""The one error a bar file raises: which file, which line (or Parquet row) and column, and what to do."""

from __future__ import annotations

from ingenium.errors import IngeniumError, printable


class BarFileError(IngeniumError):
    """A bar file (or in-memory table of bars) cannot be used; the message is one line naming the place.

    Attributes:
        file: The file (or ``<memory>``).
        line: The CSV line, or the 1-based Parquet or in-memory row, of the problem; ``None`` for the whole file.
        column: The field the problem is in (``close``), if any.
        problem: What is wrong and what to do, without the place.

    """

    def __init__(self, file: str, problem: str, *, where: str | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        self.file, self.problem, self.line, self.column = file, problem, line, column
        shown = printable(file)  # a path may hold a line break
        super().__init__(f"{shown} {where}: {problem}" if where else f"{shown}: {problem}")
