"""The export API's resolver (ARCHITECTURE §8): the request's context (base path, caller, language, links),
its responses (HTML pages, problems) and the one place exceptions become answers, shared by every route module.

Error bodies carry a stable message and the request id (also the log lines' correlation id), never an exception's
text.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel, Field

from connector import runs as run_records
from connector.api.auth import (
    Caller,
    Refusal,
    Refused,
    Request,
    caller_of_context,
    identify,
)
from connector.api.html import Links, View
from connector.api.i18n import Language, preferred_language
from connector.api.security import page_headers, refusal_message, refusal_page
from connector.config import environment, load_api_access
from connector.errors import ConnectorError, describe, field_problems
from connector.observability import logger
from connector.runs import InvalidCursor
from connector.services import api_services_for

app = APIGatewayRestResolver(enable_validation=True)


class Problem(BaseModel):
    message: str
    request_id: str | None = Field(default=None, description="quote it to support: the log lines carry it")
    flows: list[str] | None = None


# --- Request context ----------------------------------------------------------------------------------------


def base_path() -> str:
    """The API's base path: `/<stage>` on the execute-api domain, a custom domain's base path, or nothing."""
    event = app.current_event
    path = event.path
    full_path = str(event.request_context.path or path)
    if path == "/" and full_path == "/":
        return ""
    return full_path[: -len(path)] if path != "/" and full_path.endswith(path) else full_path.rstrip("/")


def request_links(caller: Caller | None = None) -> Links:
    """Links under the API's base path (never with a credential), and the caller's CSRF token for its POSTs."""
    return Links(prefix=base_path(), csrf=caller.csrf if caller else None)


def request_language() -> Language:
    return preferred_language(app.current_event.headers.get("Accept-Language"))


def request_view(caller: Caller | None = None) -> View:
    """The caller's links, language (Accept-Language) and the brand's timezone."""
    return View(links=request_links(caller), language=request_language(), zone=environment().BRAND_TIMEZONE)


def absolute_url(path: str) -> str:
    """From the request context's domain, never the Host header (a client writes that one). API Gateway always
    sets X-Forwarded-Proto (https); only the local sandbox serves http."""
    event = app.current_event
    scheme = event.headers.get("X-Forwarded-Proto", "https")
    return f"{scheme}://{event.request_context.domain_name}{base_path()}{path}"


def current_request_id() -> str | None:
    return app.current_event.request_context.request_id


def refusal_response(reason: Refusal) -> Response[Any]:
    """A refused caller: a page that says what to do in a browser, the same words as JSON otherwise."""
    status = HTTPStatus.UNAUTHORIZED if reason is Refusal.MISSING else HTTPStatus.FORBIDDEN
    logger.info("page request refused", extra={"event": "api.page_refused", "reason": reason.value})
    if wants_html():
        return html_response(refusal_page(reason, request_language()), status)
    return problem(status, refusal_message(reason, request_language()))


def page_caller(flow: str | None = None) -> Caller | Response[Any]:
    """The caller of a route the authorizer does not guard (the pages), checked with the authorizer's code."""
    try:
        return identify(Request.of(app.current_event.raw_event), load_api_access(), now=now_seconds(), flow=flow)
    except Refused as refused:
        return refusal_response(refused.reason)


def authorized_caller() -> Caller:
    """The caller the authorizer let through (routes behind it)."""
    authorizer = app.current_event.request_context.authorizer
    context = dict(authorizer.raw_event) if authorizer else {}
    return caller_of_context(str(context.get("principalId") or ""), context)


def now_seconds() -> float:
    return run_records.timing.clock()


def wants_html() -> bool:
    return "text/html" in app.current_event.headers.get("Accept", "")


def html_response(body: str, status: int = HTTPStatus.OK) -> Response[str]:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=page_headers())


def problem(status: int, message: str, **extra: Any) -> Response[dict[str, Any]]:
    """A refusal or failure: `message` is ours (stable, says what to do), never an exception's text."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=Problem(message=message, request_id=current_request_id(), **extra).model_dump(exclude_none=True),
    )


def unknown_flow(flow: str) -> Response[dict[str, Any]]:
    flows = list(api_services_for().invoker.flows)
    return problem(HTTPStatus.NOT_FOUND, f"unknown flow {flow!r}; flows: {', '.join(flows)}", flows=flows)


def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    """422 naming each bad field (`body.preview`, `query.limit`…) and what is wrong with it."""
    fields = [{"field": field, "problem": problem} for field, problem in field_problems(error)]
    return Response(
        status_code=HTTPStatus.UNPROCESSABLE_ENTITY,
        content_type=content_types.APPLICATION_JSON,
        body={"message": f"invalid request: {describe(error)}", "fields": fields, "request_id": current_request_id()},
    )


def _unsupported_body(error: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    """415: the API reads JSON bodies only (a form or a text body is refused, not a server error)."""
    return problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")


def _unreadable_body(error: ValueError) -> Response[dict[str, Any]]:
    """400: a body the request parser cannot read at all (e.g. multipart without its boundary). Anything else
    raising ValueError is a bug: it is logged with its traceback and still answered as a refusal, not a 502. The
    error's text goes to the log only."""
    logger.warning(f"unreadable request: {error}", extra={"event": "api.bad_request"}, exc_info=error)
    return problem(HTTPStatus.BAD_REQUEST, "the request could not be read: send a JSON body")


def _service_error(error: ServiceError) -> Response[dict[str, Any]]:
    """The resolver's own answers (a path no route matches: 404), with the request id like every refusal."""
    return problem(error.status_code, str(error.msg) if isinstance(error.msg, str) else "refused")


def _failed(error: Exception) -> Response[dict[str, Any]]:
    """500: a bug or a broken deployment. Its text (an ARN, a SQL fragment…) goes to the log under the request
    id; the caller gets the request id to quote."""
    logger.error(f"api request failed: {error!r}", extra={"event": "api.failed"}, exc_info=error)
    return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error: quote the request id to support")


def _refused(error: ConnectorError) -> Response[dict[str, Any]]:
    """The connector's own errors, answered in one place: a page cursor it did not return is a 422 naming the
    `cursor` parameter like any invalid parameter; any other is a bug or a broken deployment (500)."""
    if isinstance(error, InvalidCursor):
        return _invalid_request(
            RequestValidationError([{"loc": ("query", "cursor"), "msg": str(error), "type": "value_error"}])
        )
    return _failed(error)


# Registered by a call, not a decorator: Powertools' decorator is untyped.
app.exception_handler(RequestValidationError)(_invalid_request)
app.exception_handler(RequestUnsupportedContentType)(_unsupported_body)
app.exception_handler(ValueError)(_unreadable_body)
app.exception_handler(ConnectorError)(_refused)
app.exception_handler(ServiceError)(_service_error)
app.exception_handler(Exception)(_failed)
