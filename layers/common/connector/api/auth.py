"""Who is calling the export API: one check shared by the authorizer (POSTs and JSON routes) and the pages.

Three credentials, from the `api-access` secret (connector.access):
- a script sends `Authorization: Bearer <api token>`: every route, every flow;
- a Fastmag button is a plain link `…/exports/<flow>?code=<link code>`: the code opens that flow's confirm page
  only (`link_caller`). The page carries a *confirm ticket* (signed, minutes long) that its Confirm POST sends as
  `X-CSRF-Token`; that POST starts the run and its answer sets the session cookie;
- a session: the `connector_session` cookie (HttpOnly, Secure, SameSite=Lax, the stage's path), signed with
  the session signing key, valid `session_minutes`, scoped to its link's flow. A POST with a session must also
  send the session's CSRF token (`X-CSRF-Token`), which only the pages rendered for it carry.

Sessions and tickets name their link code, so removing the code from the secret ends them too. Nothing here
puts a credential in a URL the API builds. A missing credential answers 401; a wrong, revoked or expired one 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from http.cookies import CookieError, SimpleCookie
from typing import Any

from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from pydantic import SecretStr

from connector.access import ApiAccess
from connector.observability import logger

# API Gateway turns exactly this exception message into a 401 answer.
UNAUTHORIZED = "Unauthorized"
SESSION_COOKIE = "connector_session"
CSRF_HEADER = "X-CSRF-Token"
LINK_CODE_PARAMETER = "code"
# Between the confirm page and its Confirm click.
CONFIRM_TICKET_SECONDS = 15 * 60


class Refusal(StrEnum):
    """Why a caller is refused; the pages say what to do for each."""

    MISSING = "missing"  # no credential at all (401)
    INVALID = "invalid"  # wrong or revoked token, link code or session (403)
    EXPIRED = "expired"  # a session or confirm ticket past its time (403)
    WRONG_FLOW = "wrong_flow"  # a link's session asking for another flow (403)
    NO_CSRF = "no_csrf"  # a POST with a session but without its CSRF token (403)


class Refused(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


@dataclass(frozen=True)
class Caller:
    """An identified caller. `flow` None: every flow (a script token)."""

    principal: str
    flow: str | None = None
    link: str | None = None  # the link code's id (sessions, tickets)
    csrf: str | None = None  # what this caller's page POSTs send (a session's token, or a confirm ticket)
    confirming: bool = False  # a confirm ticket: the run's answer opens the session

    def may_run(self, flow: str) -> bool:
        return self.flow is None or self.flow == flow


@dataclass(frozen=True)
class Request:
    """What the check reads of an API Gateway event (the authorizer's REQUEST event or the proxy event)."""

    method: str
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]

    @classmethod
    def of(cls, event: dict[str, Any]) -> Request:
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        query = dict(event.get("queryStringParameters") or {})
        return cls(str(event.get("httpMethod") or "GET").upper(), headers, query)

    def cookie(self, name: str) -> str | None:
        try:
            jar = SimpleCookie(self.headers.get("cookie", ""))
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None and morsel.value else None


# --- Signed values (sessions, confirm tickets, CSRF tokens) -------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: SecretStr, message: str) -> str:
    return _b64(hmac.new(key.get_secret_value().encode(), message.encode(), hashlib.sha256).digest())


def link_id(code: SecretStr) -> str:
    """A link code's public name (logs, principals, sessions): a hash prefix, not the code."""
    return hashlib.sha256(code.get_secret_value().encode()).hexdigest()[:16]


def _sign(access: ApiAccess, payload: dict[str, Any]) -> str:
    if access.session_signing_key is None:
        raise Refused(Refusal.INVALID)
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_mac(access.session_signing_key, body)}"


