"""Who may call the export API, without AWS: bearer tokens, link codes, confirm tickets, sessions and their CSRF
tokens, and the policy the authorizer answers with."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connector.access import ApiAccess, new_api_access
from connector.api.auth import (
    SESSION_COOKIE,
    Caller,
    Refusal,
    Refused,
    Request,
    Unauthorized,
    authorize,
    confirm_ticket,
    identify,
    link_caller,
    matching_token,
    new_session,
    session_cookie,
)
from connector.errors import SettingsError
from connector.settings import parse_api_access

ACCESS = parse_api_access(
    {
        "api_tokens": ["first-token-Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8", "second-token-Zx1Cv3Bn5Mm7Lk9Jh2Gf4Ds6"],
        "link_codes": [
            {"flow": "stock", "code": "stock-link-code-Pl0Ok9Ij8Uh7Yg6Tf5Rd4"},
            {"flow": "orders", "code": "orders-link-code-Mn1Bv2Cx3Za4Sd5Fg6Hj7"},
        ],
        "session_signing_key": "signing-key-Wq8Er7Ty6Ui5Op4As3Df2Gh1",
        "session_minutes": 30,
    }
)
TOKEN = ACCESS.api_tokens[1].get_secret_value()
STOCK_CODE = ACCESS.link_codes[0].code.get_secret_value()
NOW = 1_800_000_000.0
ARN = "arn:aws:execute-api:eu-west-3:123456789012:abc123/dev/POST/exports/stock"


def event(
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    *,
    method: str = "POST",
    resource: str = "/exports/{flow}",
    flow: str = "stock",
) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "resource": resource,
        "path": f"/exports/{flow}",
        "httpMethod": method,
        "headers": headers or {},
        "queryStringParameters": query,
        "pathParameters": {"flow": flow},
    }


def decision(policy: dict[str, Any]) -> str:
    (statement,) = policy["policyDocument"]["Statement"]
    return str(statement["Effect"])


def stock_link() -> Caller:
    return link_caller(ACCESS, STOCK_CODE, "stock")


def session(now: float = NOW, access: ApiAccess = ACCESS) -> tuple[str, str]:
    """A stock session's cookie value and its CSRF token, as the confirm POST and the pages give them."""
    value = new_session(access, stock_link(), now)
    caller = identify(Request("GET", {"cookie": f"{SESSION_COOKIE}={value}"}, {}), access, now=now)
    assert caller.csrf is not None
    return value, caller.csrf


# --- Bearer tokens ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}"},
        {"authorization": f"bearer {TOKEN}"},
        {"Authorization": f"Bearer  {TOKEN} "},
    ],
)
def test_a_bearer_token_opens_every_flow(headers: dict[str, str]) -> None:
    policy = authorize(event(headers, flow="orders"), ACCESS, now=NOW)
    assert decision(policy) == "Allow"
    assert policy["principalId"] == "button-token-1"
    assert policy["context"]["flow"] == ""


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, None),
        ({"Authorization": "Bearer "}, None),
        ({"Authorization": "Basic abc"}, {}),
        # A token or a link code in the query string is no credential any more (it would be recorded).
        ({}, {"token": TOKEN}),
        ({}, {"code": STOCK_CODE}),
    ],
)
def test_no_credential_is_unauthorized(headers: dict[str, str], query: dict[str, str] | None) -> None:
    with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
        authorize(event(headers, query), ACCESS, now=NOW)


def test_the_allow_policy_covers_this_api_and_stage_only() -> None:
    policy = authorize(event({"Authorization": f"Bearer {TOKEN}"}), ACCESS, now=NOW)
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == ["arn:aws:execute-api:eu-west-3:123456789012:abc123/dev/*/*"]


def test_no_configured_token_opens_nothing() -> None:
    assert decision(authorize(event({"Authorization": f"Bearer {TOKEN}"}), ApiAccess(), now=NOW)) == "Deny"
    assert matching_token("", (SecretStr(""),)) is None


CONFIGURED = {token.get_secret_value() for token in ACCESS.api_tokens}


# No deadline: a few microseconds of HMAC each, but the machine's load can stall one example past 200 ms.
@settings(deadline=None)
@given(st.text(min_size=1).filter(lambda t: t.strip() and t.strip() not in CONFIGURED))
def test_any_other_token_is_denied(token: str) -> None:
    assert decision(authorize(event({"Authorization": f"Bearer {token}"}), ACCESS, now=NOW)) == "Deny"


# --- Link codes, confirm tickets, sessions ------------------------------------------------------------------------


def test_a_link_code_opens_its_flow_confirm_page_only() -> None:
    assert stock_link().flow == "stock"
    with pytest.raises(Refused) as other_flow:
        link_caller(ACCESS, STOCK_CODE, "orders")
    assert other_flow.value.reason is Refusal.WRONG_FLOW
    with pytest.raises(Refused) as unknown:
        link_caller(ACCESS, STOCK_CODE[:-1] + "X", "stock")
    assert unknown.value.reason is Refusal.INVALID


