"""An operator in a browser: the Fastmag stock link → confirm → the run's page shows it finished → status page.

Headless Chromium and chromedriver come from the Debian packages (make browser-deps); selenium is told where
chromedriver is, so it downloads nothing. The screenshot lands in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.credentials import SANDBOX_LINK_CODES
from sandbox.serve import local_api
from sandbox.stack import ROOT, LocalStack

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "tests" / "artifacts"
STOCK_LINK_CODE = SANDBOX_LINK_CODES["stock"]


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("headless Chromium is missing: run `make browser-deps` (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1280,1000",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def test_stock_button_runs_and_the_page_shows_the_finished_run(stack: LocalStack, browser: object) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    with local_api(stack) as url:
        browser.get(f"{url}/exports/stock?code={STOCK_LINK_CODE}")  # the Fastmag button's link
        WebDriverWait(browser, 10).until(expected_conditions.element_to_be_clickable((By.ID, "confirm")))
        assert browser.find_element(By.ID, "preview").is_selected() is False
        browser.find_element(By.ID, "confirm").click()

        WebDriverWait(browser, 10).until(expected_conditions.url_contains("/runs/stock-"))
        # The page refreshes itself every 2 s until the run has ended (an element read mid-reload goes stale).
        WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda driver: driver.find_element(By.ID, "status").text in {"succeeded", "partial"}
        )
        run_id = browser.current_url.split("/runs/")[1].split("?")[0]
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "stock-run.png"))

        accepted = int(browser.find_element(By.ID, "counter-accepted").text)
        record = stack.run_record(run_id)
        assert record["trigger"] == "button"
        assert accepted == int(record["counters"]["accepted"]) == len(stack.lnb.inventory_ean) > 0
        assert int(browser.find_element(By.ID, "counter-read").text) == int(record["counters"]["read"])
        assert (ARTIFACTS / "stock-run.png").stat().st_size > 0

        browser.get(f"{url}/")  # the session cookie opened at Confirm
        assert browser.title == "Connector status"
        assert run_id in browser.find_element(By.ID, "flow-stock").text
