"""The token check: AuthorizerFunction's real handler with events from events/, and the gateway in front of
ApiFunction (sandbox/serve.py) proving that without a valid token nothing runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from connector import config
from connector.runs import RunStore
from sandbox.credentials import SANDBOX_API_TOKEN
from sandbox.run import available_functions
from sandbox.serve import Gateway, LocalInvoker, api_routes
from sandbox.stack import LocalStack
from sandbox.template import load_template

TOKEN = SANDBOX_API_TOKEN
ARN = "arn:aws:execute-api:eu-west-3:123456789012:k3x9q2m7a1/dev/*/*"


def authorize(stack: LocalStack, name: str, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = stack.invoke("authorizer", stack.event(name, **changes))
    return result


def effect(policy: dict[str, Any]) -> tuple[str, list[str]]:
    (statement,) = policy["policyDocument"]["Statement"]
    return statement["Effect"], statement["Resource"]


def test_bearer_token_is_allowed_on_every_method_of_the_stage(stack: LocalStack) -> None:
    policy = authorize(stack, "authorizer_bearer")
    assert effect(policy) == ("Allow", [ARN])
    assert policy["principalId"] == "button-token-0"


def test_a_token_in_the_query_string_is_no_credential(stack: LocalStack) -> None:
    """It would be recorded (traces, history, the Fastmag button's configuration): only the header counts."""
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(stack, "authorizer_query")


def test_wrong_token_is_denied_without_naming_the_token(stack: LocalStack, task_log: Any) -> None:
    wrong = stack.event("authorizer_bearer")
    wrong["headers"] = {**wrong["headers"], "Authorization": f"Bearer {TOKEN[:-1]}N"}
    policy = stack.invoke("authorizer", wrong)
    assert effect(policy) == ("Deny", [ARN])
    assert policy["principalId"] == "unknown-caller"
    assert f"{TOKEN[:-1]}N" not in task_log.text()
    assert task_log.events("api.denied")


def test_missing_token_is_unauthorized(stack: LocalStack) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(stack, "authorizer_missing")


def test_a_token_removed_from_the_secret_no_longer_opens(stack: LocalStack) -> None:
    import boto3

    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.names["API_ACCESS_SECRET_ID"],
        SecretString=json.dumps({"api_tokens": ["another-token-Hq2Wn8Zr5Kd1Xp7Lm3Vb9"]}),
    )
    assert effect(authorize(stack, "authorizer_bearer"))[0] == "Deny"


# --- The gateway: nothing runs without a valid token ------------------------------------------------------------


@pytest.fixture
def client(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("FLOW_INVOKER", "local")
    monkeypatch.setenv("FLOW_FUNCTIONS", json.dumps(available_functions()))
    config.environment.cache_clear()
    yield Client(Gateway(api_routes(load_template())))
    LocalInvoker.wait()
    config.environment.cache_clear()


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, "", 401),
        ({"Authorization": "Bearer "}, "", 401),
        ({"Authorization": "Bearer wrong"}, "", 403),
        ({}, "?token=wrong", 401),
        ({}, f"?token={TOKEN}", 401),  # the token as a link: no credential any more
    ],
)
def test_post_without_a_valid_token_is_refused_and_nothing_runs(
    stack: LocalStack, client: Client, headers: dict[str, str], query: str, status: int
) -> None:
    answer = client.post(f"/exports/stock{query}", json={"preview": False}, headers=headers)
    assert answer.status_code == status
    LocalInvoker.wait()
    assert RunStore(stack.table).list("stock")[0] == []
    assert stack.lnb.data_calls() == []


def test_gateway_serves_only_the_template_routes_and_passes_valid_tokens(stack: LocalStack, client: Client) -> None:
    assert client.get(f"/nowhere?token={TOKEN}").status_code == 404
    answer = client.post("/exports/stock", json={"preview": True}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 202
    LocalInvoker.wait()
    (record,) = RunStore(stack.table).list("stock")[0]
    assert record.run_id == answer.json["run_id"]
    assert record.preview
