"""``ingenium demo`` ends by saying how to open the web UI on its ledger, and the line it prints works: run as
printed (with a NATS server up, as ``ingenium up`` would give), it serves the demo's orders and fills."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, expect

from ingenium.config import Settings
from ingenium.testing import settings_env
from tests.web.conftest import free_port, open_page, screenshot


def serve(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run the printed line in a shell, as a user pastes it."""
    with log.open("ab") as out:
        return subprocess.Popen(["bash", "-c", command], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.mark.timeout(600)
async def test_the_demo_prints_a_web_command_that_opens_its_ledger(
    db_settings: Settings, postgres_server: str, browser: Browser, tmp_path: Path
) -> None:
    env = settings_env(db_settings)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `ingenium` as installed
    web: subprocess.Popen[bytes] | None = None
    try:
        demo = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "ingenium", "demo"], env=env,
                                       capture_output=True, text=True, timeout=500, check=False)
        assert demo.returncode == 0, demo.stderr
        lines = demo.stdout.rstrip().splitlines()
        assert "Open the demo's ledger in the web UI" in lines[-2] and "ingenium up" in lines[-2]
        command = lines[-1].strip()
        assert command.startswith("INGENIUM_NAMESPACE=demo ") and command.endswith(" ingenium web")

        port = free_port()
        web = await asyncio.to_thread(serve, command, {**env, "INGENIUM_WEB_PORT": str(port)}, tmp_path / "web.log")
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(300):
                assert web.poll() is None, (tmp_path / "web.log").read_text()
                try:
                    orders = await client.get("/api/v1/orders", params={"limit": 1})
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError((tmp_path / "web.log").read_text())
            fills = (await client.get("/api/v1/fills", params={"limit": 1})).json()["total"]
        summary = next(line for line in lines if " orders (" in line and " fills, of which " in line)
        assert summary.startswith(f"{orders.json()['total']} orders") and f"; {fills} fills" in summary

        page, requests = await open_page(browser)
        await page.goto(url + "/transactions")
        await expect(page.locator("#history")).to_have_attribute("data-total", str(fills))
        await screenshot(page, "demo-transactions")
        assert requests.outside(url) == []
    finally:
        if web is not None and web.poll() is None:
            os.killpg(web.pid, 15)
            web.wait(10)
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute('DROP DATABASE IF EXISTS "ingenium_demo" WITH (FORCE)')
        finally:
            await admin.close()