def _verified(access: ApiAccess, value: str, kind: str, now: float) -> dict[str, Any]:
    """The payload of a value this API signed, of `kind`, unexpired, whose link code still exists."""
    key = access.session_signing_key
    body, _, mac = value.partition(".")
    if key is None or not body or not hmac.compare_digest(mac.encode(), _mac(key, body).encode()):
        raise Refused(Refusal.INVALID)
    try:
        payload = json.loads(_unb64(body))
    except ValueError:  # pragma: no cover - only a value this API signed gets here
        raise Refused(Refusal.INVALID) from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise Refused(Refusal.INVALID)
    if not any(link_id(c.code) == payload.get("link") and c.flow == payload.get("flow") for c in access.link_codes):
        raise Refused(Refusal.INVALID)  # the link code was removed: revoked
    if float(payload.get("expires", 0)) <= now:
        raise Refused(Refusal.EXPIRED)
    return payload


def _kind(value: str) -> str | None:
    """The kind a signed value claims (checked by `_verified` before anything trusts it)."""
    try:
        payload = json.loads(_unb64(value.partition(".")[0]))
    except ValueError:
        return None
    return str(payload.get("kind")) if isinstance(payload, dict) else None


def _payload(kind: str, flow: str, link: str, expires: float) -> dict[str, Any]:
    return {"kind": kind, "flow": flow, "link": link, "expires": int(expires), "nonce": secrets.token_urlsafe(8)}


def confirm_ticket(access: ApiAccess, caller: Caller, now: float) -> str:
    """The confirm page's CSRF token for a link caller: lets its Confirm POST start one run of its flow."""
    if caller.flow is None or caller.link is None:  # a script's token has no link to confirm
        raise Refused(Refusal.INVALID)
    return _sign(access, _payload("confirm", caller.flow, caller.link, now + CONFIRM_TICKET_SECONDS))


def new_session(access: ApiAccess, caller: Caller, now: float) -> str:
    """The session cookie's value for a caller who confirmed with a ticket."""
    if caller.flow is None or caller.link is None:  # a script's token opens no session
        raise Refused(Refusal.INVALID)
    return _sign(access, _payload("session", caller.flow, caller.link, now + access.session_minutes * 60))


def session_cookie(value: str, *, path: str, max_age: int) -> Cookie:
    """Never readable by scripts, never sent over http nor on cross-site POSTs; Lax (not Strict) so that the
    first navigation from a Fastmag link carries it. `path`: the stage's (`/<stage>`), `/` behind a domain."""
    return Cookie(
        name=SESSION_COOKIE,
        value=value,
        path=path or "/",
        secure=True,
        http_only=True,
        max_age=max_age,
        same_site=SameSite.LAX_MODE,
    )


def _csrf_of(access: ApiAccess, session: str) -> str:
    if access.session_signing_key is None:  # pragma: no cover - a verified session was signed with it
        raise Refused(Refusal.INVALID)
    return _mac(access.session_signing_key, f"csrf|{session}")


# --- Identification -------------------------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def matching_token(presented: str, tokens: tuple[SecretStr, ...]) -> int | None:
    """Index of the configured token that matches, compared in constant time against every one of them."""
    found: int | None = None
    for index, token in enumerate(tokens):
        expected = token.get_secret_value().encode()
        if expected and hmac.compare_digest(presented.encode(), expected) and found is None:
            found = index
    return found


def link_caller(access: ApiAccess, code: str, flow: str) -> Caller:
    """The caller a Fastmag link stands for on `flow`'s confirm page (opens nothing else)."""
    found: Caller | None = None
    for link in access.link_codes:
        if hmac.compare_digest(code.encode(), link.code.get_secret_value().encode()) and found is None:
            found = Caller(principal=f"link-{link_id(link.code)}", flow=link.flow, link=link_id(link.code))
    if found is None:
        raise Refused(Refusal.INVALID)
    if found.flow != flow:
        raise Refused(Refusal.WRONG_FLOW)
    return found


