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
    raw["Type"] = "data.type.orderbook"
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


def _go_order(name: str = "order_market.json", **changes: object) -> dict[str, object]:
    raw: dict[str, object] = json.loads((GOLDEN / name).read_bytes())
    raw.update(changes)
    return raw


def test_order_with_an_unknown_key_is_refused_naming_it_and_the_nearest_known_key() -> None:
    raw = _go_order()
    raw["OrderType"] = raw.pop("Type")
    with pytest.raises(ValidationError, match=r"unknown key 'OrderType' \(did you mean 'Type'\?\)"):
        OrderEvent.from_json(json.dumps(raw))
    # The nested leg is strict too, and a key nothing resembles lists the known ones.
    with pytest.raises(ValidationError, match=r"StopLoss[\s\S]*unknown key 'Limit' \(did you mean 'LimitPrice'\?\)"):
        OrderEvent.from_json(json.dumps(_go_order(StopLoss={"Limit": ""})))
    with pytest.raises(ValidationError, match=r"unknown key 'Xyzzy' \(known keys: ExtendedHours, Id, "):
        OrderEvent.from_json(json.dumps(_go_order(Xyzzy=1)))


def test_every_key_go_writes_and_ingenium_adds_is_known_to_the_order() -> None:
    raw = _go_order("order_limit.json", StrategyId="sma", SignalId="sig-1")
    event = OrderEvent.from_json(json.dumps(raw))
    assert (event.strategy_id, event.signal_id) == ("sma", "sig-1")
    assert OrderEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"LimitPrice": "180"}, r"LimitPrice is set \(180\) on a market order"),
        ({"StopPrice": "170"}, "StopPrice is set"),
        ({"Type": "limit", "LimitPrice": ""}, "LimitPrice is required for a limit order"),
        ({"Type": "limit", "LimitPrice": "0"}, "LimitPrice is required for a limit order"),
        ({"Type": "limit", "LimitPrice": "180", "StopPrice": "170"}, "StopPrice is set"),
        ({"TakeProfit": "200"}, "a bracket order needs both TakeProfit and StopLoss.StopPrice"),
        ({"TrailPercent": "1.5"}, "TrailPercent is set"),
        ({"StopLoss": {"LimitPrice": "", "StopPrice": "150"}}, "a bracket order needs both"),
        ({"StopLoss": {"LimitPrice": "149", "StopPrice": ""}}, "StopLoss.LimitPrice is set without"),
        ({"Type": "stop", "StopPrice": "170", "TakeProfit": "200", "StopLoss": {"LimitPrice": "", "StopPrice": "150"}},
         "a bracket .* needs a market or limit entry"),
        ({"Type": "limit", "LimitPrice": "-1"}, "a price must be greater than zero"),
    ],
)
def test_orders_whose_prices_do_not_fit_their_type_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OrderEvent.from_json(json.dumps(_go_order(**changes)))


def test_zero_prices_mean_unset_as_empty_strings_do() -> None:
    zeros = {"LimitPrice": "0", "StopPrice": "0", "TakeProfit": "0", "TrailPrice": "0", "TrailPercent": "0",
             "StopLoss": {"LimitPrice": "0", "StopPrice": "0"}}
    event = OrderEvent.from_json(json.dumps(_go_order(**zeros)))
    assert event.type is OrderType.MARKET and event.limit_price is None and event.stop_loss.stop_price is None
    assert json.loads(event.to_json())["LimitPrice"] == ""


@pytest.mark.parametrize("name", ["data_ohlc.json", "signal_long.json", "execution_filled.json"])
def test_data_signals_and_executions_ignore_keys_newer_senders_add(name: str) -> None:
    raw = json.loads((GOLDEN / name).read_bytes())
    raw["AddedLater"] = "x"
    event = TYPES[name.split("_")[0]].from_json(json.dumps(raw))
    assert event.id == raw["Id"]


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


def test_a_bracket_around_a_limit_entry_parses_and_keeps_its_legs() -> None:
    legs = {"Type": "limit", "LimitPrice": "180", "TakeProfit": "200",
            "StopLoss": {"LimitPrice": "", "StopPrice": "150"}}
    event = OrderEvent.from_json(json.dumps(_go_order(**legs)))
    assert event.is_bracket and event.take_profit == Decimal("200")
    assert event.stop_loss.stop_price == Decimal("150")
    assert OrderEvent.from_json(event.to_json()) == event
