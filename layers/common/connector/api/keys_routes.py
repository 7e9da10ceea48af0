"""`GET /keys/{key}`: one key explained (connector.explain), HTML for a browser (the status page's search opens
it) and JSON otherwise; a page like the others, checking its caller itself.

Explaining reads both sides live, which needs the flows' settings and credentials: the API holds neither, so it
asks the readiness function (read-only on both sides, like an explanation) and waits for its answer. The recent
events are not waited for here: the page's script polls `GET /keys/{key}/history` (api/reports.py), and a JSON
client follows `history_url`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from connector.api.key_html import key_page
from connector.api.resolver import html_response, page_caller, problem, request_view, wants_html
from connector.explain import EXPLAINING_FLOW, ExplainAnswer, ExplainRequest, Explanation, KeyKind
from connector.services import api_services_for

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated


@router.get(
    "/keys/<key>",
    summary="One key explained: the Fastmag rows behind it, what the connector would send, what LNB holds now",
    responses={200: {"description": "the explanation", "content": {"application/json": {"model": Explanation}}}},
)
def explain_key(
    key: str,
    kind: Annotated[KeyKind | None, Query(description="the key's kind; inferred when absent")] = None,
) -> Response[Any]:
    caller = page_caller()
    if isinstance(caller, Response):
        return caller
    invoker = api_services_for().invoker
    if EXPLAINING_FLOW not in invoker.flows:
        return problem(HTTPStatus.SERVICE_UNAVAILABLE, f"no {EXPLAINING_FLOW} function deployed to explain keys")
    request = ExplainRequest(key=key, kind=kind)
    answer = ExplainAnswer.model_validate(invoker.ask(EXPLAINING_FLOW, {"explain": request.model_dump(mode="json")}))
    if answer.explanation is None:
        return problem(answer.status, answer.message or f"{key} could not be explained")
    document = answer.explanation.model_dump(mode="json")
    view = request_view(caller)
    if wants_html():
        return html_response(key_page(document, view))
    history_url = view.links.url(f"/keys/{quote(answer.explanation.key, safe='')}/history")
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, {**document, "history_url": history_url})
