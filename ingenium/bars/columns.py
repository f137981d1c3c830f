"""Which file column holds which field: one alias table and one mapping syntax, ``FIELD=COLUMN``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ingenium.errors import ConfigurationError, printable

REQUIRED = ("timestamp", "open", "high", "low", "close")
OPTIONAL = ("volume", "symbol", "period")
#: Header names accepted for each field without a mapping, compared case-insensitively.
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "time", "datetime", "date", "start", "ts"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "symbol": ("symbol", "ticker"),
    "period": ("period",),
}


def parse_mapping(value: Mapping[str, str] | str | Iterable[str] | None) -> dict[str, str]:
    """Read a column mapping, field → file column: a dict, ``"timestamp=Date,close=Last"`` or a list of pairs.

    Raises:
        ConfigurationError: a pair is not ``FIELD=COLUMN`` or names no field (a reversed pair says so).

    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        texts = value.split(",") if isinstance(value, str) else [t for item in value for t in item.split(",")]
        pairs = []
        for text in (t for t in texts if t.strip()):
            field, sep, column = text.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise ConfigurationError(f"column mapping {text!r} is not FIELD=COLUMN (e.g. timestamp=Date)")
            pairs.append((field, column))
    mapping: dict[str, str] = {}
    for field, column in pairs:
        name = field.strip().lower()
        if name not in ALIASES:
            hint = (f"; write FIELD=COLUMN: {column.strip().lower()}={field.strip()}"
                    if column.strip().lower() in ALIASES else f"; fields: {', '.join(ALIASES)}")
            raise ConfigurationError(f"column mapping {field.strip()}={column.strip()}: {field.strip()!r} is not a "
                                     f"field{hint}")
        mapping[name] = column.strip()
    return mapping


def resolve(headers: Sequence[str], mapping: Mapping[str, str], file: str) -> dict[str, int]:
    """Field → position in ``headers``: the mapping first, then the aliases; refuses missing required fields."""
    from ingenium.bars.errors import BarFileError

    listed = ", ".join(printable(h) for h in headers) or "none"  # a quoted header may hold a line break
    lowered = [h.strip().lower() for h in headers]
    found: dict[str, int] = {}
    for field, column in mapping.items():
        if column.strip().lower() not in lowered:
            raise BarFileError(file, f"no column {column!r} for {field} (columns: {listed}); "
                                     "fix the column mapping", column=field)
        found[field] = lowered.index(column.strip().lower())
    taken = set(found.values())
    for field, aliases in ALIASES.items():
        if field in found:
            continue
        for alias in aliases:
            if alias in lowered and lowered.index(alias) not in taken:
                found[field] = lowered.index(alias)
                taken.add(found[field])
                break
    if "timestamp" not in found and lowered and lowered[0] in ("", "__index_level_0__") and 0 not in taken:
        # pandas writes an unnamed index (usually the timestamps) first, with an empty or generated name.
        found["timestamp"] = 0
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        raise BarFileError(file, f"missing column(s) {', '.join(missing)} (found: {listed}); "
                                 f"needed: {', '.join(REQUIRED)}, optional: {', '.join(OPTIONAL)}; map others with "
                                 "FIELD=COLUMN (timestamp=Date)")
    return found
