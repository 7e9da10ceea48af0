"""The browser tests' fixtures: per module, one sandbox, its API server and one headless Chromium.

Chromium and chromedriver come from the Debian packages (make browser-deps); selenium is told where chromedriver
is, so it downloads nothing. How a browser is let in is `page_url`, in one place: with the session cookie that
Confirm opens after a Fastmag link, so no URL a test opens carries a credential.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.access import ApiAccess
from connector.api.auth import SESSION_COOKIE, link_caller, new_session, session_cookie
from sandbox.credentials import SANDBOX_API_ACCESS, SANDBOX_LINK_CODES
from sandbox.serve import local_api
from sandbox.stack import LocalStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# The flow of the session the tests browse with: every page POST they make (Confirm, Send anyway) is a stock run.
SIGNED_IN_FLOW = "stock"
# Retries wait no real time.
NO_WAIT = {"lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0}}
FINISHED = frozenset({"succeeded", "partial", "failed", "held", "skipped"})
# Read in the page in one step: a running run's page reloads itself every 2 s, and an element found before a
# reload and read after it fails in several ways (stale element, "node does not belong to the document").
_STATUS_SCRIPT = "const status = document.getElementById('status'); return status ? status.dataset.status : null;"


def run_status(driver: Any) -> str | None:
    """The run page's status, or None while no page (or one mid-reload) shows it."""
    from selenium.common.exceptions import WebDriverException

    try:
        status = driver.execute_script(_STATUS_SCRIPT)
    except WebDriverException:  # the document went away while the script ran: read again at the next poll
        return None
    return None if status is None else str(status)


def wait_finished(browser: Any, timeout: float = 60) -> str:
    """Wait until the run page shows an ended run; that status."""
    from selenium.webdriver.support.ui import WebDriverWait

    def finished(driver: Any) -> str | bool:
        status = run_status(driver)
        return status if status in FINISHED else False

    return str(WebDriverWait(browser, timeout).until(finished))


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(settings_document=NO_WAIT) as local:
        yield local


@pytest.fixture(scope="module")
def server(stack: LocalStack) -> Iterator[str]:
    with local_api(stack) as url:
        yield url


@pytest.fixture(scope="module")
def page_url(server: str, browser: Any) -> Callable[[str], str]:
    """How a browser is let in (the one place to change when the sign-in changes): the session a user holds after
    a Fastmag stock link and its Confirm, minted by the API's own code with the cookie's own attributes rather
    than by a Confirm that would start a stock run the tests do not count. The URLs carry no credential; the
    link → Confirm → session path itself is test_stock_button's and test_browser_links'."""
    access = ApiAccess.model_validate(SANDBOX_API_ACCESS)
    caller = link_caller(access, SANDBOX_LINK_CODES[SIGNED_IN_FLOW], SIGNED_IN_FLOW)
    cookie = session_cookie(new_session(access, caller, time.time()), path="/", max_age=access.session_minutes * 60)
    assert cookie.same_site is not None
    browser.get(f"{server}/openapi.json")  # a page of the origin, so that the cookie can be set on it
    browser.add_cookie(
        {
            "name": SESSION_COOKIE,
            "value": cookie.value,
            "path": cookie.path,
            "secure": cookie.secure,
            "httpOnly": cookie.http_only,
            "sameSite": cookie.same_site.value,
        }
    )

    def url(path: str) -> str:
        return f"{server}{path}"

    return url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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
        # The pages' words follow Accept-Language: the tests read the English ones.
        options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()
