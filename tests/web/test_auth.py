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


async def test_bearer_token_and_read_only_viewer(db_settings: Settings, browser: Browser, tmp_path: Path) -> None:
    """``INGENIUM_WEB_TOKEN`` alone protects the UI: API clients send it as a bearer token (no CSRF: no cookie),
    a browser logs in with it; a viewer reads but every action is refused; after logging out, nothing is allowed."""
    stack = await start_web(db_settings, tmp_path, token="t0ken-for-scripts", viewer_password="just-looking")
    try:
        assert "listening on 127.0.0.1 only" not in (tmp_path / "web.log").read_text()
        async with httpx.AsyncClient(base_url=stack.url) as client:
            assert (await client.get("/api/v1/orders")).status_code == 401
            wrong = {"Authorization": "Bearer not-the-token"}
            assert (await client.get("/api/v1/orders", headers=wrong)).status_code == 401
            assert (await client.post("/api/v1/deadletters/1/republish", headers=wrong)).status_code == 401
            bearer = {"Authorization": "Bearer t0ken-for-scripts"}
            listed = await client.get("/api/v1/orders", headers=bearer)
            assert listed.status_code == 200 and listed.json()["total"] == 0
            # An action with the bearer token needs no CSRF token: it reaches the handler (no dead letter 1).
            acted = await client.post("/api/v1/deadletters/1/republish", headers=bearer)
            assert acted.status_code == 404, acted.text

        # The viewer: logged in across a refresh, reads, and is refused every action, in the page and the API.
        page, requests = await open_page(browser)
        await page.goto(stack.url + "/streams")
        await page.fill('input[name="password"]', "just-looking")
        await page.click('button[type="submit"]')
        await expect(page).to_have_url(stack.url + "/streams")
        await page.reload()
        await expect(page.locator(".role")).to_have_text("viewer")
        await page.goto(stack.url + "/backtests")
        token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
        refused = await page.request.post(stack.url + "/api/v1/deadletters/1/republish",
                                          headers={"X-CSRF-Token": token or ""})
        assert refused.status == 403 and "read-only" in (await refused.json())["detail"]
        launch = await page.request.post(stack.url + "/backtests", form={"csrf": token or "", "strategy": "x"})
        assert launch.status == 403

        # Logged out, the same browser is refused: pages go to the login, actions answer 401.
        await page.locator("form[action='/logout'] button").click()
        await expect(page).to_have_url(stack.url + "/login")
        after = await page.request.post(stack.url + "/api/v1/deadletters/1/republish",
                                        headers={"X-CSRF-Token": token or ""})
        assert after.status == 401
        await page.goto(stack.url + "/portfolio")
        await expect(page).to_have_url(stack.url + "/login?next=/portfolio")

        # The operator logs in with the token in a fresh browser context.
        operator, _ = await open_page(browser)
        await operator.goto(stack.url + "/login")
        await operator.fill('input[name="password"]', "t0ken-for-scripts")
        await operator.click('button[type="submit"]')
        await operator.reload()
        await expect(operator.locator(".role")).to_have_text("operator")
        assert requests.outside(stack.url) == []
    finally:
        stop(stack)
