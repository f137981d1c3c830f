"""A batch's one statement writes every part with the checkpoint, or nothing when the checkpoint moved under it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest

from ingenium.config import Settings
from ledger.batch_sql import CheckpointMoved, load_checkpoints
from ledger.batch_write import write_batch

AT = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
FILL = ("x1", "o1", "acme", "buy", Decimal("2"), Decimal("100.5"), Decimal("0.1"), None, AT, 7)
EVENT = ("S", 7, "s.execution", "m7", "execution", "x1", "o1", False, None, '{"a": 1}', None, '{"h": "v"}', AT)


async def test_a_batch_is_written_whole_or_not_at_all(ledger_settings: Settings) -> None:
    assert ledger_settings.database_url
    conn = await asyncpg.connect(ledger_settings.database_url)
    try:
        assert await load_checkpoints(conn, ["S"]) == {"S": 0}
        # Another writer's checkpoint: 3, not the 0 this batch was planned from.
        await conn.execute("UPDATE ledger_checkpoints SET last_sequence = 3 WHERE stream = 'S'")
        with pytest.raises(CheckpointMoved, match="checkpoint of S is no longer at 0"):
            await write_batch(conn, "S", 0, 7, {"audit": [EVENT], "fills": [FILL]})
        assert await conn.fetchval("SELECT count(*) FROM ledger_fills") == 0
        assert await conn.fetchval("SELECT count(*) FROM ledger_events") == 0

        await write_batch(conn, "S", 3, 7, {"audit": [EVENT], "fills": [FILL]})
        assert await load_checkpoints(conn, ["S"]) == {"S": 7}
        fill = await conn.fetchrow("SELECT exec_id, quantity, price, executed_at FROM ledger_fills")
        assert tuple(fill) == ("x1", Decimal("2"), Decimal("100.5"), AT)
        event = await conn.fetchrow("SELECT payload::text, headers::text, duplicate FROM ledger_events")
        assert tuple(event) == ('{"a": 1}', '{"h": "v"}', False)
        with pytest.raises(ValueError, match="writes \\['trades'\\]"):
            await write_batch(conn, "S", 7, 8, {"trades": []})
        # Both parts of one table in one statement: the update would not see the insert.
        with pytest.raises(ValueError, match="new_orders or for changed_orders, not both"):
            await write_batch(conn, "S", 7, 8, {"new_orders": [("o1",)], "changed_orders": [("o1",)]})
        assert await load_checkpoints(conn, ["S"]) == {"S": 7}
    finally:
        await conn.close()


async def test_every_value_arrives_exactly_as_planned(ledger_settings: Settings) -> None:
    """The rows travel as JSON text: decimals keep their digits and scale, times their instant, bytes every byte."""
    assert ledger_settings.database_url
    conn = await asyncpg.connect(ledger_settings.database_url)
    east = datetime(2024, 3, 1, 16, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    fill = ("x\"2\\", "o2", "ünï", "sell", Decimal("1E+2"), Decimal("0.10"), Decimal("0.000000000000000001"),
            Decimal("-12345678901234.5"), east, 2**62)
    event = ("S", 2**62, "s.execution", None, "execution", None, None, True, "line one\nline \"two\"", None,
             bytes(range(256)), None, east)
    try:
        assert await load_checkpoints(conn, ["S"]) == {"S": 0}
        await write_batch(conn, "S", 0, 9, {"audit": [event], "fills": [fill]})
        stored = await conn.fetchrow(
            "SELECT exec_id, order_id, symbol, side, quantity, price, commission, realized_pnl, executed_at, "
            "stream_sequence FROM ledger_fills")
        assert tuple(stored) == fill
        assert tuple(await conn.fetchrow("SELECT quantity::text, price::text, commission::text FROM ledger_fills")) \
            == ("100", "0.10", "0.000000000000000001")
        audit = await conn.fetchrow(
            "SELECT stream_sequence, msg_id, duplicate, error, payload, raw, headers, received_at FROM ledger_events")
        assert tuple(audit) == (2**62, None, True, "line one\nline \"two\"", None, bytes(range(256)), None, east)
    finally:
        await conn.close()
