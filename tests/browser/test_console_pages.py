"""The console in headless Chromium at 1280×1000 and on a 390×844 phone: every page fits its width (wide tables
scroll inside their own box), a held stock run can be sent anyway and that run pushes, an orders run links
each of its orders to its ledger page, a products preview is reviewed (counts, items old → new, paging, filter)
and a partial run lists its skipped records.

One sandbox, API server and browser for the module (conftest.py; the runs the pages show are made once).
Screenshots of each page at both widths go to tests/artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connector.ledger import LedgerStatus, OrderLedger
from sandbox.stack import ROOT, LocalStack
from tests.browser.conftest import wait_finished
from tests.integration.test_console_pages import rename_products
from tests.integration.test_stock import expected_quantities_now, lnb_stock

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
WIDTHS = {"desktop": (1280, 1000, False), "phone": (390, 844, True)}
RENAMED = 60  # products renamed in Fastmag before the reviewed preview: more than a page of items

# What a page must satisfy at any width: no sideways scrolling of the page, nothing clipped by html/body, and
# each table either within the viewport or inside its own horizontally scrolling box that is.
LAYOUT_PROBLEMS = """
const width = window.innerWidth, problems = [];
const viewport = document.querySelector('meta[name="viewport"]');
if (!viewport || !viewport.content.includes('width=device-width')) problems.push('no viewport meta');
if (document.documentElement.scrollWidth > width)
  problems.push(`page is ${document.documentElement.scrollWidth} px wide in ${width} px`);
