"""Transactions and Portfolio in a real Chromium against a real stack: a fill appears without a reload."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from ingenium.bus import JetStreamBus
from ingenium.events import Side
from ingenium.testing import bar, fill, order
from tests.web.conftest import WebStack, open_page, screenshot


async def test_a_published_fill_appears_in_transactions_without_a_reload(
    web: WebStack, bus: JetStreamBus, browser: Browser
) -> None:
    first = order("aapl", Side.BUY, "10", strategy_id="sma")
    await bus.publish(bar("aapl", "101"))
    await bus.publish(first)
    await bus.publish(fill(first, "10", "100", commission="1"))
    page, requests = await open_page(browser)
    await page.goto(web.url + "/transactions")
    await expect(page.locator("#history tbody tr[data-exec]")).to_have_count(1)
    await page.evaluate("window.__marker = 'same page'")

    second = order("msft", Side.BUY, "20", strategy_id="rsi")
    await bus.publish(second)
    await bus.publish(fill(second, "5", "50", cum_quantity="5"))
    await expect(page.locator("#history tbody tr[data-exec]")).to_have_count(2)
    assert await page.evaluate("window.__marker") == "same page"  # updated live, not reloaded
    await expect(page.locator("#history tbody tr").first).to_contain_text("MSFT")
    await screenshot(page, "transactions")

    # Filters and sorting are SQL queries; the export is the filtered query.
    await page.fill('#filters input[name="symbol"]', "aapl")
    await page.click('#filters button[type="submit"]')  # the real form: blank fields are sent empty
    await expect(page.locator("#history tbody tr[data-exec]")).to_have_count(1)
    href = await page.locator("#export").get_attribute("href")
    assert href is not None and "symbol=aapl" in href
    csv = await page.request.get(web.url + href)
    lines = (await csv.text()).strip().splitlines()
    assert lines[0].startswith("exec_id,executed_at") and len(lines) == 2 and ",aapl," in lines[1]

    # The partially filled order's page: its fill, its audit trail, and cancel (tests/web/test_cancel.py uses it).
    await page.goto(web.url + f"/orders/{second.id}")
    await expect(page.locator("#order-status")).to_have_text("partially filled")
    await expect(page.locator("#order-fills tbody tr")).to_have_count(1)
    await expect(page.locator("#audit tbody tr")).to_have_count(2)
    await expect(page.locator("#cancel")).to_be_enabled()
    await expect(page.locator("#cancel-note")).to_contain_text("ingenium.portfolio.cancel")
    await bus.publish(fill(second, "15", "51", cum_quantity="20"))
    await expect(page.locator("#order-status")).to_have_text("filled")
    await expect(page.locator("#order-fills tbody tr")).to_have_count(2)
    await screenshot(page, "order")

    # Portfolio: AAPL marked at the latest bar (101): 10 × (101 − 100) unrealized.
    await page.goto(web.url + "/portfolio")
    row = page.locator('#positions tr[data-symbol="aapl"]')
    await expect(row).to_contain_text("101.0000")
    await expect(row).to_contain_text("10.00")
    await page.wait_for_function("document.querySelector('#equity-chart .main-svg') !== null")
    await screenshot(page, "portfolio")
    assert requests.outside(web.url) == []
