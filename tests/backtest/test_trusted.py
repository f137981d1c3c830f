"""Events built on the hot path without validation are the real, valid events."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ingenium.backtest.trusted import trusted_bar
from ingenium.events import DataEvent, Ohlc
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
