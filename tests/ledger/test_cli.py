"""``ingenium ledger`` as a user meets it: real processes, real servers, one-line errors."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import Side
from ingenium.testing import fill, order, settings_env
from ledger.migrate import head
from tests.ledger.support import closing, project


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingenium", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def one_line_error(result: Result, *fragments: str) -> None:
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(fragment in lines[0] for fragment in fragments), lines[0]


async def test_migrate_from_any_directory_then_query_in_three_formats(
    bus: JetStreamBus, nc: Client, db_settings: Settings, tmp_path: Path
) -> None:
    env = settings_env(db_settings)
    migrated = await cli("ledger", "migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0 and f"revision {head()}" in migrated.stdout, migrated.stderr
    a, b = order("aapl", Side.BUY, "10"), order("msft", Side.SELL, "5")
    await bus.publish_many([a, b, fill(a, "10", "100.5", commission="1"), fill(b, "2", "20"), closing(b)])
    await project(nc, db_settings)

    positions = await cli("ledger", "positions", "--format", "json", env=env, cwd=tmp_path)
    assert positions.returncode == 0, positions.stderr
    rows = {row["symbol"]: row for row in json.loads(positions.stdout)}
    assert (rows["aapl"]["quantity"], rows["aapl"]["average_price"], rows["msft"]["quantity"]) == (
        "10", "100.5", "-2")

    canceled = await cli("ledger", "orders", "--status", "canceled", "--format", "csv", env=env)
    [row] = list(csv.DictReader(io.StringIO(canceled.stdout)))
    assert (row["order_id"], row["filled_quantity"], row["status"]) == (b.id, "2", "canceled")

    fills = await cli("ledger", "fills", "--symbol", "aapl", "--since", "2024-03-01", "--until",
                      "2024-03-02T00:00:00+00:00", env=env)
    assert fills.returncode == 0 and "100.5" in fills.stdout and "msft" not in fills.stdout
    none = await cli("ledger", "fills", "--since", "2024-03-02", "--format", "json", env=env)
    assert json.loads(none.stdout) == []

    checked = await cli("ledger", "rebuild", "--check", env=env)
    assert checked.returncode == 0 and "byte for byte" in checked.stdout, checked.stderr


async def test_bad_arguments_and_missing_database_get_one_line(db_settings: Settings) -> None:
    env = settings_env(db_settings)
    one_line_error(await cli("ledger", "fills", "--since", "yesterday", env=env), "--since", "ISO 8601")
    one_line_error(await cli("ledger", "serve", "--starting-cash", "lots", env=env), "--starting-cash")
    one_line_error(await cli("ledger", "positions", env=env), "ingenium ledger migrate")
    no_database = {k: v for k, v in env.items() if k != "INGENIUM_DATABASE_URL"}
    one_line_error(await cli("ledger", "positions", env=no_database), "INGENIUM_DATABASE_URL")
    tiny = {**env, "INGENIUM_LEDGER_MAX_BATCH_BYTES": "12"}
    one_line_error(await cli("ledger", "serve", env=tiny), "INGENIUM_LEDGER_MAX_BATCH_BYTES", "65536")
    one_line_error(await cli("ledger", "rebuild", env={**env, "INGENIUM_LEDGER_BATCH_SIZE": "0"}),
                   "INGENIUM_LEDGER_BATCH_SIZE")
    small_cache = {**env, "INGENIUM_LEDGER_ORDER_CACHE": "10"}
    one_line_error(await cli("ledger", "serve", env=small_cache), "INGENIUM_LEDGER_", "order_cache (10)")
    unknown = await cli("ledger", "orders", "--status", "lost", env=env)
    assert unknown.returncode == 2 and "lost" in unknown.stderr and "Traceback" not in unknown.stderr
