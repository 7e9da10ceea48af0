"""The browser tests' fixtures: per module, one sandbox, its API server and one headless Chromium.

Chromium and chromedriver come from the Debian packages (make browser-deps); selenium is told where chromedriver
is, so it downloads nothing. How a browser is let in is `page_url`, in one place.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.serve import local_api
from sandbox.stack import LocalStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOKEN = "sandbox-button-token"
# Retries wait no real time.
NO_WAIT = {"lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0}}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(settings_document=NO_WAIT) as local:
        yield local


@pytest.fixture(scope="module")
def server(stack: LocalStack) -> Iterator[str]:
    with local_api(stack) as url:
        yield url


@pytest.fixture(scope="module")
def page_url(server: str) -> Callable[[str], str]:
    """How a browser is let in: the button token as a query parameter, as the Fastmag buttons do (the one place
    to change when the sign-in changes)."""

    def url(path: str) -> str:
        return f"{server}{path}{'&' if '?' in path else '?'}token={TOKEN}"

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
