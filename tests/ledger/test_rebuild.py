"""Rebuilding from the audit trail or from the streams ends byte for byte equal to the live projection."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ledger.rebuild import LedgerBusy, dump_database, rebuild
from tests.ledger.support import fetch, messy_run, project, publish_actions, running


async def test_rebuild_from_audit_and_from_streams_equals_the_live_projection(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    url = ledger_settings.database_url
    assert url
    actions = messy_run(seed=7, orders=120)
    await publish_actions(bus, nc, ledger_settings, actions[: len(actions) // 2])
    await project(nc, ledger_settings)
    await publish_actions(bus, nc, ledger_settings, actions[len(actions) // 2 :])
    await project(nc, ledger_settings)
    live = await dump_database(url)
    # The run exercised what a rebuild must reproduce.
    counts = (await fetch(url, "SELECT (SELECT count(*) FROM ledger_events WHERE duplicate) AS duplicates, "
                               "(SELECT count(*) FROM ledger_events WHERE error IS NOT NULL) AS invalid, "
                               "(SELECT count(*) FROM ledger_anomalies) AS anomalies, "
                               "(SELECT count(*) FROM ledger_orders WHERE status = 'canceled') AS canceled, "
                               "(SELECT count(*) FROM ledger_cancels WHERE status = 'canceled') AS cancels, "
                               "(SELECT count(*) FROM ledger_cancels WHERE status = 'rejected') AS refusals"))[0]
    assert all(counts[name] > 0 for name in ("duplicates", "invalid", "anomalies", "canceled", "cancels",
                                             "refusals")), dict(counts)

    for source in ("audit", "streams"):
        report = await rebuild(ledger_settings, source=source)  # type: ignore[arg-type]
        assert report.changed == [] and report.committed
        assert sum(report.events.values()) == len(actions)
        assert await dump_database(url) == live, source


async def test_check_finds_a_damaged_projection_and_rebuild_repairs_it(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    url = ledger_settings.database_url
    assert url
    await publish_actions(bus, nc, ledger_settings, messy_run(seed=3, orders=20))
    await project(nc, ledger_settings)
    live = await dump_database(url)
    await fetch(url, "UPDATE ledger_positions SET quantity = quantity + 1")
    await fetch(url, "DELETE FROM ledger_anomalies")
    checked = await rebuild(ledger_settings, check=True)
    assert sorted(checked.changed) == ["ledger_anomalies", "ledger_positions"] and not checked.committed
    assert await dump_database(url) != live  # a check changes nothing
    repaired = await rebuild(ledger_settings)
    assert sorted(repaired.changed) == ["ledger_anomalies", "ledger_positions"]
    assert await dump_database(url) == live


async def test_rebuild_refuses_while_a_projector_holds_the_lock(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    async with running(ledger_settings):
        with pytest.raises(LedgerBusy, match="stop `ingenium ledger serve`"):
            await rebuild(ledger_settings, lock_wait=0.2)
