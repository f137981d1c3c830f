"""Bar periods such as ``1m``, ``5m``, ``1h``, ``1d``: parsing, formatting and inference."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from ingenium.errors import ConfigurationError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PERIOD = re.compile(r"^(\d+)([smhdw])$")


def parse_period(period: str) -> timedelta:
    """``"5m"`` → five minutes; raises ``ConfigurationError`` naming the accepted forms."""
    match = _PERIOD.match(period.strip())
    if not match or int(match.group(1)) == 0:
        raise ConfigurationError(
            f"period {period!r} is not a bar length: use a number and a unit s, m, h, d or w (1m, 5m, 1h, 1d)"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_period(length: timedelta) -> str:
    """Five minutes → ``"5m"``, using the largest unit that divides the length."""
    seconds = int(length.total_seconds())
    if seconds <= 0 or seconds != length.total_seconds():
        raise ConfigurationError(f"bar length {length} is not a whole, positive number of seconds")
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: 's' divides every whole number of seconds")


def infer_period(times: Iterable[datetime]) -> str | None:
    """The smallest positive gap between consecutive times, as a period; ``None`` with fewer than two times."""
    smallest: timedelta | None = None
    previous: datetime | None = None
    for moment in times:
        if previous is not None and moment > previous:
            gap = moment - previous
            if smallest is None or gap < smallest:
                smallest = gap
        previous = moment
    return format_period(smallest) if smallest is not None else None
