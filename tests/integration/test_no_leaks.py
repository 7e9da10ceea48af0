"""No secret and no unmasked email anywhere support or a browser can read.

Every flow runs through its handler (for real, then as a preview), the API answers its sample events (the
authorizer too, with a good and a wrong token), and a run is started through the API; then everything written
is searched: the task log, whatever reached stdout/stderr (metrics, tracebacks), the stored previews, every item
of the state table (run records, ledger, locks) and the API's answers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from connector.api.auth import Unauthorized
from sandbox.credentials import SANDBOX_SECRET
from sandbox.seed import build_seed
from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.conftest import NO_WAIT, local_invocations
from tests.integration.flows import FLOWS, READ_ONLY, run_flow
from tests.integration.test_api import call, event


def seed_emails(value: Any) -> set[str]:
    """Every email address in the seed (customers, buyers, orders' contacts), found wherever it sits."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return seed_emails(dataclasses.asdict(value))
    if isinstance(value, dict):
        return set().union(*(seed_emails(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple | set):
        return set().union(*(seed_emails(v) for v in value)) if value else set()
    if isinstance(value, str) and "@" in value and "." in value.split("@")[-1]:
        return {value}
    return set()


@pytest.fixture
def api_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    with LocalStack(build_seed(models=12, retailers=10), settings_document=NO_WAIT, orders=4) as stack:
        stack.fastmag.switches.photos_per_colour = 1
        with local_invocations(monkeypatch):
            yield stack


def test_no_secret_and_no_unmasked_email_is_logged_stored_or_answered(
    api_stack: LocalStack, task_log: TaskLog, capfd: pytest.CaptureFixture[str]
) -> None:
    stack = api_stack
    answers: list[Any] = []
    run_ids = []
    for flow in [*FLOWS, *READ_ONLY]:
        for preview in (True, False):
            result = run_flow(stack, flow, preview=preview)
            run_ids.append(result["run_id"])
            answers.append(result)
    # A blocked order (unknown retailer) logs and stores its reason, which may quote the order.
    blocked = copy.deepcopy(next(iter(stack.lnb.orders.values())))
    blocked.update(reference="B2B-LEAK-1", status="invoicing", retailer_reference="NOBODY")
    stack.lnb.add_order(blocked)
    answers.append(run_flow(stack, "orders"))

    # The status page read with a token: no link carries it, and the browser sends no Referer and caches nothing.
    status, page, headers = call(stack, event(stack, "api_status"))
    assert status == 200 and SANDBOX_SECRET["api_tokens"][0] not in page
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    assert not [email for email in seed_emails(stack.seed) if email in page]
    for name in ("api_runs", "api_openapi"):
        answers.append(call(stack, event(stack, name)))
    answers.append(call(stack, event(stack, "api_run", path=f"/runs/{run_ids[0]}", params={"run_id": run_ids[0]})))
    answers.append(
        call(stack, event(stack, "api_order", path="/orders/B2B-LEAK-1", params={"reference": "B2B-LEAK-1"}))
    )
    answers.append(
        call(stack, event(stack, "api_export_start", path="/exports/stock", params={"flow": "stock"}, body={}))
    )
    LocalInvoker.wait()
    answers.append(stack.invoke("authorizer", stack.event("authorizer_bearer")))
    wrong = stack.event("authorizer_bearer")
    wrong["headers"] = {**wrong["headers"], "Authorization": "Bearer sandbox-api-token-7Qm2Xv9LpR4sKd8WzN3b-but-wrong"}
    denied = stack.invoke("authorizer", wrong)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    answers.append(denied)
    for name in ("authorizer_missing", "authorizer_query"):
        with pytest.raises(Unauthorized):  # no token (a query string is none): API Gateway turns it into a 401
            stack.invoke("authorizer", stack.event(name))

    secrets = {
        SANDBOX_SECRET["fastmag_password"],
        SANDBOX_SECRET["lnb_client_secret"],
        *SANDBOX_SECRET["api_tokens"],
        *(link["code"] for link in SANDBOX_SECRET["link_codes"]),
        SANDBOX_SECRET["session_signing_key"],
        *stack.lnb.tokens,  # every Le New Black access token the simulator issued
    }
    assert len(stack.lnb.tokens) >= 1
    emails = seed_emails(stack.seed) | seed_emails(list(stack.lnb.orders.values()))
    assert len(emails) >= 10

    captured = capfd.readouterr()
    previews = [line for run_id in run_ids for line in _previews(stack, run_id)]
    assert previews, "the preview runs stored their previews"
    table = stack.table.scan()["Items"]
    places = {
        "task log": task_log.text(),
        "stdout": captured.out,
        "stderr": captured.err,
        "previews": json.dumps(previews, default=str, ensure_ascii=False),
        "state table": json.dumps(table, default=str, ensure_ascii=False),
        "answers": json.dumps(answers, default=str, ensure_ascii=False),
    }
    assert len(task_log.lines) > 100
    for place, text in places.items():
        assert [secret for secret in secrets if secret in text] == [], place
        assert sorted(email for email in emails if email in text) == [], place
    # Masked addresses are still there for support to tell buyers apart.
    assert "***@" in places["task log"] or "***@" in places["previews"]


def _previews(stack: LocalStack, run_id: str) -> list[dict[str, Any]]:
    try:
        return stack.preview_lines(run_id)
    except Exception:  # a real run stores no preview
        return []
