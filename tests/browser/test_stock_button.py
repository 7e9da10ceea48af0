"""An operator in a browser: the Fastmag stock link → confirm → the run's page shows it finished → the status
page on the session Confirm opened → its stock button opens the confirm page again.

Its own sandbox (conftest.py, one per module): the counts compare with a fresh simulator. The screenshot lands
in tests/artifacts/ (git-ignored). It signs in as a user does, from the link: no `page_url`.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.credentials import SANDBOX_LINK_CODES
from sandbox.stack import ROOT, LocalStack
from tests.browser.conftest import wait_finished

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "tests" / "artifacts"
STOCK_LINK_CODE = SANDBOX_LINK_CODES["stock"]


def test_stock_button_runs_and_the_page_shows_the_finished_run(stack: LocalStack, browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/exports/stock?code={STOCK_LINK_CODE}")  # the Fastmag button's link
    WebDriverWait(browser, 10).until(expected_conditions.element_to_be_clickable((By.ID, "confirm")))
    assert browser.find_element(By.ID, "preview").is_selected() is False
    assert browser.find_element(By.ID, "force").is_selected() is False
    browser.find_element(By.ID, "confirm").click()

    WebDriverWait(browser, 10).until(expected_conditions.url_contains("/runs/stock-"))
    assert wait_finished(browser) in {"succeeded", "partial"}
    run_id = browser.current_url.split("/runs/")[1].split("?")[0]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "stock-run.png"))

    accepted = int(browser.find_element(By.ID, "counter-accepted").text)
    record = stack.run_record(run_id)
    assert record["trigger"] == "button"
    assert record["force"] is False
    assert accepted == int(record["counters"]["accepted"]) == len(stack.lnb.inventory_ean) > 0
    assert int(browser.find_element(By.ID, "counter-read").text) == int(record["counters"]["read"])
    assert (ARTIFACTS / "stock-run.png").stat().st_size > 0

    browser.get(f"{server}/")  # the session cookie opened at Confirm
    assert browser.title == "Connector status"
    assert run_id in browser.find_element(By.ID, "flow-stock").text
    browser.find_element(By.ID, "export-stock").click()
    WebDriverWait(browser, 10).until(expected_conditions.element_to_be_clickable((By.ID, "confirm")))
    assert browser.current_url == f"{server}/exports/stock"
