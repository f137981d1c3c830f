"""What ``ingenium ledger positions|orders|fills`` print: symbols in any case, plain decimals, a CSV header always."""

from __future__ import annotations

import csv
import io
import json

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import Side
from ingenium.testing import fill, order, settings_env
from ledger.tables import LedgerAnomaly, LedgerOrder
from tests.ledger.support import project
from tests.ledger.test_cli import cli


async def test_symbols_in_any_case_plain_decimals_and_csv_headers(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    env = settings_env(ledger_settings)
    big = order("aapl", Side.BUY, "100000")
    await bus.publish_many([big, fill(big, "100000", "1", commission="0.5")])
    await project(nc, ledger_settings)

    runs = {
        "positions-json": ["positions", "--format", "json"],
        "positions-csv": ["positions", "--format", "csv"],
        "positions-table": ["positions"],
        "orders": ["orders", "--symbol", "AAPL", "--format", "json"],  # recorded as aapl
        "fills": ["fills", "--symbol", "Aapl", "--format", "csv"],
        "no-orders": ["orders", "--symbol", "MSFT", "--format", "csv"],
        "no-anomalies": ["anomalies", "--format", "csv"],
    }
    results = {name: await cli("ledger", *args, env=env) for name, args in runs.items()}
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stderr)
        # PostgreSQL's NUMERIC 100000 arrives as Decimal('1.0E+5'); people and spreadsheets read 100000.
        assert "E+" not in result.stdout, (name, result.stdout)
    [position] = json.loads(results["positions-json"].stdout)
    [position_row] = list(csv.DictReader(io.StringIO(results["positions-csv"].stdout)))
    assert position["quantity"] == position_row["quantity"] == "100000"
    assert position["average_price"] == position_row["average_price"] == "1"
    assert " 100000 " in results["positions-table"].stdout
    [found] = json.loads(results["orders"].stdout)
    assert (found["order_id"], found["filled_quantity"]) == (big.id, "100000")
    [fill_row] = list(csv.DictReader(io.StringIO(results["fills"].stdout)))
    assert (fill_row["order_id"], fill_row["quantity"]) == (big.id, "100000")

    assert results["no-orders"].stdout.splitlines() == [",".join(LedgerOrder.model_fields)]
    assert results["no-anomalies"].stdout.splitlines() == [",".join(LedgerAnomaly.model_fields)]
