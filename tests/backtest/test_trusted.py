"""Events built on the hot path without validation are the real, valid events."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import model_validator

from ingenium.backtest.trusted import TrustedBuilder, trusted_bar
from ingenium.events import DataEvent, Ohlc, OrderEvent, StrictWireModel, keys_only
from ingenium.testing import T0


def test_trusted_bar_equals_the_validated_event() -> None:
    end = T0 + timedelta(minutes=1)
    fast = trusted_bar("data_1", "acme", T0, end, "1m", Decimal("100.5"), Decimal(101), Decimal(99),
                       Decimal("100.25"), Decimal(0))
    checked = DataEvent(id="data_1", timestamp=end, symbol="acme", ohlc=Ohlc(
        open=Decimal("100.5"), high=Decimal(101), low=Decimal(99), close=Decimal("100.25"), volume=Decimal(0),
        period="1m", timestamp=T0))
    assert type(fast) is DataEvent and type(fast.ohlc) is Ohlc
    assert fast == checked
    assert fast.to_json() == checked.to_json()
    assert DataEvent.from_json(fast.to_json()) == checked
    assert fast.model_fields_set == checked.model_fields_set | {"type"}
    assert fast.bar.close == Decimal("100.25") and fast.model_dump() == checked.model_dump()


def test_trusted_events_stay_frozen() -> None:
    import pytest
    from pydantic import ValidationError

    event = trusted_bar("d", "acme", T0, T0, "1m", Decimal(1), Decimal(1), Decimal(1), Decimal(1), Decimal(0))
    with pytest.raises(ValidationError, match="frozen"):
        event.symbol = "other"  # type: ignore[misc]


def test_the_unknown_key_check_is_recognised_by_its_marker_not_its_name() -> None:
    """A strict model's keys-only check is skipped on the trusted path; any other before-validator forces validation."""
    assert TrustedBuilder(OrderEvent)._usable

    class Renamed(StrictWireModel):
        value: int

        @model_validator(mode="before")
        @classmethod
        @keys_only
        def _only_some_keys(cls, data: Any) -> Any:
            return data

    class Unmarked(StrictWireModel):
        value: int

        @model_validator(mode="before")
        @classmethod
        def _refuse_unknown_keys(cls, data: Any) -> Any:  # the old name, without the marker: it may change values
            return {"value": data["value"] + 1} if isinstance(data, dict) else data

    assert TrustedBuilder(Renamed)._usable
    assert not TrustedBuilder(Unmarked)._usable
    assert TrustedBuilder(Unmarked)({"value": 1}) == Unmarked(value=1)
    assert Unmarked(value=1).value == 2
