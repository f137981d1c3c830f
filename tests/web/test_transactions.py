"""Transactions and Portfolio in a real Chromium against a real stack: a fill appears without a reload."""

from __future__ import annotations

from decimal import Decimal

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

    # Portfolio: AAPL marked at the latest bar (101): 10 × (101 − 100) unrealized, in total and for its strategy.
    await page.goto(web.url + "/portfolio")
    row = page.locator('#positions tr[data-symbol="aapl"]')
    await expect(row).to_contain_text("101.0000")
    await expect(row).to_contain_text("10.00")
    sma = page.locator('#strategies tr[data-strategy="sma"]')
    await expect(sma.locator("td").nth(5)).to_have_text("10.00")  # unrealized
    await expect(sma.locator("td").nth(7)).to_have_text("9.00")  # net of the 1.00 commission
    # MSFT has no recorded bar: it is marked at its last trade (51), 20 × 51 − (250 + 765) = 5 unrealized.
    await expect(page.locator('#positions tr[data-symbol="msft"]')).to_contain_text("51.0000")
    await expect(page.locator('#strategies tr[data-strategy="rsi"] td').nth(5)).to_have_text("5.00")
    await page.wait_for_function("window.__ingenium && window.__ingenium.equity !== undefined")
    assert sorted(await page.evaluate("window.__ingenium.equity.strategies")) == ["rsi", "sma"]
    await page.evaluate("window.__marker = 'same page'")

    # A new bar moves the marks live: AAPL at 103, so 30 unrealized; the equity curve's last point follows.
    await bus.publish(bar("aapl", "103", minutes=1))
    await expect(row).to_contain_text("103.0000", timeout=15_000)
    await expect(sma.locator("td").nth(5)).to_have_text("30.00")
    assert await page.evaluate("window.__marker") == "same page"
    start = Decimal((await (await page.request.get(web.url + "/api/v1/portfolio")).json())["starting_cash"])
    # Cash start − 1001 − 250 − 765; AAPL 10 × 103, MSFT 20 at its last trade (51: no MSFT bar was recorded).
    await page.wait_for_function(f"window.__ingenium.equity.total.slice(-1)[0] == '{start + 34}'", timeout=15_000)
    await expect(page.locator("#equity")).to_have_text(f"{start + 34:,.2f}")  # the figures and the curve agree
    curves = await (await page.request.get(web.url + "/api/v1/portfolio/equity")).json()
    assert [Decimal(v) for v in curves["total"]["equity"]] == [start - 1001 + 1000, start - 1251 + 1250,
                                                              start - 2016 + 2020, start + 34]
    await page.wait_for_function("document.querySelector('#strategy-chart .main-svg') !== null")
    await screenshot(page, "portfolio")
    assert requests.outside(web.url) == []
