"""Header bytes the ledger stores in its audit trail: NUL, which PostgreSQL text and jsonb cannot hold."""

from __future__ import annotations

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import Side
from ingenium.testing import order
from ledger import queries
from tests.ledger.support import fetch, project


async def test_nul_in_headers_is_audited_as_u_fffd_and_projection_carries_on(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    assert ledger_settings.database_url
    first, after = order("aapl", Side.BUY, "10"), order("aapl", Side.BUY, "1")
    # Any client may send these bytes: nats-py itself only refuses CR and LF in a value.
    await nc.jetstream().publish(ledger_settings.subjects.order, first.to_json(),
                                 headers={"Nats-Msg-Id": "nul\x00id", "tracestate": "a\x00b"})
    await bus.publish(after)
    await project(nc, ledger_settings)
    assert {r.order_id for r in await queries.orders(ledger_settings.database_url)} == {first.id, after.id}
    [row] = await fetch(ledger_settings.database_url,
                        "SELECT msg_id, headers->>'tracestate' AS tracestate FROM ledger_events WHERE event_id = $1",
                        first.id)
    assert (row["msg_id"], row["tracestate"]) == ("nul\ufffdid", "a\ufffdb")
