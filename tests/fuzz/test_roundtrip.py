"""Properties: what Ingenium writes, it reads back as equal values (each event kind; the sample bar writer).

Events are built by validation from generated field values (any UTC offset, decimals across the accepted range,
any Unicode text), written with ``to_json`` and parsed with ``from_json``, as a component and the next one do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingenium.bars import read_bars
from ingenium.events import (
    CancelRequest,
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
from ingenium.fields import _SYMBOL, MAX_DECIMAL_CHARS
from services.data.sample import sample_csv

ids = st.text(min_size=1, max_size=200)
texts = st.none() | st.text(max_size=300)
symbols = st.from_regex(_SYMBOL, fullmatch=True)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets)


def decimals(low: str = "1E-40", high: str = "9E+40") -> st.SearchStrategy[Decimal]:
    """Positive decimals across the accepted range, in plain and exponent forms (``str`` writes both)."""
    scaled = st.builds(lambda digits, exp: Decimal(digits).scaleb(exp),
                       st.integers(min_value=1, max_value=10**30), st.integers(min_value=-60, max_value=10))
    # Only what events accept: a value whose written form is over MAX_DECIMAL_CHARS is refused on the way in.
    return (st.decimals(min_value=Decimal(low), max_value=Decimal(high), allow_nan=False, allow_infinity=False)
            | scaled.filter(lambda d: Decimal(low) <= d <= Decimal(high))).filter(
        lambda d: len(str(d)) <= MAX_DECIMAL_CHARS)


prices = decimals("1E-8", "1E+12")


def _roundtrip(model: type[Event], fields: dict[str, Any]) -> None:
    event = model.model_validate(fields)
    again = model.from_json(event.to_json())
    assert again == event
    assert again.to_json() == event.to_json()  # and writes the same bytes again


@given(ids, times, symbols, st.lists(prices, min_size=4, max_size=4), decimals() | st.just(Decimal(0)),
       st.sampled_from(["", "1m", "1h", "1d"]), times)
def test_data_events_read_back_equal(id_: str, at: datetime, symbol: str, four: list[Decimal], volume: Decimal,
                                     period: str, start: datetime) -> None:
    low, a, b, high = sorted(four)
    _roundtrip(DataEvent, {"id": id_, "timestamp": at, "symbol": symbol, "ohlc": {
        "open": a, "high": high, "low": low, "close": b, "volume": volume, "period": period, "timestamp": start}})


@given(ids, times, symbols, st.sampled_from(SignalType), texts, st.none() | prices)
def test_signal_events_read_back_equal(id_: str, at: datetime, symbol: str, direction: SignalType,
                                       strategy: str | None, price: Decimal | None) -> None:
    _roundtrip(SignalEvent, {"id": id_, "timestamp": at, "symbol": symbol, "signal": direction,
                             "strategy_id": strategy, "price": price})


@st.composite
def order_fields(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(OrderType))
    fields: dict[str, Any] = {
        "id": draw(ids), "timestamp": draw(times), "symbol": draw(symbols), "side": draw(st.sampled_from(Side)),
        "quantity": draw(decimals()), "type": kind, "time_in_force": draw(st.sampled_from(TimeInForce)),
        "extended_hours": draw(st.booleans()), "strategy_id": draw(texts), "signal_id": draw(texts),
    }
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        fields["limit_price"] = draw(prices)
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        fields["stop_price"] = draw(prices)
    if kind is OrderType.TRAILING_STOP:
        fields[draw(st.sampled_from(["trail_price", "trail_percent"]))] = draw(prices)
    if kind in (OrderType.MARKET, OrderType.LIMIT) and draw(st.booleans()):
        fields["take_profit"] = draw(prices)
        fields["stop_loss"] = {"stop_price": draw(prices), "limit_price": draw(st.none() | prices)}
    return fields


@given(order_fields())
def test_order_events_read_back_equal(fields: dict[str, Any]) -> None:
    _roundtrip(OrderEvent, fields)


@st.composite
def execution_fields(draw: st.DrawFn) -> dict[str, Any]:
    update = draw(st.sampled_from(ExecutionUpdate))
    fill = update.moves_quantity
    return {
        "id": draw(ids), "timestamp": draw(times), "execution_timestamp": draw(times), "order_id": draw(ids),
        "symbol": draw(symbols), "update": update,
        "quantity": draw(decimals()) if fill else draw(st.just(Decimal(0)) | decimals()),
        "price": draw(prices) if fill else draw(st.just(Decimal(0)) | prices),
        "exec_id": draw(texts), "side": draw(st.none() | st.sampled_from(Side)),
        "cum_quantity": draw(st.none() | decimals()), "leaves_quantity": draw(st.none() | decimals()),
        "avg_price": draw(st.none() | prices), "commission": draw(st.none() | decimals()),
        "reason": draw(texts), "cancel_id": draw(texts),
    }


@given(execution_fields())
def test_execution_events_read_back_equal(fields: dict[str, Any]) -> None:
    _roundtrip(ExecutionEvent, fields)


@given(ids, times, ids, texts, texts)
def test_cancel_requests_read_back_equal(id_: str, at: datetime, order_id: str, reason: str | None,
                                         by: str | None) -> None:
    _roundtrip(CancelRequest, {"id": id_, "timestamp": at, "order_id": order_id, "reason": reason,
                               "requested_by": by})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=30))
def test_the_sample_bar_writer_reads_back_equal(tmp_path: Path, seed: int, count: int) -> None:
    text = sample_csv(seed=seed, bars=count)
    path = tmp_path / f"sample-{seed}-{count}.csv"
    path.write_text(text, encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines()[1:]]
    written = sorted((datetime.fromisoformat(r[0]).astimezone(UTC), r[1], *map(Decimal, r[2:])) for r in rows)
    bars = read_bars(path, period="1m")
    backtested = sorted(zip(bars.starts, bars.symbols, bars.opens, bars.highs, bars.lows, bars.closes, bars.volumes,
                            strict=True))
    assert backtested == written
