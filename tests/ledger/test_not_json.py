"""JSON that Python's parsers take but PostgreSQL's jsonb refuses (NaN, Infinity) is kept raw, not as a payload:
stored as jsonb it would fail its batch's one statement again on every retry, and the ledger would stop there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import Side
from ingenium.testing import fill, order
from ledger import queries
from ledger.messages import Message, parse
from tests.ledger.support import fetch, project, publish_raw

#: A valid execution by the model (unknown keys are ignored), with two values JSON has no words for.
NOT_JSON = (b'{"Id": "x9", "Timestamp": "2024-03-01T14:30:00Z", "ExecutionTimestamp": "2024-03-01T14:30:00Z", '
            b'"OrderId": "o9", "Symbol": "aapl", "Quantity": "1", "Price": "10", "Update": "filled", '
            b'"Extra": NaN, "More": -Infinity}')


def test_nan_and_infinity_make_a_message_unparseable_and_keep_its_bytes() -> None:
    parsed = parse(Message("S", 1, "s.execution", NOT_JSON, None, datetime(2024, 3, 1, tzinfo=UTC)), "execution")
    assert (parsed.event, parsed.payload, parsed.raw) == (None, None, NOT_JSON)
    assert parsed.error is not None and "NaN or Infinity" in parsed.error
    # A string that merely contains the words is JSON.
    fine = order("aapl", Side.BUY, "1", strategy_id="NaN-Infinity").to_json()
    assert parse(Message("S", 1, "s.order", fine, None, datetime(2024, 3, 1, tzinfo=UTC)), "order").error is None


async def test_the_ledger_records_it_raw_and_carries_on(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    assert ledger_settings.database_url
    o = order("aapl", Side.BUY, "2")
    await bus.publish(o)
    await publish_raw(nc, ledger_settings, NOT_JSON, kind="execution")
    await bus.publish(fill(o, "2", "100"))
    await project(nc, ledger_settings)
    [position] = await queries.positions(ledger_settings.database_url)
    assert position.quantity == 2
    [row] = await fetch(ledger_settings.database_url, "SELECT raw, payload, error FROM ledger_events "
                                                      "WHERE error IS NOT NULL")
    assert (row["raw"], row["payload"]) == (NOT_JSON, None) and "NaN or Infinity" in row["error"]
