"""Copies of recorded events, planned without asking PostgreSQL: the session's memory catches its own, the audit
trail's unique index catches older ones, and the batch is then planned again against the audit trail.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import Side
from ingenium.testing import fill, order
from ledger import queries
from ledger.config import LedgerConfig
from tests.ledger.support import TEST_CONFIG, fetch, publish_raw, running, wait_caught_up

REPLANNED = "planning it again against the audit trail"


def _url(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url


async def _audit(settings: Settings) -> list[tuple[str, bool]]:
    rows = await fetch(_url(settings), "SELECT event_type, duplicate FROM ledger_events ORDER BY event_type DESC, "
                                       "stream_sequence")
    return [(r["event_type"], r["duplicate"]) for r in rows]


async def test_a_copy_of_an_event_this_session_recorded_is_caught_from_memory(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    o = order("aapl", Side.BUY, "10")
    f = fill(o, "10", "100", commission="1")
    caplog.set_level(logging.INFO, logger="ingenium.ledger")
    async with running(ledger_settings):
        await bus.publish_many([o, f])
        await wait_caught_up(nc, ledger_settings)
        before = await queries.positions(_url(ledger_settings)), await queries.cash(_url(ledger_settings))
        await publish_raw(nc, ledger_settings, o)
        await publish_raw(nc, ledger_settings, f)
        await wait_caught_up(nc, ledger_settings)
        after = await queries.positions(_url(ledger_settings)), await queries.cash(_url(ledger_settings))
    assert after == before
    assert await _audit(ledger_settings) == [("order", False), ("order", True), ("execution", False),
                                             ("execution", True)]
    assert REPLANNED not in caplog.text  # no session was ended for them


async def test_a_copy_of_an_event_an_earlier_session_recorded_is_refused_then_replanned(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    o = order("aapl", Side.BUY, "10")
    f = fill(o, "4", "100", cum_quantity="4")
    async with running(ledger_settings):
        await bus.publish_many([o, f])
        await wait_caught_up(nc, ledger_settings)
    before = await queries.positions(_url(ledger_settings)), await queries.cash(_url(ledger_settings))
    # A new session remembers nothing: the copy, with a new fill after it, passes planning and meets the index.
    await publish_raw(nc, ledger_settings, f)
    second = fill(o, "6", "101", cum_quantity="10")
    await bus.publish(second)
    caplog.set_level(logging.INFO, logger="ingenium.ledger")
    async with running(ledger_settings):
        await wait_caught_up(nc, ledger_settings)
    assert REPLANNED in caplog.text
    assert await _audit(ledger_settings) == [("order", False), ("execution", False), ("execution", True),
                                             ("execution", False)]
    [position] = await queries.positions(_url(ledger_settings))
    assert position.quantity == 10 and before[0][0].quantity == 4
    [row] = await queries.orders(_url(ledger_settings))
    assert (row.status, row.filled_quantity) == ("filled", Decimal(10))
    fills = await fetch(_url(ledger_settings), "SELECT exec_id FROM ledger_fills ORDER BY stream_sequence")
    assert [r["exec_id"] for r in fills] == [f.fill_id, second.fill_id]


async def test_a_burst_of_old_copies_ends_one_session_not_one_per_batch(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    orders = [order("aapl", Side.BUY, "1", event_id=f"o{i}") for i in range(30)]
    fills = [fill(o, "1", "100") for o in orders]
    await bus.publish_many([*orders, *fills])
    async with running(ledger_settings):
        await wait_caught_up(nc, ledger_settings)
    # A sender resending its history after the duplicate window: copies in batches of 5.
    for f in fills:
        await publish_raw(nc, ledger_settings, f)
    caplog.set_level(logging.INFO, logger="ingenium.ledger")
    async with running(ledger_settings, LedgerConfig(**{**TEST_CONFIG.model_dump(), "batch_size": 5,
                                                        "max_batch": 5})):
        await wait_caught_up(nc, ledger_settings)
    assert caplog.text.count(REPLANNED) == 1
    rows = await fetch(_url(ledger_settings), "SELECT count(*) FILTER (WHERE duplicate) AS copies, count(*) AS n "
                                              "FROM ledger_events WHERE event_type = 'execution'")
    assert (rows[0]["copies"], rows[0]["n"]) == (30, 60)
    [position] = await queries.positions(_url(ledger_settings))
    assert position.quantity == 30
