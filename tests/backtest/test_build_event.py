"""Events a trusted component builds without validation are equal to the validated ones."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

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


def test_fields_by_alias_or_missing_go_through_model_construct() -> None:
    component = trusted()
    by_alias = component.build_event(SignalEvent, Id="s", Timestamp=T0, Symbol="acme", Signal=SignalType.LONG)
    assert by_alias == SignalEvent(id="s", timestamp=T0, symbol="acme", signal=SignalType.LONG)
    missing = component.build_event(SignalEvent, id="s", timestamp=T0, symbol="acme")
    assert "signal" not in missing.__dict__  # as model_construct leaves it: trusted means the caller gives all
