"""A backtest whose components build trusted (unvalidated) events is the run they would make validating them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingenium.backtest import Engine, read_bars
from ingenium.events import Event
from tests.backtest.test_engine import SAMPLE, services_config


async def run(trusted: bool, **overrides: object) -> tuple[list[Event], Engine]:
    engine = Engine(services_config(**overrides))
    for component in engine.components:
        component.trusted_events = trusted
    events: list[Event] = []
    for key in ("signal", "order", "execution"):
        engine.bus.tap(key, events.append)  # type: ignore[arg-type]
    await engine.start()
    await engine.feed(read_bars(SAMPLE))
    await engine.stop()
    return events, engine


@pytest.mark.parametrize("overrides", [
    {},
    {"strategy_params": {"fast": 3, "slow": 7}, "executor_params": {"max_fill_quantity": "7", "volume_share": "0.01"},
     "portfolio_params": {"sizing": "quantity", "quantity": "30", "long_only": False, "limit_offset_bps": "5"}},
    {"fill": "close", "commission_bps": "2"},
])
async def test_trusted_events_equal_validated_ones(overrides: dict[str, object], tmp_path: Path) -> None:
    fast, fast_engine = await run(True, **overrides)
    checked, checked_engine = await run(False, **overrides)
    assert len(fast) > 20 and {e.kind for e in fast} == {"signal", "order", "execution"}
    assert fast == checked
    assert [e.to_json() for e in fast] == [e.to_json() for e in checked]
    assert [e.model_fields_set for e in fast] == [e.model_fields_set for e in checked]
    a = fast_engine.result(run_id="r", kind="backtest", source="s").write(tmp_path / "fast")
    b = checked_engine.result(run_id="r", kind="backtest", source="s").write(tmp_path / "checked")
    for name in ("trades.csv", "equity.csv", "summary.json", "report.html"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
