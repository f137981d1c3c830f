"""The SQL in docs/ledger.md runs, and says what the tables say."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ledger import queries
from tests.ledger.support import fetch, messy_run, project, publish_actions

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"


async def test_the_three_documented_queries_run(bus: JetStreamBus, nc: Client, ledger_settings: Settings) -> None:
    url = ledger_settings.database_url
    assert url
    await publish_actions(bus, nc, ledger_settings, messy_run(seed=5, orders=40))
    await project(nc, ledger_settings)
    history, by_day, open_orders = re.findall(r"```sql\n(.*?)```", DOCS.read_text(), re.S)
    assert len(await fetch(url, history)) == len(await queries.fills(url))
    [day] = await fetch(url, by_day)  # every fill of the run is on one day
    positions = sum(Fraction(p.realized_pnl) for p in await queries.positions(url))
    assert Fraction(day["realized_pnl"]) == positions
    assert {r["order_id"] for r in await fetch(url, open_orders)} == {
        o.order_id for o in await queries.orders(url, open_only=True)}
