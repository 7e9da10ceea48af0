"""The export API's routes (ARCHITECTURE §8), resolved by ApiFunction behind the token authorizer.

Nothing long runs here: `POST /exports/{flow}` and `POST /runs/{run_id}/apply` write a queued run record and
hand the run to its flow function asynchronously, answering 202 with the run's address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, ConfigDict, Field

from connector import runs as run_records
from connector.api import pages
from connector.check_report import CheckStore
from connector.config import environment
from connector.errors import ConnectorError, describe, field_problems
from connector.events import FlowRequest
from connector.ledger import LedgerEntry
from connector.observability import bind_run, logger
from connector.previews import apply_refusal
from connector.runs import InvalidCursor, RunRecord, RunStatus
from connector.schedules import ScheduleRef, ScheduleStatus, read_schedule, schedule_refs
from connector.services import ApiServices, api_services_for

RECENT_RUNS = 5
# Runs of a flow searched for its rate schedule's last tick (a rate fires every N from its last tick).
SCHEDULED_RUNS_SEEN = 20

app = APIGatewayRestResolver(enable_validation=True)


class ExportRequest(BaseModel):
    """What the confirm page posts; an empty body starts an incremental run."""

    model_config = ConfigDict(extra="forbid")

    preview: bool = Field(default=False, description="store the would-be writes, send nothing")
    full: bool = Field(default=False, description="send every record, not only what changed")
    force: bool = Field(default=False, description="let a stock push through the zero-stock guard")
    repair: bool = Field(default=False, description="reconcile: send the differences found (honours preview)")


class RunStarted(BaseModel):
    run_id: str
    status: RunStatus
    status_url: str = Field(description="the run record (JSON with Authorization, HTML in a browser)")
    page_url: str = Field(description="the run's page, for a browser that came with a token link")


class RunPage(BaseModel):
    runs: list[RunRecord]
    next: str | None = Field(description="cursor of the next page (`cursor` query parameter), null at the end")


class RunDetail(RunRecord):
    preview_url: str | None = Field(default=None, description="presigned link to the stored preview (15 min)")


class Problem(BaseModel):
    message: str
    flows: list[str] | None = None


def _alive(records: list[RunRecord]) -> list[RunRecord]:
    """Records as they are: a run that stopped heartbeating, or never started, is closed as lost when read."""
    store, now = api_services_for().runs, run_records.timing.clock()
    return [store.close_if_lost(record, now=now) for record in records]


# --- Request context ----------------------------------------------------------------------------------------


def _links() -> pages.Links:
    """Links under the API's base path; the token is carried only when the caller itself sent it as a link."""
    event = app.current_event
    path = event.path
    full_path = str(event.request_context.path or path)
    prefix = full_path[: -len(path)] if path != "/" and full_path.endswith(path) else full_path.rstrip("/")
    if path == "/" and full_path == "/":
        prefix = ""
    token = (event.query_string_parameters or {}).get("token")
    return pages.Links(prefix=prefix, token=token or None)


def _absolute(path: str) -> str:
    headers = app.current_event.headers
    scheme = headers.get("X-Forwarded-Proto", "https")
    host = headers.get("Host", "")
    return f"{scheme}://{host}{_links().prefix}{path}"


def _wants_html() -> bool:
    return "text/html" in app.current_event.headers.get("Accept", "")


# A page's links may carry the caller's token (button links): no Referer may take it to another site, and no
# shared cache may keep the page.
_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _html(body: str, status: int = HTTPStatus.OK) -> Response[str]:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=_PAGE_HEADERS)


def _problem(status: int, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=Problem(message=message, **extra).model_dump(exclude_none=True),
    )


def _unknown_flow(flow: str) -> Response[dict[str, Any]]:
    flows = list(api_services_for().invoker.flows)
    return _problem(HTTPStatus.NOT_FOUND, f"unknown flow {flow!r}; flows: {', '.join(flows)}", flows=flows)


