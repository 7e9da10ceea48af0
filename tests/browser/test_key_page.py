"""A key's page in headless Chromium on a 390 px phone: the status page's search opens it, its recent events are
fetched by its script from the key's history (the stock run's `record.sent`), and it fits the phone's width."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.stack import LocalStack
from tests.browser.test_console_pages import LAYOUT_PROBLEMS, WIDTHS, at_width

pytestmark = pytest.mark.browser


def test_the_search_finds_an_eans_page_with_its_events_and_it_fits_a_phone(
    stack: LocalStack, browser: Any, page_url: Callable[[str], str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    pushed = stack.invoke("push_stock", stack.event("schedule_stock", execution_id=None, scheduled_time=None))
    assert pushed["status"] in {"succeeded", "partial"}
    held = sorted(stack.lnb.inventory_ean.items())
    ean, quantity = next((ean, row["in_stock"]) for ean, row in held if row["in_stock"])

    at_width(browser, "phone")
    browser.get(page_url("/"))
    browser.find_element(By.ID, "key").send_keys(ean)
    browser.find_element(By.CSS_SELECTOR, "#key-search button").click()
    WebDriverWait(browser, 30).until(expected_conditions.url_contains(f"/keys/{ean}"))
    WebDriverWait(browser, 30).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#events tr.event"))

    assert browser.find_element(By.ID, "kind").get_attribute("data-kind") == "ean"
    findings = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#findings li")]
    assert f"Le New Black holds {quantity}, as Fastmag gives now" in findings
    (event,) = browser.find_elements(By.CSS_SELECTOR, "#events tr.event")
    cells = [cell.text for cell in event.find_elements(By.TAG_NAME, "td")]
    assert cells[1:4] == ["stock", "record.sent", "sent"] and cells[-1] == str(quantity)
    assert browser.find_element(By.CSS_SELECTOR, "#events .state").text == ""

    assert browser.execute_script(LAYOUT_PROBLEMS) == []
    assert browser.execute_script("return window.innerWidth") == WIDTHS["phone"][0]
