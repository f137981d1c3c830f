"""Auth against a real ``ingenium web`` with a password: login page, a session that survives refresh, CSRF on
actions, rate-limited failed logins; without a password it listens on 127.0.0.1 only."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
from playwright.async_api import Browser, expect

from ingenium.config import Settings
from tests.web.conftest import open_page, screenshot, start_web, stop


async def test_login_session_csrf_and_rate_limit(db_settings: Settings, browser: Browser, tmp_path: Path) -> None:
    stack = await start_web(db_settings, tmp_path, password="s3cret-pass", login_failures="3")
    try:
        page, requests = await open_page(browser)
        await page.goto(stack.url + "/transactions")
        await expect(page).to_have_url(stack.url + "/login?next=/transactions")
        await screenshot(page, "login")
        await page.fill('input[name="password"]', "s3cret-pass")
        await page.click('button[type="submit"]')
        await expect(page).to_have_url(stack.url + "/transactions")
        await page.reload()
        await expect(page).to_have_url(stack.url + "/transactions")  # still logged in after a refresh
        await expect(page.locator(".role")).to_have_text("operator")

        # An action with the session but without the CSRF token is refused; with it, it reaches the handler.
        no_token = await page.request.post(stack.url + "/api/v1/deadletters/1/republish")
        assert no_token.status == 403 and "CSRF" in (await no_token.json())["detail"]
        token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
        with_token = await page.request.post(stack.url + "/api/v1/deadletters/1/republish",
                                             headers={"X-CSRF-Token": token or ""})
        assert with_token.status == 404  # past auth and CSRF: there is no dead letter 1
        assert requests.outside(stack.url) == []

        async with httpx.AsyncClient(base_url=stack.url) as anonymous:
            # Without a session: reads answer 401, actions are refused.
            assert (await anonymous.get("/api/v1/orders")).status_code == 401
            assert (await anonymous.post("/api/v1/deadletters/1/republish")).status_code == 401
            # Failed logins are limited: the fourth attempt within the window is refused before checking.
            login = await anonymous.get("/login")
            csrf = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            codes = [(await anonymous.post("/login", data={"password": "wrong", "csrf": csrf})).status_code
                     for _ in range(4)]
            assert codes == [401, 401, 401, 429]
            refused = await anonymous.post("/login", data={"password": "s3cret-pass", "csrf": csrf})
            assert refused.status_code == 429 and "Retry-After" in refused.headers
    finally:
        stop(stack)


async def test_without_a_password_it_listens_on_loopback_only(db_settings: Settings, tmp_path: Path) -> None:
    stack = await start_web(db_settings, tmp_path)
    try:
        assert "listening on 127.0.0.1 only" in (tmp_path / "web.log").read_text()
        web = psutil.Process(stack.processes["web"].pid)
        listening = [c.laddr for c in web.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening)
    finally:
        stop(stack)
