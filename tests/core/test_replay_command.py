"""``ingenium replay`` as a user runs it: it says what it read, refuses an empty range, and defaults as live."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.testing import bar, settings_env
from services.executor.paper import PaperParams
from services.portfolio.portfolio import RiskPortfolioParams
from tests.core.test_cli import assert_one_line_error, cli

STRATEGY = ["-s", "services.strategies:SmaCross", "-p", "fast=2", "-p", "slow=3"]


async def test_replay_reports_what_it_read_and_an_empty_range_is_an_error(
    bus: JetStreamBus, settings: Settings, tmp_path: Path
) -> None:
    await bus.publish_many([bar("zed", 50, minutes=i) for i in range(2)]
                           + [bar("acme", c, minutes=i) for i, c in enumerate([10, 9, 8, 12, 13, 14])])
    env = settings_env(settings)

    done = await asyncio.to_thread(cli, "replay", *STRATEGY, "--symbols", "ACME", "--out", str(tmp_path / "r"),
                                   env=env)
    assert done.returncode == 0, done.stderr
    data = settings.subjects.stream("data")
    assert f"replayed 6 bars read from {data}[ACME] seq 3-8" in done.stdout

    # Nothing the defaults leave unset is the replay command's own: cash is the live portfolio's default,
    # costs are the live paper executor's.
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["config"]["cash"] == str(RiskPortfolioParams.model_fields["cash"].default)
    assert summary["config"]["portfolio"] == "services.portfolio:RiskPortfolio"
    assert summary["config"]["commission"] is None and PaperParams.model_fields["commission_per_share"].default == 0

    nothing = await asyncio.to_thread(cli, "replay", *STRATEGY, "--symbols", "nosuch", env=env)
    assert_one_line_error(nothing, f"nothing to replay in {data}[nosuch]: no message", "ingenium ingest")
    assert not Path("out").joinpath("nosuch").exists()
    outside = await asyncio.to_thread(cli, "replay", *STRATEGY, "--since", "2030-01-01T00:00:00Z", env=env)
    assert_one_line_error(outside, f"nothing to replay in {data}[*] since 2030-01-01")