def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    """422 naming each bad field (`body.preview`, `query.limit`…) and what is wrong with it."""
    fields = [{"field": field, "problem": problem} for field, problem in field_problems(error)]
    return Response(
        status_code=HTTPStatus.UNPROCESSABLE_ENTITY,
        content_type=content_types.APPLICATION_JSON,
        body={"message": f"invalid request: {describe(error)}", "fields": fields},
    )


def _unsupported_body(error: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    """415: the API reads JSON bodies only (a form or a text body is refused, not a server error)."""
    return _problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")


def _unreadable_body(error: ValueError) -> Response[dict[str, Any]]:
    """400: a body the request parser cannot read at all (e.g. multipart without its boundary). Anything else
    raising ValueError is a bug: it is logged with its traceback and still answered as a refusal, not a 502."""
    logger.warning(f"unreadable request: {error}", extra={"event": "api.bad_request"}, exc_info=error)
    return _problem(HTTPStatus.BAD_REQUEST, f"the request could not be read: {error}")


def _refused(error: ConnectorError) -> Response[dict[str, Any]]:
    """The connector's own errors, answered in one place: a page cursor it did not return is a 422 naming the
    `cursor` parameter like any invalid parameter; any other is a bug or a broken deployment, raised (Lambda
    logs it, API Gateway answers 502)."""
    if isinstance(error, InvalidCursor):
        return _invalid_request(
            RequestValidationError([{"loc": ("query", "cursor"), "msg": str(error), "type": "value_error"}])
        )
    raise error


# Registered by a call, not a decorator: Powertools' decorator is untyped.
app.exception_handler(RequestValidationError)(_invalid_request)
app.exception_handler(RequestUnsupportedContentType)(_unsupported_body)
app.exception_handler(ValueError)(_unreadable_body)
app.exception_handler(ConnectorError)(_refused)


# --- Pages ------------------------------------------------------------------------------------------------------


def _schedules(services: ApiServices) -> list[ScheduleStatus]:
    """Each deployed schedule's state and next run (Scheduler does not give it: computed from the expression)."""

    def last_scheduled(ref: ScheduleRef) -> datetime | None:
        for record in services.runs.list(ref.flow, limit=SCHEDULED_RUNS_SEEN)[0]:
            if record.schedule == ref.name and record.scheduled_time:
                return datetime.fromisoformat(record.scheduled_time)
        return None

    now = datetime.fromtimestamp(run_records.timing.clock(), UTC)
    refs = schedule_refs(environment().SCHEDULES)
    return [read_schedule(services.scheduler, ref, now, last_scheduled) for ref in refs]


@app.get("/", summary="Status page: schedules, last configuration check, recent runs and a button per flow")
def status_page() -> Response[str]:
    services = api_services_for()
    runs = {flow: _alive(services.runs.list(flow, limit=RECENT_RUNS)[0]) for flow in services.invoker.flows}
    page = pages.status_page(runs, _links(), schedules=_schedules(services), check=CheckStore(services.table).last())
    return _html(page)


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    document = app.get_openapi_json_schema(
        title="Fastmag → Le New Black connector", version="1", description="Export buttons and runs."
    )
    return Response(status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=document)


@app.get("/exports/<flow>", summary="Confirm page of an export button (nothing runs)")
def confirm_export(flow: str) -> Response[Any]:
    if flow not in api_services_for().invoker.flows:
        return _unknown_flow(flow)
    return _html(pages.confirm_page(flow, _links()))


# --- Runs ---------------------------------------------------------------------------------------------------------


def _start(request: FlowRequest) -> Response[Any]:
    """Queue the run (one conditional write) and hand it to its flow function; 202 with its address."""
    services = api_services_for()
    record = RunRecord.queued(request)
    request = request.model_copy(update={"run_id": record.run_id})
    if not services.runs.queue(record):  # pragma: no cover - a fresh random id
        return _problem(HTTPStatus.CONFLICT, f"run {record.run_id} exists already")
    bind_run(flow=record.flow, run_id=record.run_id, trigger=record.trigger)
    try:
        services.invoker.invoke(record.flow, request.model_dump(mode="json", exclude_none=True))
    except Exception as error:  # the run never started: say so on its record and to the caller
        logger.exception(f"could not start the {record.flow} run", extra={"event": "run.not_started"})
        message = f"could not start the {record.flow} flow: {error}"
        services.runs.fail_queued(record, message)
        return _problem(HTTPStatus.BAD_GATEWAY, message)
    logger.info(f"run {record.run_id} queued", extra={"event": "run.queued", "key": record.run_id})
    links = _links()
    started = RunStarted(
        run_id=record.run_id,
        status=RunStatus.QUEUED,
        status_url=_absolute(f"/runs/{record.run_id}"),
        page_url=links.url(f"/runs/{record.run_id}"),
    )
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=started.model_dump(mode="json"),
        headers={"Location": started.status_url},
    )


