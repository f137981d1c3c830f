"""Average prices and PnL are stored at the money core's fixed scale: ten decimal places, half-even."""

from __future__ import annotations

from decimal import Decimal

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import Side
from ingenium.testing import fill, order
from ledger.rebuild import dump_database, rebuild
from tests.ledger.support import fetch, project


async def test_a_repeating_vwap_is_stored_to_ten_places_and_the_round_trip_stays_exact(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    url = ledger_settings.database_url
    assert url
    buy, sell = order("aapl", Side.BUY, "3"), order("aapl", Side.SELL, "3")
    await bus.publish_many([buy, fill(buy, "1", "100", cum_quantity="1"), fill(buy, "2", "101", cum_quantity="3")])
    await project(nc, ledger_settings)
    [row] = await fetch(url, "SELECT average_price::text AS avg FROM ledger_orders")
    assert row["avg"] == "100.6666666667"  # 302 / 3
    [position] = await fetch(url, "SELECT average_price::text AS avg, cost_basis::text AS cost FROM ledger_positions")
    assert (position["avg"], position["cost"]) == ("100.6666666667", "302")

    # A second projector reads the position back from PostgreSQL before the sells move it.
    await bus.publish_many([sell, fill(sell, "1", "102", cum_quantity="1")])
    await project(nc, ledger_settings)
    [position] = await fetch(url, "SELECT average_price::text AS avg, cost_basis::text AS cost, "
                                  "realized_pnl::text AS pnl FROM ledger_positions")
    # 201.3333333333 / 2 = 100.66666666665: half-even keeps the even digit.
    assert (position["avg"], position["cost"], position["pnl"]) == ("100.6666666666", "201.3333333333",
                                                                    "1.3333333333")
    await bus.publish(fill(sell, "2", "99", cum_quantity="3"))
    await project(nc, ledger_settings)
    pnl = [r["pnl"] for r in await fetch(url, "SELECT realized_pnl::text AS pnl FROM ledger_fills "
                                              "ORDER BY stream_sequence")]
    assert pnl == ["0", "0", "1.3333333333", "-3.3333333333"]
    [position] = await fetch(url, "SELECT quantity, average_price, cost_basis, realized_pnl FROM ledger_positions")
    assert tuple(position) == (0, 0, 0, Decimal(102 + 2 * 99 - 302))  # sold less bought, exactly
    [row] = await fetch(url, "SELECT average_price::text AS avg FROM ledger_orders WHERE order_id = $1", sell.id)
    assert row["avg"] == "100"

    live = await dump_database(url)
    report = await rebuild(ledger_settings, check=True)
    assert report.changed == [] and await dump_database(url) == live
