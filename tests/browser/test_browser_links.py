"""The Fastmag links in a browser, and every URL the pages and buttons made the gateway see.

From the stock button's link (`/exports/stock?code=<link code>`): Confirm starts the run and opens a session, the
run page refreshes on the cookie, the status page opens without any credential in its URL, a preview is applied
from its page with the session's CSRF token. Then: nothing recorded a token, a session or (past the first
request) the link code; a link code alone cannot start anything; refused links and ended sessions read a page that
says what to do, in French for a French browser; every page's scripts ran under its Content-Security-Policy.

The module's sandbox and browser are shared (conftest.py): each test starts as a first visitor (`visitor`: no
cookie, English) and counts only the runs it made.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from connector.access import ApiAccess
from connector.api.auth import SESSION_COOKIE, link_caller, new_session
from connector.runs import RunRecord, RunStore
from sandbox.credentials import SANDBOX_API_ACCESS, SANDBOX_API_TOKEN, SANDBOX_LINK_CODES
from sandbox.serve import LocalInvoker, local_api
from sandbox.stack import LocalStack
from tests.browser.conftest import wait_finished

pytestmark = pytest.mark.browser
STOCK_CODE = SANDBOX_LINK_CODES["stock"]


def _stock_runs(stack: LocalStack) -> dict[str, RunRecord]:
    """The stock runs so far (the module's sandbox is shared: a test counts the ones it made)."""
    return {run.run_id: run for run in RunStore(stack.table).list("stock", limit=100)[0]}


def _speaks(browser: Any, language: str) -> None:
    browser.execute_cdp_cmd(
        "Network.setUserAgentOverride",
        {"userAgent": browser.execute_script("return navigator.userAgent"), "acceptLanguage": language},
    )


@pytest.fixture
def visitor(browser: Any, server: str) -> Any:
    """The module's browser as a first visitor: no cookie for the sandbox's host (cookies ignore the port, so
    this covers every local_api server of the test), English."""
    browser.get(f"{server}/openapi.json")
    browser.delete_all_cookies()
    _speaks(browser, "en-US,en")
    return browser


def test_a_fastmag_link_confirms_opens_a_session_and_no_url_carries_a_credential(
    stack: LocalStack, visitor: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser = visitor
    before = _stock_runs(stack)
    requested: list[str] = []
    with local_api(stack, requested=requested) as url:
        browser.get(f"{url}/exports/stock?code={STOCK_CODE}")
        WebDriverWait(browser, 10).until(expected_conditions.element_to_be_clickable((By.ID, "confirm")))
        # The page took the code out of the address bar and the history: what a user shares has none.
        assert browser.current_url == f"{url}/exports/stock"
        assert browser.get_cookies() == []  # opening the link changed nothing, opened nothing

        # A link code alone starts nothing: the same POST without the page's ticket.
        refused = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/exports/stock', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: '{}'}).then(a => done(a.status));"
        )
        assert refused == 401
        assert _stock_runs(stack).keys() == before.keys()

        browser.find_element(By.ID, "confirm").click()
        WebDriverWait(browser, 10).until(expected_conditions.url_contains("/runs/stock-"))
        wait_finished(browser)
        (cookie,) = browser.get_cookies()
        assert cookie["name"] == SESSION_COOKIE and cookie["httpOnly"] and cookie["secure"]
        assert cookie["sameSite"] == "Lax" and cookie["path"] == "/"
        session = cookie["value"]

        # The status page on the session alone; its stock button opens the confirm page on the session too.
        browser.get(f"{url}/")
        assert browser.title == "Connector status"
        browser.find_element(By.ID, "export-stock").click()
        WebDriverWait(browser, 10).until(expected_conditions.element_to_be_clickable((By.ID, "confirm")))
        # The session's POST needs the page's CSRF token: without it, refused.
        refused = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/exports/stock', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: '{\"preview\": true}'}).then(a => done(a.status));"
        )
        assert refused == 403
        # Three quantities move in Fastmag, so that the preview has something to send (and its page, Apply).
        stack.fastmag.execute(
            "UPDATE stock SET stock = stock + 1"
            " WHERE barcode IN (SELECT barcode FROM produitsfiches ORDER BY barcode LIMIT 3)"
        )
        browser.find_element(By.ID, "preview").click()
        browser.find_element(By.ID, "confirm").click()
        WebDriverWait(browser, 10).until(expected_conditions.url_contains("/runs/stock-"))
        wait_finished(browser)
        preview_id = browser.current_url.rsplit("/", 1)[1]
        # Send exactly this preview, from its page (its script sends the session's CSRF token).
        browser.find_element(By.ID, "apply").click()
        WebDriverWait(browser, 10).until(lambda driver: preview_id not in driver.current_url)
        wait_finished(browser)
        LocalInvoker.wait()
        runs = [run for run_id, run in _stock_runs(stack).items() if run_id not in before]
        assert sorted(run.trigger for run in runs) == ["apply", "button", "button"]

    assert len(requested) >= 8
    # The only credential any URL ever carried: the Fastmag link's own code, in the first request.
    assert requested[0] == f"/exports/stock?code={STOCK_CODE}"
    for seen in requested:
        for secret in (SANDBOX_API_TOKEN, session, SANDBOX_API_ACCESS["session_signing_key"]):
            assert secret not in seen, seen
    assert [seen for seen in requested[1:] if "?" in seen or STOCK_CODE in seen] == []


@pytest.mark.parametrize(
    ("language", "link", "expected"),
    [
        ("en-GB,en;q=0.9", "/exports/stock?code=removed-code-Qm2Xv9LpR4sKd8WzN3b", "This link is not valid any more"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "/exports/stock?code=removed-code-Qm2Xv9LpR4sKd8W", "Ce lien n'est plus valable"),
        ("fr-FR,fr;q=0.9", f"/exports/orders?code={STOCK_CODE}", "Ce lien ouvre un autre export"),
        ("en-US", "/", "This page opens from its button in Fastmag"),
    ],
)
def test_a_refused_link_reads_what_to_do_in_the_browser_language(
    stack: LocalStack, visitor: Any, language: str, link: str, expected: str
) -> None:
    from selenium.webdriver.common.by import By

    before = _stock_runs(stack)
    _speaks(visitor, language)
    with local_api(stack) as url:
        visitor.get(f"{url}{link}")
        assert expected in visitor.find_element(By.ID, "refusal").text
        assert visitor.find_elements(By.ID, "confirm") == []
    assert _stock_runs(stack).keys() == before.keys()


def test_an_ended_session_is_refused_on_pages_and_posts(stack: LocalStack, visitor: Any) -> None:
    from selenium.webdriver.common.by import By

    browser = visitor
    before = _stock_runs(stack)
    access = ApiAccess.model_validate(SANDBOX_API_ACCESS)
    ended = new_session(access, link_caller(access, STOCK_CODE, "stock"), time.time() - 31 * 60)
    with local_api(stack) as url:
        browser.get(f"{url}/openapi.json")  # any page of the origin, so that the cookie can be set on it
        browser.add_cookie({"name": SESSION_COOKIE, "value": ended, "path": "/", "secure": True, "httpOnly": True})
        browser.get(f"{url}/")
        assert "Your session has ended" in browser.find_element(By.ID, "refusal").text
        answer = requests.post(
            f"{url}/exports/stock", json={}, cookies={SESSION_COOKIE: ended}, headers={"X-CSRF-Token": "x"}, timeout=10
        )
        assert answer.status_code == 403
        assert "open the export again from its button in Fastmag" in answer.json()["message"]
        assert answer.json()["request_id"]
    assert _stock_runs(stack).keys() == before.keys()
