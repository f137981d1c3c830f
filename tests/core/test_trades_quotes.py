"""Trades and quotes on the data stream: each event carries the payload its Type names, bars read as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingenium.events import DataEvent, DataType, Quote, Trade

_SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "go-json"
GOLDEN = _SHARED if _SHARED.is_dir() else Path(__file__).resolve().parents[1] / "fixtures" / "go-json"
AT = datetime(2024, 1, 2, 14, 30, 1, 250000, tzinfo=UTC)


def test_a_bar_is_written_byte_for_byte_as_before_trades_and_quotes_existed() -> None:
    # Captured from the serialiser before Trade and Quote were added: a bar must not gain a key.
    event = DataEvent.from_json((GOLDEN / "data_ohlc.json").read_bytes())
    assert event.to_json() == (
        b'{"Id":"data_2dK8wPq3rXn0T5bYc7LmV1sZ9aE","Timestamp":"2024-03-01T14:31:02.123456Z",'
        b'"Type":"data.type.ohlc","Symbol":"aapl","Ohlc":{"Open":"179.55","High":"180.12","Low":"179.30",'
        b'"Close":"179.98","Volume":"1523400","Period":"1m","Timestamp":"2024-03-01T14:30:00Z"}}')
    minimal = DataEvent.model_validate({"Id": "x", "Timestamp": "2024-01-02T14:31:00Z", "Symbol": "AAPL", "Ohlc": {
        "Open": "1.5", "High": "2", "Low": "1", "Close": "1.75", "Timestamp": "2024-01-02T14:30:00Z"}})
    assert minimal.to_json() == (
        b'{"Id":"x","Timestamp":"2024-01-02T14:31:00Z","Type":"data.type.ohlc","Symbol":"AAPL","Ohlc":{"Open":"1.5",'
        b'"High":"2","Low":"1","Close":"1.75","Volume":"0","Period":"","Timestamp":"2024-01-02T14:30:00Z"}}')


def test_a_trade_and_a_quote_round_trip_with_exact_decimals_and_without_ohlc() -> None:
    trade = DataEvent(id="t1", timestamp=AT, type=DataType.TRADE, symbol="AAPL", trade=Trade(
        price=Decimal("187.015"), size=Decimal("0.5"), timestamp=AT, id="52983525029461", exchange="V",
        conditions=("@", "I"), tape="C"))
    wire = json.loads(trade.to_json())
    assert "Ohlc" not in wire and "Quote" not in wire
    assert wire["Type"] == "data.type.trade"
    assert wire["Trade"] == {"Price": "187.015", "Size": "0.5", "Timestamp": "2024-01-02T14:30:01.250000Z",
                             "Id": "52983525029461", "Exchange": "V", "Conditions": ["@", "I"], "Tape": "C"}
    assert DataEvent.from_json(trade.to_json()) == trade
    quote = DataEvent(id="q1", timestamp=AT, type=DataType.QUOTE, symbol="AAPL", quote=Quote(
        bid_price=Decimal("187.01"), bid_size=Decimal("3"), ask_price=Decimal("187.02"), ask_size=Decimal(0),
        timestamp=AT))
    wire = json.loads(quote.to_json())
    assert wire["Quote"] == {"BidPrice": "187.01", "BidSize": "3", "AskPrice": "187.02", "AskSize": "0",
                             "Timestamp": "2024-01-02T14:30:01.250000Z", "Conditions": []}
    assert DataEvent.from_json(quote.to_json()) == quote
    with pytest.raises(ValueError, match="carries no OHLC bar"):
        _ = quote.bar


@pytest.mark.parametrize(("raw", "message"), [
    ({"Type": "data.type.trade"}, "Trade is required when Type is data.type.trade"),
    ({"Type": "data.type.quote", "Trade": {"Price": "1", "Size": "1", "Timestamp": "2024-01-02T14:30:00Z"}},
     "Quote is required when Type is data.type.quote"),
    ({"Type": "data.type.trade", "Trade": {"Price": "1", "Size": "1", "Timestamp": "2024-01-02T14:30:00Z"},
      "Ohlc": {"Open": "1", "High": "1", "Low": "1", "Close": "1", "Timestamp": "2024-01-02T14:30:00Z"}},
     "Ohlc is set on a data.type.trade event, which carries Trade only"),
    ({"Type": "data.type.trade", "Trade": {"Price": "0", "Size": "1", "Timestamp": "2024-01-02T14:30:00Z"}},
     "greater than 0"),
])
def test_each_event_carries_exactly_the_payload_its_type_names(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DataEvent.model_validate({"Id": "x", "Timestamp": "2024-01-02T14:30:00Z", "Symbol": "AAPL", **raw})