for (const element of [document.documentElement, document.body]) {
  const style = getComputedStyle(element);
  if ([style.overflow, style.overflowX, style.overflowY].includes('hidden'))
    problems.push(`overflow hidden on ${element.tagName}`);
}
for (const table of document.querySelectorAll('table')) {
  const box = table.getBoundingClientRect();
  if (box.left >= -0.5 && box.right <= width + 0.5) continue;
  let scroller = table.parentElement;
  const scrolls = (element) => ['auto', 'scroll'].includes(getComputedStyle(element).overflowX);
  while (scroller && !scrolls(scroller)) scroller = scroller.parentElement;
  if (!scroller || scroller.getBoundingClientRect().right > width + 0.5)
    problems.push(`table ${table.id || table.rows[0].textContent} is ${box.width} px wide, not in a scrolling box`);
}
return problems;
"""


def at_width(browser: Any, name: str) -> None:
    width, height, mobile = WIDTHS[name]
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


# A running run's page reloads itself, and a submitted form loads a new page: an element read in between is stale.
def _waiting(browser: Any, timeout: float) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def wait_text(browser: Any, element_id: str, expected: str, timeout: float = 30) -> None:
    from selenium.webdriver.common.by import By

    _waiting(browser, timeout).until(lambda driver: driver.find_element(By.ID, element_id).text == expected)


@pytest.fixture(scope="module")
def runs(stack: LocalStack) -> dict[str, str]:
    """The runs the pages show: an orders run, a products preview, a stock run, a stock push held by the guard
    (half the SKUs zeroed in Fastmag), a products run (partial: a variant without colour is skipped) and the
    preview of 60 products renamed in Fastmag since."""
    orders = stack.invoke("import_orders", stack.event("schedule_orders", execution_id=None, scheduled_time=None))
    preview = stack.invoke("export_products", {"flow": "products", "trigger": "cli", "preview": True})
    stock = stack.invoke("push_stock", stack.event("schedule_stock", execution_id=None, scheduled_time=None))
    stack.fastmag.execute(
        "UPDATE stock SET stock = 0 WHERE barcode IN (SELECT barcode FROM produitsfiches ORDER BY barcode LIMIT 75)"
    )
    held = stack.invoke("push_stock", stack.event("schedule_stock", execution_id=None, scheduled_time=None))
    assert held["status"] == "held"
    partial = stack.invoke("export_products", {"flow": "products", "trigger": "cli"})
    assert partial["status"] == "partial" and partial["counters"]["skipped"] > 0
    rename_products(stack, RENAMED)
    review = stack.invoke("export_products", {"flow": "products", "trigger": "cli", "preview": True})
    return {
        "orders": orders["run_id"],
        "preview": preview["run_id"],
        "stock": stock["run_id"],
        "held": held["run_id"],
        "partial": partial["run_id"],
        "review": review["run_id"],
    }


def test_every_page_fits_a_desktop_and_a_phone(
    stack: LocalStack, runs: dict[str, str], browser: Any, page_url: Callable[[str], str]
) -> None:
    reference = next(OrderLedger(stack.table).with_status(LedgerStatus.EXPORTED)).reference
    pages = {
        "status": "/",
        "confirm-stock": "/exports/stock",
        "run-stock": f"/runs/{runs['stock']}",
        "run-held": f"/runs/{runs['held']}",
        "run-orders": f"/runs/{runs['orders']}",
        "preview": f"/runs/{runs['preview']}",
        "preview-review": f"/runs/{runs['review']}",
        "preview-review-changed": f"/runs/{runs['review']}?change=changed&offset=50",
        "run-partial": f"/runs/{runs['partial']}",
        "ledger": f"/orders/{reference}",
        "history": "/runs?flow=stock",
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for width in WIDTHS:
        at_width(browser, width)
        for name, path in pages.items():
            browser.get(page_url(path))
            found = browser.execute_script(LAYOUT_PROBLEMS)
            # A phone widens its layout viewport to content wider than the screen: that is overflow too.
            inner = browser.execute_script("return window.innerWidth")
            found += (
                [] if inner == WIDTHS[width][0] else [f"laid out {inner} px wide on a {WIDTHS[width][0]} px screen"]
            )
            if found:
                problems[f"{name} at {width}"] = found
            screenshot = SCREENSHOTS / f"{name}-{width}.png"
            browser.save_screenshot(str(screenshot))
            assert screenshot.stat().st_size > 0
    assert problems == {}


def test_an_orders_run_links_each_order_to_its_ledger_page(
    stack: LocalStack, runs: dict[str, str], browser: Any, page_url: Callable[[str], str]
) -> None:
    from selenium.webdriver.common.by import By

    at_width(browser, "phone")
    browser.get(page_url(f"/runs/{runs['orders']}"))
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a.order")}
    ledger = OrderLedger(stack.table)
    exported = {entry.reference: entry for entry in ledger.with_status(LedgerStatus.EXPORTED)}
    assert set(links) == set(exported) and len(links) > 0

    reference, href = sorted(links.items())[0]
    browser.get(href)
    assert browser.find_element(By.ID, "order-status").text == "exported"
    assert browser.find_element(By.ID, "fastmag-number").text == exported[reference].fastmag_number
    assert runs["orders"] in browser.find_element(By.ID, "runs").text


def test_a_held_stock_run_is_sent_anyway_and_the_forced_run_pushes(
    stack: LocalStack, runs: dict[str, str], browser: Any, page_url: Callable[[str], str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    at_width(browser, "phone")
    browser.get(page_url(f"/runs/{runs['held']}"))
    assert "check Fastmag" in browser.find_element(By.ID, "message").text
    assert lnb_stock(stack) != expected_quantities_now(stack)  # the held push sent nothing
    browser.find_element(By.ID, "send-anyway").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("/runs/stock-"))
    WebDriverWait(browser, 10).until(lambda driver: runs["held"] not in driver.current_url)
    assert wait_finished(browser) in {"succeeded", "partial"}

    forced = stack.run_record(browser.current_url.split("/runs/")[1].split("?")[0])
    assert forced["force"] is True and forced["trigger"] == "button"
    assert lnb_stock(stack) == expected_quantities_now(stack)


def test_the_search_box_opens_the_page_of_the_key(browser: Any, page_url: Callable[[str], str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    at_width(browser, "phone")
    browser.get(page_url("/"))
    browser.find_element(By.ID, "key").send_keys(" 3760000115629/&x ")
    browser.find_element(By.CSS_SELECTOR, "#key-search button").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("/keys/"))
    assert browser.current_url == page_url("/keys/3760000115629%2F%26x")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_products_preview_lists_its_items_with_their_counts_and_pages_through_them(
    runs: dict[str, str], browser: Any, page_url: Callable[[str], str], width: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    at_width(browser, width)
    browser.get(page_url(f"/runs/{runs['review']}"))
    counts = browser.find_element(By.ID, "resource-products")
    assert counts.find_element(By.CSS_SELECTOR, "td.new").text == "0"
    assert counts.find_element(By.CSS_SELECTOR, "td.changed").text == str(RENAMED)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#preview-items tr.item")) == 50
    first_page = {row.text for row in browser.find_elements(By.CSS_SELECTOR, "#preview-items tr.item")}
    assert browser.execute_script(LAYOUT_PROBLEMS) == []

    # Only the changed ones, through the page's own filter form; then the next page keeps the filter.
    Select(browser.find_element(By.ID, "preview-change")).select_by_value("changed")
    browser.find_element(By.CSS_SELECTOR, "#preview-filter button").click()
    wait_text(browser, "preview-shown", f"1–50 of {RENAMED}")
    browser.find_element(By.ID, "preview-next").click()
    wait_text(browser, "preview-shown", f"51–{RENAMED} of {RENAMED}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#preview-items tr.item")
    assert len(rows) == RENAMED - 50 and not {row.text for row in rows} & first_page
    assert all(row.find_element(By.CSS_SELECTOR, "td.changed") for row in rows)
    assert all(" → " in row.find_elements(By.TAG_NAME, "td")[4].text for row in rows)  # old → new
    assert "change=changed" in browser.current_url
    assert browser.execute_script(LAYOUT_PROBLEMS) == []
    browser.save_screenshot(str(SCREENSHOTS / f"preview-review-page-2-{width}.png"))


@pytest.mark.parametrize("width", WIDTHS)
def test_the_page_of_a_partial_run_lists_its_skipped_records(
    stack: LocalStack, runs: dict[str, str], browser: Any, page_url: Callable[[str], str], width: str
) -> None:
    from selenium.webdriver.common.by import By

    at_width(browser, width)
    browser.get(page_url(f"/runs/{runs['partial']}"))
    assert browser.find_element(By.ID, "status").get_attribute("data-status") == "partial"
    skipped = [
        row.find_elements(By.TAG_NAME, "td")
        for row in browser.find_elements(By.CSS_SELECTOR, "#records-table tr.record")
        if row.find_element(By.CSS_SELECTOR, "td:nth-child(2)").get_attribute("class") == "skipped"
    ]
    assert len(skipped) == stack.run_record(runs["partial"])["counters"]["skipped"]
    assert all(cells[3].text for cells in skipped)  # each with its reason
    assert browser.find_element(By.ID, "log-csv").get_attribute("href").endswith(f"/runs/{runs['partial']}/log.csv")
    assert browser.execute_script(LAYOUT_PROBLEMS) == []
