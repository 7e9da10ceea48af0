"""The API's answers under attack or failure: strict bodies, error bodies with a request id and no internal text,
absolute URLs from the API's own domain, a Content-Security-Policy on every page, the link → ticket → session
exchange through the gateway, and emails masked in the order ledger."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from werkzeug.test import Client

from connector import config
from connector.api import routes
from connector.api.auth import CSRF_HEADER, SESSION_COOKIE
from connector.ledger import LedgerStatus, OrderLedger
from connector.runs import RunStore
from sandbox.credentials import SANDBOX_LINK_CODES
from sandbox.run import available_functions
from sandbox.serve import Gateway, LocalInvoker, api_routes, gateway_answers
from sandbox.stack import LocalStack
from sandbox.template import load_template
from tests.conftest import TaskLog
from tests.integration.test_api import TOKEN, call, event, start

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("FLOW_INVOKER", "local")
    monkeypatch.setenv("FLOW_FUNCTIONS", json.dumps(available_functions()))
    config.environment.cache_clear()
    template = load_template()
    yield Client(Gateway(api_routes(template), gateway_answers(template)))
    LocalInvoker.wait()
    config.environment.cache_clear()


# --- Strict bodies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preview": "yes"}, "body.preview"),
        ({"preview": "false"}, "body.preview"),
        ({"full": 1}, "body.full"),
        ({"force": None}, "body.force"),
        (None, "body"),  # no body at all: not an incremental run
        ("", "body"),
    ],
)
def test_a_body_that_is_not_strictly_what_the_api_reads_is_refused_and_nothing_runs(
    api: LocalStack, body: Any, field: str
) -> None:
    document = event(api, "api_export_start", path="/exports/stock", params={"flow": "stock"})
    document["body"] = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    status, answer, _ = call(api, document)
    assert status == 422, answer
    assert field in [problem["field"] for problem in answer["fields"]]
    assert answer["request_id"] == document["requestContext"]["requestId"]
    assert RunStore(api.table).list("stock")[0] == []


def test_an_empty_json_object_is_an_incremental_run(api: LocalStack) -> None:
    run_id = start(api)
    (record,) = RunStore(api.table).list("stock")[0]
    assert record.run_id == run_id and not record.preview and not record.full


# --- Error bodies -----------------------------------------------------------------------------------------------


def test_an_internal_error_answers_a_stable_message_and_the_request_id_never_its_text(
    api: LocalStack, monkeypatch: pytest.MonkeyPatch, task_log: TaskLog
) -> None:
    arn = "arn:aws:dynamodb:eu-west-3:123456789012:table/connector-state"
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": f"not authorized to perform Query on {arn}"}}, "Query"
    )

    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise denied

    monkeypatch.setattr(routes, "api_services_for", Broken)
    document = event(api, "api_runs")
    status, answer, _ = call(api, document)
    assert status == 500
    request_id = document["requestContext"]["requestId"]
    assert answer == {"message": "internal error: quote the request id to support", "request_id": request_id}
    # The text is in the log, under the same id, for support.
    (line,) = task_log.events("api.failed")
    assert line["correlation_id"] == request_id and arn in line["message"]


def test_a_refusal_by_the_gateway_carries_what_to_do_and_the_request_id(client: Client) -> None:
    missing = client.post("/exports/stock", json={})
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json["message"] and missing.json["request_id"]
    wrong = client.post("/exports/stock", json={}, headers={"Authorization": "Bearer " + "x" * 40})
    assert wrong.status_code == 403
    assert "ask for a new link" in wrong.json["message"] and "$context" not in wrong.json["request_id"]


# --- Absolute URLs ------------------------------------------------------------------------------------------------


def test_absolute_urls_come_from_the_api_domain_never_the_host_header(api: LocalStack) -> None:
    document = event(
        api,
        "api_export_start",
        path="/exports/stock",
        params={"flow": "stock"},
        body={"preview": True},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    status, answer, headers = call(api, document)
    assert status == 202
    domain = document["requestContext"]["domainName"]
    assert answer["status_url"] == f"https://{domain}/dev/runs/{answer['run_id']}" == headers["Location"]
    assert "evil" not in json.dumps(answer)


# --- Pages: CSP, and the link → ticket → session exchange -----------------------------------------------------------


def _csp_allows_exactly_its_scripts(answer: Any) -> None:
    policy = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    allowed = policy.split("script-src ", 1)[1].split(";", 1)[0].split()
    assert "'unsafe-inline'" not in allowed
    for script in re.findall(r"<script[^>]*>(.*?)</script>", answer.get_data(as_text=True), re.DOTALL):
        assert f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" in allowed
    assert answer.headers["Referrer-Policy"] == "no-referrer" and answer.headers["Cache-Control"] == "no-store"


def test_the_link_code_opens_the_confirm_page_its_ticket_a_session_and_every_page_has_a_csp(
    stack: LocalStack, client: Client
) -> None:
    code = SANDBOX_LINK_CODES["stock"]
    # The code is no credential for the POST, wherever it is put.
    assert client.post(f"/exports/stock?code={code}", json={}).status_code == 401
    assert client.post("/exports/stock", json={}, headers={CSRF_HEADER: code}).status_code == 401
    confirm = client.get(f"/exports/stock?code={code}", headers={"Accept": "text/html"})
    assert confirm.status_code == 200 and not confirm.headers.get("Set-Cookie")
    _csp_allows_exactly_its_scripts(confirm)
    (ticket,) = re.findall(r'data-csrf="([^"]+)"', confirm.get_data(as_text=True))
    assert code not in confirm.get_data(as_text=True)
    # The ticket is for this flow's run only.
    assert client.post("/exports/orders", json={}, headers={CSRF_HEADER: ticket}).status_code == 403
    started = client.post("/exports/stock", json={"preview": True}, headers={CSRF_HEADER: ticket})
    assert started.status_code == 202
    cookie = started.headers["Set-Cookie"]
    assert all(part in cookie for part in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=1800"))
    # The confirm page's ticket stays valid its 15 minutes (a second Confirm from the same page).
    assert client.post("/exports/stock", json={}, headers={CSRF_HEADER: ticket}).status_code == 202
    LocalInvoker.wait()

    # The session opens the pages (status, run, confirm) and its own POSTs with the page's CSRF token only.
    run_page = client.get(f"/runs/{started.json['run_id']}", headers={"Accept": "text/html"})
    status_page = client.get("/", headers={"Accept": "text/html"})
    session_confirm = client.get("/exports/stock", headers={"Accept": "text/html"})
    history = client.get("/runs?flow=stock", headers={"Accept": "text/html"})
    for page in (run_page, status_page, session_confirm, history):
        assert page.status_code == 200
        _csp_allows_exactly_its_scripts(page)
    (csrf,) = re.findall(r'data-csrf="([^"]+)"', session_confirm.get_data(as_text=True))
    assert client.post("/exports/stock", json={}).status_code == 403
    assert client.post("/exports/stock", json={}, headers={CSRF_HEADER: csrf}).status_code == 202
    assert client.post("/exports/orders", json={}, headers={CSRF_HEADER: csrf}).status_code == 403
    LocalInvoker.wait()
    refused = client.get("/exports/orders", headers={"Accept": "text/html", "Accept-Language": "fr"})
    assert refused.status_code == 403 and "Ce lien ouvre un autre export" in refused.get_data(as_text=True)
    _csp_allows_exactly_its_scripts(refused)
    assert SESSION_COOKIE in cookie


def _page_routes() -> list[str]:
    """The routes the template leaves to ApiFunction (`Auth: {Authorizer: NONE}`), with sample path values."""
    events = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    paths = [e["Properties"]["Path"] for e in events if (e["Properties"].get("Auth") or {}).get("Authorizer") == "NONE"]
    return [re.sub(r"\{[^}]+\}", "stock", path) for path in paths]


@pytest.mark.parametrize("path", _page_routes())
@pytest.mark.parametrize("cookie", [None, "not-a-session"])
def test_every_route_left_to_the_pages_checks_its_caller_and_says_what_to_do(
    client: Client, path: str, cookie: str | None
) -> None:
    """No credential: 401; a forged session: 403; a browser reads the refusal page under the CSP, a script the
    same words as JSON with the request id. Nothing of the page itself is served."""
    if cookie is not None:
        client.set_cookie(SESSION_COOKIE, cookie)
    expected = 401 if cookie is None else 403
    page = client.get(path, headers={"Accept": "text/html", "Accept-Language": "fr-FR,fr;q=0.9"})
    assert page.status_code == expected
    assert 'id="refusal"' in page.get_data(as_text=True) and '<html lang="fr">' in page.get_data(as_text=True)
    _csp_allows_exactly_its_scripts(page)
    answer = client.get(path)
    assert answer.status_code == expected
    assert set(answer.json) == {"message", "request_id"} and answer.json["request_id"]


def test_the_pages_left_to_api_function_are_the_browser_pages() -> None:
    assert sorted(_page_routes()) == sorted(
        [
            "/",
            "/exports/stock",
            "/runs",
            "/runs/stock",
            "/orders/stock",
            "/readiness/stock",
            "/reconcile/stock",
            "/keys/stock",
        ]
    )


# --- The order ledger ---------------------------------------------------------------------------------------------


def test_emails_are_masked_in_every_ledger_field_stored_and_served(api: LocalStack) -> None:
    ledger = OrderLedger(api.table)
    entry = ledger.open("ORD-MAIL-1", "orders-run-1")
    refusal = "Fastmag: client jeanne.durand@example.fr inconnu\nvoir paul.martin+b2b@shop.example"
    moved = ledger.transition(
        entry, LedgerStatus.BLOCKED, f"blocked: {refusal}", reason=refusal, lnb_status="to jeanne.durand@example.fr"
    )
    assert moved is not None
    # An entry stored unmasked by an earlier release is served masked too.
    api.table.update_item(
        Key={"pk": "ORDER#ORD-MAIL-1", "sk": "ORDER"},
        UpdateExpression="SET fastmag_number = :old",
        ExpressionAttributeValues={":old": "old-note ana@example.com"},
    )
    stored = json.dumps(api.table.get_item(Key={"pk": "ORDER#ORD-MAIL-1", "sk": "ORDER"})["Item"], default=str)
    assert "jeanne.durand@" not in stored and "paul.martin" not in stored and "j***@example.fr" in stored
    path, params = "/orders/ORD-MAIL-1", {"reference": "ORD-MAIL-1"}
    status, body, _ = call(api, event(api, "api_order", path=path, params=params))
    assert status == 200
    served = json.dumps(body)
    for email in ("jeanne.durand@example.fr", "paul.martin+b2b@shop.example", "ana@example.com"):
        assert email not in served
    assert body["reason"] == "Fastmag: client j***@example.fr inconnu\nvoir p***@shop.example"
    assert body["fastmag_number"] == "old-note a***@example.com"
