"""Components, Backtests and Streams in a real Chromium against a real stack; ``ingenium runs ls``; the API
checked against its own OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from ingenium.bus import JetStreamBus
from ingenium.testing import settings_env, spawn
from ledger.roles import reader_url
from tests.web.conftest import WebStack, open_page, screenshot


async def test_components_backtests_streams(web: WebStack, bus: JetStreamBus, browser: Browser) -> None:
    page, requests = await open_page(browser)
    env = settings_env(web.settings)

    # Components: the ledger is there; a real strategy process appears, and disappears when killed.
    strategy = spawn(["run", "services.strategies:SmaCross", "--name", "sma-live", "--symbols", "aapl",
                      "-p", "fast=3", "-p", "slow=7"], web.settings)
    try:
        await page.goto(web.url + "/components")
        await expect(page.locator('tr[data-component="ledger"]').first).to_be_visible()
        row = page.locator('tr[data-component="sma-live"]').first
        await expect(row).to_be_visible(timeout=30_000)
        await expect(row).to_contain_text("fast=3")
        await expect(row).to_contain_text("strategy")
        await screenshot(page, "components")
        strategy.send_signal(signal.SIGKILL)
        strategy.wait(10)
        await expect(page.locator('tr[data-component="sma-live"]')).to_have_count(0, timeout=10_000)
    finally:
        if strategy.poll() is None:
            strategy.kill()

    # Backtests: the form launches a worker; progress is live; the report shows statistics, charts and trades.
    await page.goto(web.url + "/backtests")
    await page.select_option("#strategy", "services.strategies:SmaCross")
    await page.fill('input[name="param.fast"]', "5")
    await page.fill('input[name="param.slow"]', "20")
    await page.fill('input[name="commission"]', "0.01")
    await screenshot(page, "backtests-form")
    await page.click("#launch")
    await page.wait_for_url("**/backtests/run-*")
    run_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("#run-stats")).to_be_visible(timeout=60_000)
    await expect(page.locator("#run-status")).to_have_text("done")
    await expect(page.locator("#run-trades tbody tr").first).to_be_visible()
    await page.wait_for_function("document.querySelector('#run-candles .main-svg') !== null", timeout=30_000)
    # The fills of the chosen symbol are marked on its candles.
    await page.wait_for_function("document.querySelectorAll('#run-candles .scatterlayer .point').length > 0",
                                 timeout=30_000)
    await screenshot(page, "backtest-report")
    await page.goto(web.url + "/backtests")
    await expect(page.locator("#runs")).to_contain_text(run_id)
    await screenshot(page, "backtests")

    # Runs are records: `ingenium runs ls` lists it with its statistics.
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "ingenium", "runs", "ls", "--format", "json"],
                                  env=env, capture_output=True, text=True, timeout=120)
    listed = {r["run_id"]: r for r in json.loads(out.stdout)}
    assert listed[run_id]["status"] == "done" and listed[run_id]["params"] == {"fast": "5", "slow": "20"}
    assert listed[run_id]["stats"]["fills"] > 0

    # Streams: a malformed execution is dead-lettered by the ledger; the browser shows why; republish it.
    await bus.js.publish(web.settings.subjects.execution, b'{"not": "an execution"}',
                         headers={"Nats-Msg-Id": "broken-1"})
    await page.goto(web.url + "/streams")
    for _ in range(50):
        if await page.locator("#deadletters tbody tr").count():
            break
        await asyncio.sleep(0.2)
        await page.reload()
    letter = page.locator("#deadletters tbody tr").first
    await expect(letter).to_contain_text("ledger")
    await expect(letter).to_contain_text("INGENIUM_EXECUTIONS")
    await expect(page.locator("#streams")).to_contain_text("INGENIUM_DEADLETTER")
    await screenshot(page, "streams")
    before = (await bus.js.stream_info(web.settings.subjects.stream("execution"))).state.last_seq
    await letter.locator("button").click()
    await expect(page.locator("#republished")).to_be_visible()
    after = await bus.js.stream_info(web.settings.subjects.stream("execution"))
    assert after.state.last_seq == before + 1
    republished = await bus.js.get_msg(web.settings.subjects.stream("execution"), after.state.last_seq)
    assert republished.data == b'{"not": "an execution"}'

    assert requests.outside(web.url) == []


async def test_the_reader_role_cannot_write(web: WebStack) -> None:
    assert web.settings.database_url
    conn = await asyncpg.connect(reader_url(web.settings.database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM ledger_orders") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM ledger_orders")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("INSERT INTO runs (run_id) VALUES ('x')")
    finally:
        await conn.close()


async def test_the_api_matches_its_openapi_document(web: WebStack, tmp_path: Path) -> None:
    """Schemathesis generates requests from /api/v1/openapi.json and checks every answer against it."""
    command = [sys.executable, "-m", "schemathesis.cli", "run", web.url + "/api/v1/openapi.json",
               "--checks", "all", "--max-examples", "15", "--phases", "examples,coverage,fuzzing",
               "--exclude-path", "/api/v1/events", "--request-timeout", "20", "--workers", "1"]
    out = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=170,
                                  cwd=tmp_path)  # its cache stays out of the repository
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
