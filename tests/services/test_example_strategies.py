"""SMA crossover and RSI strategies: signals where a naive computation says they belong."""

from decimal import Decimal

import pytest

from ingenium.errors import ConfigurationError
from ingenium.events import DataEvent, SignalEvent, SignalType
from ingenium.testing import bar, drive
from services.strategies import RsiReversion, SmaCross
from tests.services.test_indicators import naive_rsi, prices


def feed(strategy: SmaCross | RsiReversion, events: list[DataEvent]) -> list[tuple[int, SignalEvent]]:
    out = []
    for i, event in enumerate(events):
        out.extend((i, signal) for signal in drive(strategy, event) if isinstance(signal, SignalEvent))
    return out


def test_sma_cross_signals_exactly_at_crossings() -> None:
    series = prices(400, seed=11)
    events = [bar("acme", close=p, minutes=i) for i, p in enumerate(series)]
    fast, slow = 5, 12
    expected = []
    previous = None
    for i in range(slow - 1, len(series)):
        f = sum(series[i + 1 - fast : i + 1], Decimal(0)) / fast
        s = sum(series[i + 1 - slow : i + 1], Decimal(0)) / slow
        if f == s:
            continue
        above = f > s
        if previous is not None and above != previous:
            expected.append((i, SignalType.LONG if above else SignalType.SHORT))
        previous = above
    got = feed(SmaCross(fast=fast, slow=slow, name="sma"), events)
    assert [(i, s.signal) for i, s in got] == expected
    assert len(expected) > 5
    first_index, first = got[0]
    assert first.strategy_id == "sma" and first.price == series[first_index] and first.symbol == "acme"


def test_sma_cross_keeps_symbols_apart_and_ids_reproducible() -> None:
    series = prices(200, seed=5)
    events = [bar(sym, close=p if sym == "a" else p * 2, minutes=i, event_id=f"{sym}{i}")
              for i, p in enumerate(series) for sym in ("a", "b")]
    one = feed(SmaCross(fast=3, slow=8), events)
    two = feed(SmaCross(fast=3, slow=8), events)
    assert [s.id for _, s in one] == [s.id for _, s in two]
    per_symbol = {sym: [s.signal for _, s in one if s.symbol == sym] for sym in ("a", "b")}
    assert per_symbol["a"] == per_symbol["b"]  # b is a scaled a: same crossings


def test_rsi_signals_when_entering_a_zone() -> None:
    series = prices(300, seed=2)
    events = [bar("x", close=p, minutes=i) for i, p in enumerate(series)]
    values = naive_rsi(series, 6)
    expected, zone = [], 0
    for i, value in enumerate(values):
        if value is None:
            continue
        now = -1 if value < 35 else 1 if value > 65 else 0
        if now != zone and now != 0:
            expected.append((i, SignalType.LONG if now < 0 else SignalType.SHORT))
        zone = now
    got = feed(RsiReversion(window=6, lower=35, upper=65), events)
    assert [(i, s.signal) for i, s in got] == expected
    assert len(expected) > 4


def test_parameters_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'fast'"):
        SmaCross(fats=3)
    with pytest.raises(ConfigurationError, match="smaller than slow"):
        SmaCross(fast=30, slow=10)
    with pytest.raises(ConfigurationError, match="smaller than upper"):
        RsiReversion(lower=80, upper=20)
    assert SmaCross(fast="4", slow="9").params.fast == 4  # from --param strings
