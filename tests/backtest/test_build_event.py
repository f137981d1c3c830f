"""Events a trusted component builds without validation are equal to the validated ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ingenium.component import Component
from ingenium.events import (
    Event,
    ExecutionEvent,
    ExecutionUpdate,
    OrderEvent,
    OrderType,
    Side,
    SignalEvent,
    SignalType,
    StopLoss,
    TimeInForce,
)
from ingenium.testing import T0

CASES: list[tuple[type[Event], dict[str, Any]]] = [
    (SignalEvent, {"id": "signal_1", "timestamp": T0, "symbol": "acme", "signal": SignalType.LONG,
                   "strategy_id": "sma_cross", "price": Decimal("100.25")}),
    (SignalEvent, {"id": "signal_2", "timestamp": T0, "symbol": "ACME", "signal": SignalType.SHORT}),
    (OrderEvent, {"id": "order_1", "timestamp": T0, "symbol": "acme", "side": Side.BUY, "quantity": Decimal(90),
                  "type": OrderType.MARKET, "limit_price": None, "time_in_force": TimeInForce.DAY,
                  "strategy_id": "sma_cross", "signal_id": "signal_1"}),
    (OrderEvent, {"id": "order_2", "timestamp": T0, "symbol": "acme", "side": Side.SELL, "quantity": Decimal("2.5"),
                  "type": OrderType.LIMIT, "limit_price": Decimal("99.5"), "time_in_force": TimeInForce.GTC}),
    (ExecutionEvent, {"id": "exec_1", "timestamp": T0, "execution_timestamp": T0 + timedelta(seconds=1),
                      "order_id": "order_1", "symbol": "acme", "quantity": Decimal(0), "price": Decimal(0),
                      "update": ExecutionUpdate.ACCEPTED, "exec_id": "exec_1", "side": Side.BUY,
                      "cum_quantity": Decimal(0), "leaves_quantity": Decimal(90), "avg_price": None,
                      "commission": None, "reason": None}),
    (ExecutionEvent, {"id": "exec_2", "timestamp": T0, "execution_timestamp": T0, "order_id": "order_1",
                      "symbol": "acme", "quantity": Decimal(90), "price": Decimal("100.3"),
                      "update": ExecutionUpdate.FILLED, "side": Side.BUY, "commission": Decimal("0.9")}),
]


def trusted() -> Component:
    component = Component()
    component.trusted_events = True
    return component


@pytest.mark.parametrize(("cls", "fields"), CASES)
def test_trusted_build_equals_validated_and_model_construct(cls: type[Event], fields: dict[str, Any]) -> None:
    fast = trusted().build_event(cls, **fields)
    checked = Component().build_event(cls, **fields)
    constructed = cls.model_construct(**fields)
    assert type(fast) is cls
    assert fast == checked == constructed
    assert fast.to_json() == checked.to_json()
    assert cls.from_json(fast.to_json()) == checked
    assert fast.model_fields_set == checked.model_fields_set == constructed.model_fields_set
    assert list(fast.__dict__) == list(checked.__dict__)  # field order, as validation writes it
    assert fast.model_dump() == checked.model_dump()
    assert fast.__pydantic_extra__ is constructed.__pydantic_extra__
    assert fast.__pydantic_private__ is constructed.__pydantic_private__


def test_default_factories_give_each_event_its_own_value() -> None:
    component = trusted()
    fields = CASES[2][1]
    first, second = component.build_event(OrderEvent, **fields), component.build_event(OrderEvent, **fields)
    assert first.stop_loss == StopLoss() and first.stop_loss is not second.stop_loss


def test_fields_by_alias_are_validated_and_missing_ones_refused_as_live() -> None:
    component = trusted()
    by_alias = component.build_event(SignalEvent, Id="s", Timestamp=T0, Symbol="acme", Signal=SignalType.LONG)
    assert by_alias == SignalEvent(id="s", timestamp=T0, symbol="acme", signal=SignalType.LONG)
    # Trusted used to take a missing field as model_construct does; live refuses it, and so does trusted now.
    with pytest.raises(ValidationError) as fast:
        component.build_event(SignalEvent, id="s", timestamp=T0, symbol="acme")
    with pytest.raises(ValidationError) as checked:
        Component().build_event(SignalEvent, id="s", timestamp=T0, symbol="acme")
    assert str(fast.value) == str(checked.value) and "Signal\n  Field required" in str(fast.value)


def _refusal(component: Component, cls: type[Event], fields: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        component.build_event(cls, **fields)
    return str(caught.value)


BAD: list[tuple[str, type[Event], dict[str, Any], str]] = [
    ("float price", SignalEvent, {**CASES[0][1], "price": 100.25}, "floats are not accepted"),
    ("bad symbol", SignalEvent, {**CASES[0][1], "symbol": "not a symbol"}, "is not a valid symbol"),
    ("naive time", SignalEvent, {**CASES[0][1], "timestamp": datetime(2024, 3, 1, 14, 30)}, "timezone"),
    ("float quantity", OrderEvent, {**CASES[2][1], "quantity": 90.0}, "floats are not accepted"),
    ("negative quantity", OrderEvent, {**CASES[2][1], "quantity": Decimal(-1)}, "greater than 0"),
    ("NaN price", ExecutionEvent, {**CASES[5][1], "price": Decimal("NaN")}, "finite number"),
    ("limit order without a price", OrderEvent, {**CASES[3][1], "limit_price": None}, "LimitPrice is required"),
    ("fill without a price", ExecutionEvent, {**CASES[5][1], "price": Decimal(0)}, "Price must be greater"),
    ("unknown side", ExecutionEvent, {**CASES[5][1], "side": "up"}, "Input should be 'buy' or 'sell'"),
]


@pytest.mark.parametrize(("what", "cls", "fields", "words"), BAD, ids=[b[0] for b in BAD])
def test_trusted_refuses_what_live_refuses_with_the_same_message(
    what: str, cls: type[Event], fields: dict[str, Any], words: str
) -> None:
    fast = _refusal(trusted(), cls, fields)
    assert fast == _refusal(Component(), cls, fields)
    assert words in fast, what


def test_values_live_would_normalise_are_normalised() -> None:
    paris = timezone(timedelta(hours=1))
    fields = {**CASES[0][1], "timestamp": T0.astimezone(paris), "signal": "ingenium.signal.long",
              "price": "100.25", "strategy_id": ""}
    fast = trusted().build_event(SignalEvent, **fields)
    checked = Component().build_event(SignalEvent, **fields)
    assert fast == checked and fast.timestamp.tzinfo is UTC and fast.signal is SignalType.LONG
    assert fast.price == Decimal("100.25") and fast.strategy_id is None
    assert fast.to_json() == checked.to_json()


@pytest.mark.parametrize(("cls", "fields"), CASES)
def test_canonical_values_skip_validation(cls: type[Event], fields: dict[str, Any],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    expected = Component().build_event(cls, **fields)

    def validating(self: Event, **_: Any) -> None:
        raise AssertionError(f"{cls.__name__} was validated on the trusted path")

    monkeypatch.setattr(cls, "__init__", validating)
    assert trusted().build_event(cls, **fields) == expected
