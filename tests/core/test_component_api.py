"""The component author's API: parameters declared once, per-symbol state, the ingestor's abstract ``run``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ingenium import DataEvent, Ingestor, Params, SignalEvent, Strategy, per_symbol
from ingenium.errors import ConfigurationError
from ingenium.testing import bar
from services.strategies import SmaCross, SmaCrossParams


class LevelParams(Params):
    """A price level."""

    level: Decimal = Decimal(100)


class Crossings(Strategy[LevelParams]):
    """Counts, per symbol, the bars that closed above ``level``."""

    @per_symbol
    def above(self) -> list[Decimal]:
        return [self.params.level]

    def on_data(self, event: DataEvent) -> SignalEvent | None:
        if event.bar.close > self.params.level:
            self.above[event.symbol].append(event.bar.close)
        return None


def test_the_type_argument_is_the_parameter_model() -> None:
    assert SmaCross.params_model is SmaCrossParams
    assert Crossings.params_model is LevelParams
    strategy = Crossings(level="101.5")
    assert strategy.params == LevelParams(level=Decimal("101.5"))
    with pytest.raises(ConfigurationError, match="Crossings has no parameter 'levle'; did you mean 'level'"):
        Crossings(levle="1")


def test_a_subclass_keeps_its_parents_parameters() -> None:
    class Quiet(Crossings):
        pass

    assert Quiet.params_model is LevelParams
    assert Quiet(level="7").params.level == Decimal(7)


def test_parameters_declared_twice_and_differently_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"Twice declares its parameters twice .*keep the type argument"):
        class Twice(Strategy[LevelParams]):
            params_model = SmaCrossParams


def test_per_symbol_state_is_made_on_first_use_for_each_symbol_and_instance() -> None:
    first, second = Crossings(level="100", name="first"), Crossings(level="50", name="second")
    for close in ("99", "101", "102"):
        first.on_data(bar("acme", close=close))
    first.on_data(bar("globex", close="150"))
    second.on_data(bar("acme", close="60"))
    assert first.above == {"acme": [Decimal(100), Decimal(101), Decimal(102)], "globex": [Decimal(100), Decimal(150)]}
    assert second.above == {"acme": [Decimal(50), Decimal(60)]}
    assert isinstance(Crossings.__dict__["above"], per_symbol)


def test_an_ingestor_without_run_cannot_be_made() -> None:
    class Silent(Ingestor):
        pass

    with pytest.raises(TypeError, match=r"abstract method '?run"):
        Silent()  # type: ignore[abstract]
