"""The authorizer's decision, without AWS: where the token is read, how it is compared, what policy comes back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connector.api.auth import Unauthorized, authorize, matching_token

TOKENS = (SecretStr("first-token"), SecretStr("second-token"))
ARN = "arn:aws:execute-api:eu-west-3:123456789012:abc123/dev/POST/exports/stock"


def request(headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "resource": "/exports/{flow}",
        "path": "/exports/stock",
        "httpMethod": "POST",
        "headers": headers or {},
        "queryStringParameters": query,
    }


def decision(policy: dict[str, Any]) -> str:
    (statement,) = policy["policyDocument"]["Statement"]
    return str(statement["Effect"])


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": "Bearer second-token"}, None),
        ({"authorization": "bearer second-token"}, None),
        ({"Authorization": "Bearer   second-token  "}, None),
        ({}, {"token": "second-token"}),
        ({"Authorization": "Basic abc"}, {"token": "second-token"}),  # not a bearer: the link's token counts
    ],
)
def test_either_location_is_read(headers: dict[str, str], query: dict[str, str] | None) -> None:
    policy = authorize(request(headers, query), TOKENS)
    assert decision(policy) == "Allow"
    assert policy["principalId"] == "button-token-1"


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, None), ({"Authorization": "Bearer "}, None), ({}, {"token": ""}), ({"Authorization": "Basic abc"}, {})],
)
def test_no_token_is_unauthorized(headers: dict[str, str], query: dict[str, str] | None) -> None:
    with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
        authorize(request(headers, query), TOKENS)


def test_the_allow_policy_covers_this_api_and_stage_only() -> None:
    (statement,) = authorize(request(query={"token": "first-token"}), TOKENS)["policyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == ["arn:aws:execute-api:eu-west-3:123456789012:abc123/dev/*/*"]


def test_no_configured_token_opens_nothing() -> None:
    assert decision(authorize(request(query={"token": "anything"}), ())) == "Deny"
    assert matching_token("", (SecretStr(""),)) is None


@given(st.text(min_size=1).filter(lambda t: t.strip() and t.strip() not in {"first-token", "second-token"}))
def test_any_other_token_is_denied(token: str) -> None:
    assert decision(authorize(request(query={"token": token}), TOKENS)) == "Deny"
