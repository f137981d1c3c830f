"""Cancel from the browser: an open GTC limit order resting at the paper executor (a real process) is canceled by
the operator's button, and the order page shows it canceled without a reload."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from ingenium.bus import JetStreamBus
from ingenium.consumers import takes
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderType, TimeInForce
from ingenium.testing import bar, eventually, order, spawn, stream_events
from ledger import history, queries
from tests.services.live import fresh
from tests.web.conftest import WebStack, open_page, screenshot

EXECUTOR = ["run", "services.executor.paper:PaperExecutor", "--name", "paper"]


async def test_an_open_order_is_canceled_from_the_browser(
    web: WebStack, bus: JetStreamBus, browser: Browser, tmp_path: Path
) -> None:
    settings = web.settings
    assert settings.database_url
    url = settings.database_url
    executor = spawn(EXECUTOR, settings, log=tmp_path / "executor.log")
    try:
        await bus.publish(bar("acme", "100", volume=1000))

        async def listening() -> bool:
            try:
                info = await bus.js.consumer_info(settings.subjects.stream("order"), "paper-order")
            except Exception:
                return False
            return takes(info.config, settings.subjects.cancel)

        await eventually(listening, timeout=30)
        resting = fresh(order("acme", quantity="10", order_type=OrderType.LIMIT, limit_price="90",
                              strategy_id="sma")).model_copy(update={"time_in_force": TimeInForce.GTC})
        await bus.publish(resting)  # a buy limit under the market: accepted, it rests unfilled

        async def accepted() -> bool:
            row = await history.order(url, resting.id)
            answers = await stream_events(bus.nc, settings, "execution")
            return row is not None and row["status"] == "new" and any(
                isinstance(e, ExecutionEvent) and e.update is ExecutionUpdate.ACCEPTED for e in answers)

        await eventually(accepted, timeout=30)

        page, requests = await open_page(browser)
        await page.goto(web.url + f"/orders/{resting.id}")
        await expect(page.locator("#order-status")).to_have_text("new")
        await page.evaluate("window.__marker = 'same page'")
        async with page.expect_response(f"**/api/v1/orders/{resting.id}/cancel") as clicked:
            await page.locator("#cancel").click()
        answer = await clicked.value
        assert answer.status == 202 and (await answer.json())["order_id"] == resting.id
        # The toast says the request went out, then the executor's answer (whichever came last).
        await expect(page.locator("#toast")).to_contain_text(re.compile("Cancel requested|order canceled: ACME"))
        await expect(page.locator("#order-status")).to_have_text("canceled", timeout=20_000)
        await expect(page.locator("#cancels tbody tr")).to_have_count(1)
        await expect(page.locator("#cancels")).to_contain_text("web")
        assert await page.evaluate("window.__marker") == "same page"  # updated live, not reloaded
        await expect(page.locator("#cancel")).to_have_count(0)  # a final order has no cancel button
        await screenshot(page, "order-canceled")
        assert requests.outside(web.url) == []

        executions = [e for e in await stream_events(bus.nc, settings, "execution") if isinstance(e, ExecutionEvent)]
        assert [e.update for e in executions] == [ExecutionUpdate.ACCEPTED, ExecutionUpdate.CANCELED]
        [request] = await queries.cancels(url, order_id=resting.id)
        assert (request.requested_by, request.status) == ("web", "canceled")
        assert request.cancel_id == executions[1].cancel_id

        # Once final, a second cancel is refused by the UI (409), and without the CSRF token it is refused (403).
        async with httpx.AsyncClient(base_url=web.url) as client:
            again = await client.post(f"/api/v1/orders/{resting.id}/cancel")
            assert again.status_code == 403 and "CSRF" in again.json()["detail"]
        token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
        final = await page.request.post(web.url + f"/api/v1/orders/{resting.id}/cancel",
                                        headers={"X-CSRF-Token": token or ""})
        assert final.status == 409 and "canceled already" in (await final.json())["detail"]
    finally:
        if executor.poll() is None:
            executor.send_signal(signal.SIGTERM)
            executor.wait(20)
