"""Runs in a real Chromium: a sweep from the form (ranked table, heat map over two parameters), a replay of the
recorded stream from the form, two runs side by side; and the command line's sweeps and replays stored as runs."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.testing import bar, settings_env
from ledger.migrate import upgrade
from services.web.runs import data_files
from tests.web.conftest import WebStack, open_page, screenshot

#: A falling then rising close: SmaCross(2, 3) trades on it.
CLOSES = [10, 9, 8, 12, 13, 14, 11, 9, 8, 12, 15, 16, 12, 9, 8]


async def runs_ls(settings: Settings) -> dict[str, dict[str, object]]:
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "ingenium", "runs", "ls", "--format", "json"],
                                  env=settings_env(settings), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return {r["run_id"]: r for r in json.loads(out.stdout)}


async def launch(page: Page, url: str, params: dict[str, str], *, stream: str | None = None) -> str:
    await page.goto(url + "/backtests")
    await page.select_option("#strategy", "services.strategies:SmaCross")
    for name, value in params.items():
        await page.fill(f'input[name="param.{name}"]', value)
    if stream is not None:
        await page.locator('label:has(#source-stream)').click()
        await page.fill('input[name="symbols"]', stream)
    await page.click("#launch")
    await page.wait_for_url("**/backtests/run-*")
    await expect(page.locator("#run-status")).to_have_text("done", timeout=90_000)
    return page.url.rsplit("/", 1)[1]


async def test_sweep_heat_map_replay_and_comparison(web: WebStack, bus: JetStreamBus, browser: Browser) -> None:
    page, requests = await open_page(browser)

    # A sweep of two parameters: every combination ranked, and a heat map of fast × slow.
    sweep_id = await launch(page, web.url, {"fast": "3,5", "slow": "10,20,30"})
    await expect(page.locator("#run-kind")).to_have_text("sweep")
    ranked = page.locator("#sweep-ranked tbody tr")
    await expect(ranked).to_have_count(6)
    await page.wait_for_function("window.__ingenium && window.__ingenium.heatmap === 'heatmap'", timeout=30_000)
    assert await page.locator("#sweep-heatmap .heatmaplayer, #sweep-heatmap .hm").count() >= 1
    sharpe = [await ranked.nth(i).locator("td").nth(5).inner_text() for i in range(6)]
    values = [float(v) if v != "—" else -math.inf for v in sharpe]
    assert values == sorted(values, reverse=True)  # ranked best first by Sharpe
    await screenshot(page, "sweep")

    # A replay of the recorded stream, from the same form.
    await bus.publish_many([bar("acme", c, minutes=i) for i, c in enumerate(CLOSES)])
    replay_id = await launch(page, web.url, {"fast": "2", "slow": "3"}, stream="acme")
    await expect(page.locator("#run-kind")).to_have_text("replay")
    await expect(page.locator("#run-source")).to_contain_text("INGENIUM_DATA[acme]")
    await expect(page.locator("#run-trades tbody tr").first).to_be_visible()
    await page.wait_for_function("document.querySelector('#run-candles .main-svg') !== null", timeout=30_000)
    candles = await page.request.get(web.url + f"/api/v1/runs/{replay_id}/candles")
    assert [float(c) for c in (await candles.json())["close"]] == CLOSES  # drawn from the recorded stream
    await screenshot(page, "replay-report")

    # A backtest of a data file, then both side by side from the history.
    backtest_id = await launch(page, web.url, {"fast": "5", "slow": "20"})
    await page.goto(web.url + "/backtests")
    await page.check(f'input[name="run"][value="{replay_id}"]')
    await page.check(f'input[name="run"][value="{backtest_id}"]')
    await page.click("#compare")
    await page.wait_for_url("**/backtests/compare?*")
    table = page.locator("#compare-stats")
    await expect(table).to_contain_text(replay_id)
    await expect(table).to_contain_text(backtest_id)
    await expect(table.locator('tr[data-stat="sharpe"] td')).to_have_count(3)  # A, B and the difference
    await page.wait_for_function("window.__ingenium && window.__ingenium.compared === 2", timeout=30_000)
    assert await page.locator("#compare-equity .scatterlayer .trace").count() == 4  # equity and drawdown each
    await screenshot(page, "compare")
    assert requests.outside(web.url) == []

    listed = await runs_ls(web.settings)
    assert (listed[sweep_id]["kind"], listed[replay_id]["kind"], listed[backtest_id]["kind"]) == (
        "sweep", "replay", "backtest")
    stats = listed[sweep_id]["stats"]
    assert isinstance(stats, dict) and stats["combinations"] == 6 and len(stats["ranked"]) == 6
    assert listed[sweep_id]["params"] == {"fast": ["3", "5"], "slow": ["10", "20", "30"]}


async def test_command_line_backtests_sweeps_and_replays_are_stored_as_runs(
    db_settings: Settings, bus: JetStreamBus, tmp_path: Path
) -> None:
    assert db_settings.database_url
    await asyncio.to_thread(upgrade, db_settings.database_url)
    env = settings_env(db_settings)
    await bus.publish_many([bar("acme", c, minutes=i) for i, c in enumerate(CLOSES)])

    def ingenium(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ingenium", *args], env=env, capture_output=True, text=True,
                              timeout=300)

    strategy = ["-s", "services.strategies:SmaCross"]
    swept = await asyncio.to_thread(ingenium, "backtest", *strategy, "-d", data_files()[0], "-p", "fast=3,5",
                                    "-p", "slow=20", "--workers", "1", "--out", str(tmp_path / "sweep"))
    assert swept.returncode == 0, swept.stderr
    assert (tmp_path / "sweep" / "sweep.csv").exists()  # the --out directory stays
    replayed = await asyncio.to_thread(ingenium, "replay", *strategy, "-p", "fast=2", "-p", "slow=3",
                                       "--symbols", "acme", "--out", str(tmp_path / "replay"))
    assert replayed.returncode == 0, replayed.stderr
    single = await asyncio.to_thread(ingenium, "backtest", *strategy, "-d", data_files()[0], "-p", "fast=5",
                                     "-p", "slow=20", "--out", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr

    listed = await runs_ls(db_settings)
    by_kind = {r["kind"]: r for r in listed.values()}
    assert set(by_kind) == {"sweep", "replay", "backtest"}
    for done, kind in ((swept, "sweep"), (replayed, "replay"), (single, "backtest")):
        assert f"stored as run {by_kind[kind]['run_id']}" in done.stdout
        assert by_kind[kind]["status"] == "done"
    sweep_stats = by_kind["sweep"]["stats"]
    assert isinstance(sweep_stats, dict) and [r["params"] for r in sweep_stats["ranked"]] != []
    assert sorted(r["params"]["fast"] for r in sweep_stats["ranked"]) == ["3", "5"]
    assert str(by_kind["replay"]["data_source"]).startswith(f"{db_settings.subjects.stream('data')}[acme]")
    replay_stats = by_kind["replay"]["stats"]
    assert isinstance(replay_stats, dict) and replay_stats["fills"] > 0