def test_the_confirm_ticket_starts_its_flow_once_confirmed_and_nothing_else() -> None:
    ticket = confirm_ticket(ACCESS, stock_link(), NOW)
    policy = authorize(event({"X-CSRF-Token": ticket}), ACCESS, now=NOW + 60)
    assert decision(policy) == "Allow"
    assert policy["context"] == {"flow": "stock", "link": stock_link().link, "confirming": "1"}
    # Another flow, another route, a GET, a late click: refused.
    assert decision(authorize(event({"X-CSRF-Token": ticket}, flow="orders"), ACCESS, now=NOW)) == "Deny"
    apply = event({"X-CSRF-Token": ticket}, resource="/runs/{run_id}/apply")
    assert decision(authorize(apply, ACCESS, now=NOW)) == "Deny"
    with pytest.raises(Unauthorized):
        authorize(event({"X-CSRF-Token": ticket}, method="GET", resource="/runs"), ACCESS, now=NOW)
    assert decision(authorize(event({"X-CSRF-Token": ticket}), ACCESS, now=NOW + 16 * 60)) == "Deny"


def test_a_session_cookie_needs_its_csrf_token_on_a_post() -> None:
    value, csrf = session()
    cookie = {"Cookie": f"other=1; {SESSION_COOKIE}={value}"}
    assert decision(authorize(event({**cookie, "X-CSRF-Token": csrf}), ACCESS, now=NOW + 60)) == "Allow"
    for wrong in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf[:-1]}, {"X-CSRF-Token": value}):
        assert decision(authorize(event({**cookie, **wrong}), ACCESS, now=NOW + 60)) == "Deny", wrong
    # A GET (a JSON route) needs no CSRF token; a POST of another flow is refused.
    assert decision(authorize(event(cookie, method="GET", resource="/runs"), ACCESS, now=NOW)) == "Allow"
    other = event({**cookie, "X-CSRF-Token": csrf}, flow="orders")
    assert decision(authorize(other, ACCESS, now=NOW)) == "Deny"


def test_a_session_ends_after_its_minutes() -> None:
    value, csrf = session()
    request = Request("POST", {"cookie": f"{SESSION_COOKIE}={value}", "x-csrf-token": csrf}, {})
    assert identify(request, ACCESS, now=NOW + 29 * 60).flow == "stock"
    with pytest.raises(Refused) as ended:
        identify(request, ACCESS, now=NOW + 30 * 60)
    assert ended.value.reason is Refusal.EXPIRED


def test_removing_the_link_code_or_replacing_the_key_ends_its_sessions() -> None:
    value, _ = session()
    cookie = Request("GET", {"cookie": f"{SESSION_COOKIE}={value}"}, {})
    revoked = ACCESS.model_copy(update={"link_codes": ACCESS.link_codes[1:]})
    rekeyed = ACCESS.model_copy(update={"session_signing_key": SecretStr("another-key-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7")})
    for access in (revoked, rekeyed):
        with pytest.raises(Refused) as refused:
            identify(cookie, access, now=NOW)
        assert refused.value.reason is Refusal.INVALID


@settings(deadline=None)
@given(st.text(min_size=1, alphabet=st.characters(codec="ascii", exclude_characters=';, "\\')))
def test_a_forged_or_tampered_cookie_is_refused(forged: str) -> None:
    value, _ = session()
    # One character of the signature changed (in its middle: every bit of it counts), never to itself.
    tampered = value[:-5] + ("Q" if value[-5] == "A" else "A") + value[-4:]
    for cookie in (forged, tampered, value.replace(".", "x.", 1)):
        with pytest.raises(Refused):
            identify(Request("GET", {"cookie": f"{SESSION_COOKIE}={cookie}"}, {}), ACCESS, now=NOW)


def test_the_session_cookie_is_httponly_secure_lax_on_the_stage_path() -> None:
    header = session_cookie("v", path="/dev", max_age=1800).__str__()
    assert header == f"{SESSION_COOKIE}=v; Path=/dev; Max-Age=1800; HttpOnly; Secure; SameSite=Lax"


# --- Strength of the secret's values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"api_tokens": ["sandbox-button-token"]}, "api_tokens.0"),
        ({"api_tokens": ["a" * 64]}, "api_tokens.0"),
        ({"link_codes": [{"flow": "stock", "code": "short"}]}, "link_codes.0.code"),
        ({"session_signing_key": "ab" * 20}, "session_signing_key"),
    ],
)
def test_weak_credentials_are_refused_when_the_secret_is_read(document: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError) as refused:
        parse_api_access(document)
    message = str(refused.value)
    assert f"{field}: Value error, too weak: use at least 32 random characters" in message
    weak = document.get("api_tokens") or [c["code"] for c in document.get("link_codes", [])]
    for value in weak or [document["session_signing_key"]]:
        assert value not in message


def test_a_generated_document_is_strong_and_covers_every_flow() -> None:
    document = new_api_access(("stock", "orders"))
    access = parse_api_access(document)
    assert [link.flow for link in access.link_codes] == ["stock", "orders"]
    values = {document["api_tokens"][0], document["session_signing_key"], *(c["code"] for c in document["link_codes"])}
    assert len(values) == 4
