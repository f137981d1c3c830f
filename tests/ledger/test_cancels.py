"""Cancel requests and their answers in ``ledger_cancels``, whichever the ledger projects first."""

from __future__ import annotations

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import ExecutionUpdate
from ingenium.testing import T0, cancel, fill, order
from ledger import queries
from ledger.rebuild import dump_database, rebuild
from tests.ledger.support import closing, fetch, project, publish_raw


async def test_an_answer_projected_before_its_request_ends_as_the_same_row(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    url = ledger_settings.database_url
    assert url
    bought = order("aapl", quantity="10")
    request = cancel(bought, reason="too late", requested_by="cli")
    refused = closing(bought, ExecutionUpdate.CANCEL_REJECTED, reason="order is filled already",
                      cancel_id=request.id)
    await bus.publish_many([bought, fill(bought, "10", "100"), refused])
    await project(nc, ledger_settings)
    [row] = await queries.cancels(url)
    assert (row.status, row.order_id, row.outcome_reason, row.requested_at) == (
        "rejected", bought.id, "order is filled already", None)

    await bus.publish(request)
    # A second answer to the same request (another executor, a replay under a new id): the first one counts.
    await bus.publish(closing(bought, ExecutionUpdate.CANCELED, cancel_id=request.id))
    await publish_raw(nc, ledger_settings, request)  # the request again, after the duplicate window
    await project(nc, ledger_settings)
    [row] = await queries.cancels(url)
    assert (row.status, row.outcome_exec_id, row.requested_by, row.reason, row.requested_at) == (
        "rejected", refused.exec_id, "cli", "too late", T0)
    # The refused cancel left the filled order filled; the later `canceled` answer found it final too.
    [ledger_order] = await queries.orders(url)
    assert (ledger_order.status, ledger_order.filled_quantity) == ("filled", 10)
    audit = await fetch(url, "SELECT event_type, duplicate FROM ledger_events WHERE "
                             "event_type = 'cancel' ORDER BY stream_sequence")
    assert [(r["event_type"], r["duplicate"]) for r in audit] == [("cancel", False), ("cancel", True)]

    live = await dump_database(url)
    for source in ("audit", "streams"):  # a rebuild projects the request before the answer
        report = await rebuild(ledger_settings, source=source)  # type: ignore[arg-type]
        assert report.changed == [] and await dump_database(url) == live, source


async def test_a_malformed_cancel_request_is_recorded_and_dead_lettered(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    url = ledger_settings.database_url
    assert url
    await nc.jetstream().publish(ledger_settings.subjects.cancel, b'{"Id": "c1", "Timestamp": "2024-03-01T14:30:00Z",'
                                 b' "OrderID": "o1"}', headers={"Nats-Msg-Id": "c1"})
    await project(nc, ledger_settings)
    [row] = await fetch(url, "SELECT event_type, error FROM ledger_events")
    assert row["event_type"] == "cancel" and "unknown key 'OrderID' (did you mean 'OrderId'?)" in row["error"]
    assert await queries.cancels(url) == []