@app.post(
    "/exports/<flow>",
    summary="Start a run of a flow (queued, then run asynchronously)",
    responses={202: {"description": "queued", "content": {"application/json": {"model": RunStarted}}}},
)
def start_export(flow: str, body: Annotated[ExportRequest | None, Body()] = None) -> Response[Any]:
    if flow not in api_services_for().invoker.flows:
        return _unknown_flow(flow)
    choice = body or ExportRequest()
    return _start(FlowRequest.model_validate({"flow": flow, "trigger": "button", **choice.model_dump()}))


@app.get("/runs", summary="Runs, newest first; paginated per flow with `cursor`")
def list_runs(
    flow: Annotated[str | None, Query(description="only this flow's runs (needed to page on)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
) -> Response[Any]:
    services = api_services_for()
    if flow is not None and flow not in services.invoker.flows:
        return _unknown_flow(flow)
    if flow is None:
        # Across flows there is no common cursor: the latest runs of every flow, merged.
        runs = [r for f in services.invoker.flows for r in _alive(services.runs.list(f, limit=limit)[0])]
        runs.sort(key=lambda r: r.queued_at or r.started_at or "", reverse=True)
        page = RunPage(runs=runs[:limit], next=None)
    else:
        records, after = services.runs.list(flow, limit=limit, after=cursor)
        page = RunPage(runs=_alive(records), next=after)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, page.model_dump(mode="json"))


@app.get(
    "/runs/<run_id>",
    summary="One run: counters (updated while it runs), error summary, preview link",
    responses={200: {"description": "the run", "content": {"application/json": {"model": RunDetail}}}},
)
def get_run(run_id: str) -> Response[Any]:
    services = api_services_for()
    found = services.runs.get(run_id)
    if found is None:
        return _problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    (record,) = _alive([found])
    preview_url = services.previews.presigned_url(run_id) if record.preview_key else None
    if _wants_html():
        return _html(pages.run_page(record, preview_url, _links()))
    detail = RunDetail(**record.model_dump(), preview_url=preview_url)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, detail.model_dump(mode="json", exclude_none=True))


@app.post(
    "/runs/<run_id>/apply",
    summary="Send exactly what a preview stored; refused if the data changed since",
    responses={202: {"description": "queued", "content": {"application/json": {"model": RunStarted}}}},
)
def apply_preview(run_id: str) -> Response[Any]:
    services = api_services_for()
    preview = services.runs.get(run_id)
    if preview is None:
        return _problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    if preview.flow not in services.invoker.flows:
        return _unknown_flow(preview.flow)
    refusal = apply_refusal(preview, services.runs)
    if refusal is not None:
        return _problem(HTTPStatus.CONFLICT, refusal)
    fields = {"flow": preview.flow, "full": preview.full, "force": preview.force, "repair": preview.repair}
    return _start(FlowRequest.model_validate({**fields, "trigger": "apply", "apply_run_id": run_id}))


# --- Orders ---------------------------------------------------------------------------------------------------


@app.get(
    "/orders/<reference>",
    summary="The order ledger: exported (Fastmag number) or blocked and why, with its history",
    responses={200: {"description": "the ledger entry", "content": {"application/json": {"model": LedgerEntry}}}},
)
def get_order(reference: str) -> Response[Any]:
    entry = api_services_for().ledger.get(reference)
    if entry is None:
        return _problem(HTTPStatus.NOT_FOUND, f"order {reference} was never seen by the connector")
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, entry.model_dump(mode="json", exclude_none=True))
