"""Wire compatibility with the original Go Ingenium, and validation that protects the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingenium.events import (
    DataEvent,
    Event,
    ExecutionEvent,
    ExecutionUpdate,
    OrderEvent,
    OrderType,
    Side,
    SignalEvent,
    SignalType,
    TimeInForce,
)
from ingenium.testing import bar, order

# Prefer the shared folder (the source of truth); the copy in tests/ lets the suite run without it.
_SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "go-json"
GOLDEN = _SHARED if _SHARED.is_dir() else Path(__file__).resolve().parents[1] / "fixtures" / "go-json"
TYPES: dict[str, type[Event]] = {
    "data": DataEvent, "signal": SignalEvent, "order": OrderEvent, "execution": ExecutionEvent,
}


def load(name: str) -> Event:
    return TYPES[name.split("_")[0]].from_json((GOLDEN / name).read_bytes())


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.name)
def test_golden_round_trip(path: Path) -> None:
    cls = TYPES[path.name.split("_")[0]]
    event = cls.from_json(path.read_bytes())
    again = cls.from_json(event.to_json())
    assert again == event
    # Every key Go wrote is written back (extra keys are allowed: Go ignores them).
    assert set(json.loads(path.read_bytes())) <= set(json.loads(event.to_json()))


def test_golden_data_values() -> None:
    event = load("data_ohlc.json")
    assert isinstance(event, DataEvent)
    assert event.id == "data_2dK8wPq3rXn0T5bYc7LmV1sZ9aE"
    # Python keeps microseconds: the nanosecond digits 789 are truncated.
    assert event.timestamp == datetime(2024, 3, 1, 14, 31, 2, 123456, tzinfo=UTC)
    assert event.symbol == "aapl"
    assert event.bar.open == Decimal("179.55")
    assert event.bar.high == Decimal("180.12")
    assert event.bar.low == Decimal("179.30")
    assert event.bar.close == Decimal("179.98")
    assert event.bar.volume == Decimal("1523400")
    assert event.bar.period == "1m"
    assert event.bar.timestamp == datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def test_golden_signals() -> None:
    long, short = load("signal_long.json"), load("signal_short.json")
    assert isinstance(long, SignalEvent) and isinstance(short, SignalEvent)
    assert (long.symbol, long.signal) == ("aapl", SignalType.LONG)
    assert (short.symbol, short.signal) == ("msft", SignalType.SHORT)
    assert long.strategy_id is None and long.price is None


def test_golden_orders() -> None:
    market, limit = load("order_market.json"), load("order_limit.json")
    assert isinstance(market, OrderEvent) and isinstance(limit, OrderEvent)
    assert (market.side, market.quantity, market.type, market.time_in_force) == (
        Side.BUY, Decimal(10), OrderType.MARKET, TimeInForce.DAY,
    )
    assert market.limit_price is None and market.stop_loss.limit_price is None
    assert (limit.side, limit.quantity, limit.type, limit.time_in_force, limit.limit_price) == (
        Side.SELL, Decimal("2.5"), OrderType.LIMIT, TimeInForce.GTC, Decimal("415.25"),
    )
    wire = json.loads(market.to_json())
    assert wire["LimitPrice"] == "" and wire["StopLoss"] == {"LimitPrice": "", "StopPrice": ""}
    assert wire["Quantity"] == "10"


def test_golden_partial_fills_add_up() -> None:
    fills = [load(n) for n in ("execution_partial_1.json", "execution_partial_2.json", "execution_filled.json")]
    assert all(isinstance(f, ExecutionEvent) for f in fills)
    execs = [f for f in fills if isinstance(f, ExecutionEvent)]
    assert {f.order_id for f in execs} == {"order_2dK8wS7pUhT0wAx4PrZg7vD1eNo"}
    assert [f.update for f in execs] == [ExecutionUpdate.PARTIAL_FILL, ExecutionUpdate.PARTIAL_FILL,
                                         ExecutionUpdate.FILLED]
    assert sum(f.quantity for f in execs) == Decimal(10)
    assert [f.price for f in execs] == [Decimal("180.01"), Decimal("180.02"), Decimal("180.05")]
    # Go events carry no ExecId: the event Id identifies the fill.
    assert [f.fill_id for f in execs] == [f.id for f in execs]
    assert execs[0].execution_timestamp == datetime(2024, 3, 1, 14, 31, 2, 158456, tzinfo=UTC)


def test_offsets_normalise_to_utc_and_we_write_utc() -> None:
    raw = json.loads((GOLDEN / "signal_long.json").read_bytes())
    raw["Timestamp"] = "2024-03-01T09:31:02.126456789-05:00"
    event = SignalEvent.model_validate(raw)
    assert event.timestamp == datetime(2024, 3, 1, 14, 31, 2, 126456, tzinfo=UTC)
    assert json.loads(event.to_json())["Timestamp"] == "2024-03-01T14:31:02.126456Z"


def test_execution_that_moves_nothing_may_carry_zero() -> None:
    raw = json.loads((GOLDEN / "execution_filled.json").read_bytes())
    raw.update(Update="canceled", Quantity="0", Price="")
    event = ExecutionEvent.model_validate(raw)
    assert event.quantity == 0 and not event.is_fill


def _error_fields(exc: ValidationError) -> set[str]:
    return {str(e["loc"][0]) for e in exc.errors()}


@pytest.mark.parametrize(
    ("field", "value"),
    [("Quantity", "0"), ("Quantity", "-1"), ("Quantity", "NaN"), ("Quantity", "Infinity"), ("Quantity", 1.5),
     ("Side", "hold"), ("Type", "iceberg"), ("TimeInForce", "ioc"), ("Symbol", "a.b"), ("Symbol", "a b"),
     ("Symbol", ">"), ("Symbol", ""), ("Timestamp", "2024-03-01T14:31:02"), ("Quantity", "ten")],
)
def test_order_validation_names_the_field(field: str, value: object) -> None:
    raw = json.loads((GOLDEN / "order_market.json").read_bytes())
    raw[field] = value
    with pytest.raises(ValidationError) as info:
        OrderEvent.model_validate(raw)
    assert field in _error_fields(info.value)


def test_fill_needs_quantity_and_price() -> None:
    raw = json.loads((GOLDEN / "execution_filled.json").read_bytes())
    raw["Quantity"] = "0"
    with pytest.raises(ValidationError, match="Quantity must be greater than zero"):
        ExecutionEvent.model_validate(raw)


def test_limit_order_needs_limit_price() -> None:
    with pytest.raises(ValidationError, match="LimitPrice is required"):
        order(order_type=OrderType.LIMIT)


def test_bar_must_be_consistent() -> None:
    with pytest.raises(ValidationError, match="inconsistent bar"):
        DataEvent.model_validate({
            "Id": "x", "Timestamp": "2024-03-01T14:31:00Z", "Symbol": "aapl",
            "Ohlc": {"Open": "10", "High": "9", "Low": "8", "Close": "10", "Timestamp": "2024-03-01T14:30:00Z"},
        })


def test_unknown_data_type_rejected() -> None:
    raw = json.loads((GOLDEN / "data_ohlc.json").read_bytes())
    raw["Type"] = "data.type.quote"
    with pytest.raises(ValidationError) as info:
        DataEvent.model_validate(raw)
    assert "Type" in _error_fields(info.value)


def test_ohlc_omitted_when_nil_is_rejected_for_ohlc_type() -> None:
    raw = json.loads((GOLDEN / "data_ohlc.json").read_bytes())
    del raw["Ohlc"]
    with pytest.raises(ValidationError, match="Ohlc is required"):
        DataEvent.model_validate(raw)


def test_python_api_takes_decimals_and_strings() -> None:
    event = bar("msft", "415.5")
    assert event.bar.close == Decimal("415.5")
    assert json.loads(event.to_json())["Ohlc"]["Close"] == "415.5"


def test_stop_orders_need_their_prices() -> None:
    base = {"Id": "o1", "Timestamp": "2024-03-01T14:31:02Z", "Symbol": "aapl", "Side": "buy", "Quantity": "1"}
    with pytest.raises(ValidationError, match="StopPrice is required for a stop order"):
        OrderEvent.model_validate({**base, "Type": "stop"})
    with pytest.raises(ValidationError, match="LimitPrice is required for a stop_limit order"):
        OrderEvent.model_validate({**base, "Type": "stop_limit", "StopPrice": "9"})
    with pytest.raises(ValidationError, match="exactly one of TrailPrice and TrailPercent"):
        OrderEvent.model_validate({**base, "Type": "trailing_stop"})
    trailing = OrderEvent.model_validate({**base, "Type": "trailing_stop", "TrailPercent": "1.5"})
    assert trailing.trail_percent == Decimal("1.5")
