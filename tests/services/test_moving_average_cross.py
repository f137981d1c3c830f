"""``MovingAverageCross`` (SmaCross's state) against two naive moving averages recomputed at every point."""

import random
from decimal import Decimal

import pytest

from services.indicators import MovingAverageCross


def flat_then_walk(n: int, seed: int) -> list[Decimal]:
    """Prices in cents with long flat stretches, so equal averages (ties) happen as well as crossings."""
    rng = random.Random(seed)
    value, out = 10_000, []
    for _ in range(n):
        value += rng.choice([-3, 0, 0, 0, 3])
        out.append(Decimal(value).scaleb(-2))
    return out


def naive_crossings(series: list[Decimal], fast: int, slow: int) -> list[int]:
    """1/-1 where mean(last fast) crosses above/below mean(last slow); ties keep the previous relation."""
    out, above = [], None
    for end in range(1, len(series) + 1):
        if end < slow:
            out.append(0)
            continue
        fast_sum = sum(series[end - fast : end], Decimal(0))
        slow_sum = sum(series[end - slow : end], Decimal(0))
        if fast_sum * slow == slow_sum * fast:
            out.append(0)
            continue
        now = fast_sum * slow > slow_sum * fast
        out.append(0 if above is None or above == now else (1 if now else -1))
        above = now
    return out


@pytest.mark.parametrize(("fast", "slow", "seed"), [(1, 2, 1), (3, 7, 2), (10, 20, 3), (19, 20, 4)])
def test_crossings_and_sums_equal_the_naive_ones(fast: int, slow: int, seed: int) -> None:
    series = flat_then_walk(600, seed)
    cross = MovingAverageCross(fast, slow)
    got = [cross.update(price) for price in series]
    assert got == naive_crossings(series, fast, slow)
    assert any(got) and cross.fast_total == sum(series[-fast:], Decimal(0))
    assert cross.slow_total == sum(series[-slow:], Decimal(0))


@pytest.mark.parametrize(("fast", "slow"), [(0, 5), (5, 5), (6, 5)])
def test_windows_must_be_ordered(fast: int, slow: int) -> None:
    with pytest.raises(ValueError, match="fast window must be at least 1 and below the slow one"):
        MovingAverageCross(fast, slow)
