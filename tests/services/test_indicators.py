"""Incremental indicators against a naive recomputation over the whole history."""

import random
from decimal import Decimal

import pytest

from services.indicators import MovingAverage, RelativeStrength


def prices(n: int, seed: int = 3) -> list[Decimal]:
    rng = random.Random(seed)
    value, out = 100.0, []
    for _ in range(n):
        value *= 1 + rng.gauss(0, 0.01)
        out.append(Decimal(f"{value:.2f}"))
    return out


def naive_rsi(series: list[Decimal], window: int) -> list[Decimal | None]:
    """Wilder's RSI recomputed from scratch at every point."""
    out: list[Decimal | None] = []
    for end in range(len(series)):
        changes = [series[i] - series[i - 1] for i in range(1, end + 1)]
        if len(changes) < window:
            out.append(None)
            continue
        gains = [max(c, Decimal(0)) for c in changes]
        losses = [max(-c, Decimal(0)) for c in changes]
        avg_gain = sum(gains[:window], Decimal(0)) / window
        avg_loss = sum(losses[:window], Decimal(0)) / window
        for g, loss in zip(gains[window:], losses[window:], strict=True):
            avg_gain = (avg_gain * (window - 1) + g) / window
            avg_loss = (avg_loss * (window - 1) + loss) / window
        if avg_loss == 0:
            out.append(Decimal(100) if avg_gain > 0 else Decimal(50))
        else:
            out.append(100 - 100 / (1 + avg_gain / avg_loss))
    return out


@pytest.mark.parametrize("window", [1, 3, 20])
def test_moving_average_equals_mean_of_last_window(window: int) -> None:
    series = prices(300)
    sma = MovingAverage(window)
    for i, price in enumerate(series):
        got = sma.update(price)
        if i + 1 < window:
            assert got is None and not sma.ready
        else:
            expected = sum(series[i + 1 - window : i + 1], Decimal(0)) / window
            assert got == expected == sma.value
            assert sma.total == sum(series[i + 1 - window : i + 1], Decimal(0))


@pytest.mark.parametrize("window", [2, 14])
def test_rsi_equals_naive_wilder(window: int) -> None:
    series = prices(120, seed=window)
    rsi = RelativeStrength(window)
    for got, expected in zip((rsi.update(p) for p in series), naive_rsi(series, window), strict=True):
        if expected is None:
            assert got is None
        else:
            assert got is not None and abs(got - expected) < Decimal("1e-20")
            assert 0 <= got <= 100


def test_rsi_of_flat_and_rising_prices() -> None:
    flat = RelativeStrength(3)
    rising = RelativeStrength(3)
    for i in range(5):
        flat.update(Decimal(10))
        rising.update(Decimal(10 + i))
    assert flat.value == 50
    assert rising.value == 100


def test_windows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MovingAverage(0)
    with pytest.raises(ValueError, match="at least 1"):
        RelativeStrength(0)