def identify(request: Request, access: ApiAccess, *, now: float, flow: str | None = None) -> Caller:
    """The caller of `request`, or Refused. `flow`: the flow the request would run (POST /exports/<flow>).

    A POST needs a bearer token, a session with its CSRF token, or a confirm ticket; a GET a bearer token or a
    session. A link code in the query string is never a credential here (only `link_caller` reads it)."""
    post = request.method not in {"GET", "HEAD", "OPTIONS"}
    bearer = _bearer(request)
    if bearer is not None:
        index = matching_token(bearer, access.api_tokens)
        if index is None:
            raise Refused(Refusal.INVALID)
        return Caller(principal=f"button-token-{index}")
    session = request.cookie(SESSION_COOKIE)
    presented_csrf = request.headers.get(CSRF_HEADER.lower())
    # A confirm ticket first: a browser back from a Fastmag link may still hold an ended session's cookie.
    if post and presented_csrf and _kind(presented_csrf) == "confirm":
        payload = _verified(access, presented_csrf, "confirm", now)
        caller = Caller(
            principal=f"link-{payload['link']}", flow=payload["flow"], link=payload["link"], confirming=True
        )
    elif session is not None:
        payload = _verified(access, session, "session", now)
        csrf = _csrf_of(access, session)
        if post and not (presented_csrf and hmac.compare_digest(presented_csrf.encode(), csrf.encode())):
            raise Refused(Refusal.NO_CSRF)
        caller = Caller(principal=f"session-{payload['link']}", flow=payload["flow"], link=payload["link"], csrf=csrf)
    else:
        raise Refused(Refusal.MISSING)
    if flow is not None and not caller.may_run(flow):
        raise Refused(Refusal.WRONG_FLOW)
    if caller.confirming and flow is None:
        raise Refused(Refusal.INVALID)  # a confirm ticket starts its flow's run, nothing else
    return caller


# --- The authorizer -----------------------------------------------------------------------------------------------

# The authorizer hands the caller to ApiFunction in the request context (`requestContext.authorizer`).
CONTEXT_FIELDS = ("flow", "link", "confirming")


def caller_context(caller: Caller) -> dict[str, str]:
    return {"flow": caller.flow or "", "link": caller.link or "", "confirming": "1" if caller.confirming else ""}


def caller_of_context(principal: str, context: dict[str, Any]) -> Caller:
    """The caller the authorizer identified, as ApiFunction reads it back."""
    return Caller(
        principal=principal,
        flow=str(context.get("flow") or "") or None,
        link=str(context.get("link") or "") or None,
        confirming=bool(context.get("confirming")),
    )


def _flow_of(event: APIGatewayAuthorizerRequestEvent) -> str | None:
    """The flow a `POST /exports/{flow}` would run (other routes name none)."""
    if event.get("resource") == "/exports/{flow}" and event.http_method == "POST":
        return str((event.get("pathParameters") or {}).get("flow") or "")
    return None


def authorize(raw_event: dict[str, Any], access: ApiAccess, *, now: float | None = None) -> dict[str, Any]:
    """The authorizer's answer: an IAM policy allowing or denying every method of this API and stage."""
    event = APIGatewayAuthorizerRequestEvent(raw_event)
    arn = event.parsed_arn
    try:
        caller: Caller | None = identify(
            Request.of(raw_event), access, now=time.time() if now is None else now, flow=_flow_of(event)
        )
        refusal = None
    except Refused as refused:
        if refused.reason is Refusal.MISSING:
            logger.info("api request without credential", extra={"event": "api.unauthorized", "path": event.path})
            raise Unauthorized from None
        caller, refusal = None, refused.reason
    policy = APIGatewayAuthorizerResponse(
        principal_id=caller.principal if caller else "unknown-caller",
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        partition=arn.partition,
        context=caller_context(caller) if caller else None,
    )
    if caller is None:
        logger.warning("api request refused", extra={"event": "api.denied", "path": event.path, "reason": str(refusal)})
        policy.deny_all_routes()
    else:
        policy.allow_all_routes()
    return policy.asdict()
