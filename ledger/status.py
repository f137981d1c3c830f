"""What the ledger adds to ``ingenium status`` (the ``ingenium.status`` entry point).

The PostgreSQL server, the ledger's checkpoint lag per stream it projects, and the position anomalies venue
executors recorded (``ledger_position_anomalies``: a venue's position that differs from the ledger's).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from ingenium.cli.status import StatusSection
from ingenium.config import Settings
from ingenium.errors import IngeniumError
from ledger import queries
from ledger.batch import LedgerStreams
from ledger.database import require_database_url

LAG_COLUMNS = ["stream", "checkpoint", "last_seq", "lag"]
ANOMALY_COLUMNS = ["venue", "symbol", "venue_quantity", "ledger_quantity", "detected_at"]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value


async def checkpoints(settings: Settings) -> tuple[str, dict[str, int]]:
    """The PostgreSQL server's version and the ledger's checkpoint of each stream it projects."""
    url = require_database_url(settings)
    version = await queries.server_version(url)
    done = await queries.checkpoints(url)
    return version, {stream: done.get(stream, 0) for _, stream in LedgerStreams.from_settings(settings).kinds}


async def sections(settings: Settings, last_sequences: Mapping[str, int]) -> list[StatusSection]:
    """The ``ledger`` and ``position_anomalies`` sections, with the PostgreSQL server; or what is wrong."""
    if not settings.database_url:
        reason = "no database configured (INGENIUM_DATABASE_URL, or `ingenium up`)"
        return [StatusSection("ledger", reason, LAG_COLUMNS), StatusSection("position_anomalies", reason,
                                                                            ANOMALY_COLUMNS)]
    server: dict[str, Any] = {"kind": "postgresql", "url": settings.database_url}
    try:
        version, done = await checkpoints(settings)
        anomalies = await queries.position_anomalies(settings.database_url)
    except IngeniumError as exc:
        return [StatusSection("ledger", str(exc), LAG_COLUMNS, servers=[server | {"problem": str(exc)}]),
                StatusSection("position_anomalies", str(exc), ANOMALY_COLUMNS)]
    lag = [{"stream": stream, "checkpoint": seq, "last_seq": last_sequences.get(stream, 0),
            "lag": max(0, last_sequences.get(stream, 0) - seq)} for stream, seq in done.items()]
    found = [{column: _plain(getattr(row, column)) for column in ANOMALY_COLUMNS} for row in anomalies]
    return [StatusSection("ledger", lag, LAG_COLUMNS, servers=[server | {"version": version}]),
            StatusSection("position_anomalies", found, ANOMALY_COLUMNS)]
