"""After reconciling: the venue's positions against the ledger's, differences recorded, never corrected.

A difference is a row in ``ledger_position_anomalies`` (written when it first appears and whenever it
changes), a warning in the log and the counter ``ingenium.executor.position_anomalies``. The comparison waits
until the ledger has projected the execution stream, so a fill still on its way is not taken for a difference.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ingenium import telemetry
from ingenium.component import Component
from ingenium.venue import Venue
from ledger import queries
from ledger.database import connect

position_anomalies = telemetry.meter.create_counter(
    "ingenium.executor.position_anomalies", unit="{symbol}",
    description="Symbols whose venue position differs from the ledger's",
)


async def check_positions(executor: Component[Any], venue: Venue,
                          wait_seconds: float) -> dict[str, tuple[Decimal, Decimal]]:
    """Compare positions; returns ``{SYMBOL: (venue, ledger)}`` for those that differ (recorded as anomalies)."""
    context = executor.context
    url = context.settings.database_url if context is not None else None
    if context is None or not url:
        executor.log.info("%s: no ledger database configured; positions not compared", executor.name)
        return {}
    deadline = time.monotonic() + wait_seconds
    while True:
        lag = await queries.lag(context.settings)
        if not any(lag.values()):
            break
        if time.monotonic() > deadline:
            executor.log.warning("%s: the ledger is %s messages behind; positions not compared this time",
                                 executor.name, lag)
            return {}
        await asyncio.sleep(0.2)
    held = {p.symbol.upper(): p.quantity for p in await venue.positions()}
    booked: dict[str, Decimal] = {}
    for row in await queries.positions(url):
        booked[row.symbol.upper()] = booked.get(row.symbol.upper(), Decimal(0)) + row.quantity
    differ = {s: (held.get(s, Decimal(0)), booked.get(s, Decimal(0)))
              for s in sorted(held.keys() | booked.keys()) if held.get(s, Decimal(0)) != booked.get(s, Decimal(0))}
    conn = await connect(url, application_name=f"ingenium-{executor.name}")
    try:
        for symbol, (at_venue, in_ledger) in differ.items():
            last = await conn.fetchrow(
                "SELECT venue_quantity, ledger_quantity FROM ledger_position_anomalies "
                "WHERE venue = $1 AND symbol = $2 ORDER BY id DESC LIMIT 1", venue.name, symbol)
            executor.log.warning("%s: position anomaly %s: %s at %s, %s in the ledger",
                                 executor.name, symbol, at_venue, venue.name, in_ledger)
            position_anomalies.add(1, {"ingenium.component": executor.name, "symbol": symbol})
            if last is not None and (last["venue_quantity"], last["ledger_quantity"]) == (at_venue, in_ledger):
                continue
            await conn.execute(
                "INSERT INTO ledger_position_anomalies (venue, symbol, venue_quantity, ledger_quantity, detail, "
                "detected_at) VALUES ($1, $2, $3, $4, $5, $6)", venue.name, symbol, at_venue, in_ledger,
                f"{venue.name} holds {at_venue} {symbol}, the ledger {in_ledger}; neither was changed",
                datetime.now(UTC))
    finally:
        await conn.close()
    return differ
