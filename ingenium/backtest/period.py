"""Bar periods: ``1m``, ``5m``, ``1h``, ``1d`` … as the ``Period`` field writes them, to and from ``timedelta``."""

from __future__ import annotations

import re
from datetime import timedelta

from ingenium.errors import ConfigurationError

_UNITS: dict[str, int] = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PERIOD = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$")


def parse_period(text: str) -> timedelta:
    """``"5m"`` → five minutes; raises ``ConfigurationError`` for anything that is not a count and a unit."""
    match = _PERIOD.match(text.lower())
    if match is None or int(match.group(1)) == 0:
        raise ConfigurationError(f"bar period {text!r} is not a positive count and a unit (s, m, h, d, w), e.g. 1m")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_period(length: timedelta) -> str:
    """Five minutes → ``"5m"``: the largest unit that divides the length evenly."""
    seconds = length.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        raise ConfigurationError(f"a bar period must be a whole, positive number of seconds, not {length}")
    whole = int(seconds)
    for unit, size in _UNITS.items():
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds divides by 1")
