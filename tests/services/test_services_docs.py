"""docs/services.md documents every parameter of every service component."""

from pathlib import Path

import pytest

from ingenium.component import Component
from services.executor import PaperExecutor
from services.ingestors import HistoricalIngestor, SyntheticFeed
from services.portfolio import RiskPortfolio
from services.strategies import RsiReversion, SmaCross

DOC = Path(__file__).resolve().parents[2] / "docs" / "services.md"


@pytest.mark.parametrize("component", [HistoricalIngestor, SyntheticFeed, SmaCross, RsiReversion, RiskPortfolio,
                                       PaperExecutor])
def test_every_parameter_is_documented(component: type[Component]) -> None:
    text = DOC.read_text()
    missing = [name for name in component.params_model.model_fields if f"`{name}`" not in text]
    assert not missing, f"docs/services.md does not document {component.__name__} parameters {missing}"
    for name, field in component.params_model.model_fields.items():
        assert field.description, f"{component.__name__}.{name} has no description"
