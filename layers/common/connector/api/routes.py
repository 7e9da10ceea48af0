"""The export API's routes (ARCHITECTURE §8), resolved by ApiFunction.

Every POST and the OpenAPI document are behind the authorizer (connector.api.auth); the routes a browser opens
(status, confirm, run, run history, order ledger, readiness report: each answers JSON to a script and HTML to a
browser) are not, and check their caller here with the same code, so that a refused browser reads what to do
rather than API Gateway's JSON. Error bodies carry a stable message and the request id (also the log lines' correlation
id), never an exception's text.

Nothing long runs here: `POST /exports/{flow}` and `POST /runs/{run_id}/apply` write a queued run record and
hand the run to its flow function asynchronously, answering 202 with the run's address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from connector import runs as run_records
from connector.api import pages
from connector.api.auth import (
    LINK_CODE_PARAMETER,
    Caller,
    Refusal,
    Refused,
    Request,
    caller_of_context,
    confirm_ticket,
    identify,
    link_caller,
    new_session,
    session_cookie,
)
from connector.api.html import Links, View
from connector.api.i18n import Language, preferred_language
from connector.api.run_html import PreviewView, ledger_page, run_page
from connector.api.security import page_headers, refusal_message, refusal_page
from connector.api.status_html import FlowHealth, history_page
from connector.api.status_html import status_page as render_status_page
from connector.check_report import CheckStore
from connector.config import environment, load_api_access
from connector.errors import ConnectorError, describe, field_problems
from connector.events import FlowRequest
from connector.keys import HistoryAnswer, InvalidKey, bounded_since, history_source
from connector.ledger import LedgerEntry, LedgerStatus
from connector.observability import bind_run, logger
from connector.previews import apply_refusal
from connector.runs import FINISHED, InvalidCursor, RunRecord, RunStatus, RunStore
from connector.schedules import ScheduleRef, ScheduleStatus, read_schedule, schedule_refs
from connector.services import ApiServices, api_services_for
from connector.state import is_missing
from connector.task_log import (
    MAX_PAGE,
    Outcome,
    Page,
    TaskLogEntry,
    TaskLogMissing,
    entry_filter,
    page_of,
    to_csv,
    to_jsonl,
)

RECENT_RUNS = 5
# Runs of a flow searched for its last success (the status page's health header).
HEALTH_RUNS = 20
# Pages of runs read to fill one page of a status filter's history (runs are not indexed by status).
FILTER_PAGES = 5
# Runs of a flow searched for its rate schedule's last tick (a rate fires every N from its last tick).
SCHEDULED_RUNS_SEEN = 20

app = APIGatewayRestResolver(enable_validation=True)


class ExportRequest(BaseModel):
    """What the confirm page posts; `{}` starts an incremental run, no body at all is refused. Booleans are
    strict: `"yes"`, `"false"` or `1` are refused, not read as true."""

    model_config = ConfigDict(extra="forbid")

    preview: StrictBool = Field(default=False, description="store the would-be writes, send nothing")
    full: StrictBool = Field(default=False, description="send every record, not only what changed")
    force: StrictBool = Field(default=False, description="let a stock push through the zero-stock guard")
    repair: StrictBool = Field(default=False, description="reconcile: send the differences found (honours preview)")


class RunStarted(BaseModel):
    run_id: str
    status: RunStatus
    status_url: str = Field(description="the run record (JSON with Authorization, HTML in a browser)")
    page_url: str = Field(description="the run's page (a browser opens it with its session cookie)")


class RunPage(BaseModel):
    runs: list[RunRecord]
    next: str | None = Field(description="cursor of the next page (`cursor` query parameter), null at the end")


class RunDetail(RunRecord):
    preview_url: str | None = Field(default=None, description="presigned link to the stored preview (15 min)")


class Problem(BaseModel):
    message: str
    request_id: str | None = Field(default=None, description="quote it to support: the log lines carry it")
    flows: list[str] | None = None


def _alive(records: list[RunRecord]) -> list[RunRecord]:
    """Records as they are: a run that stopped heartbeating, or never started, is closed as lost when read."""
    store, now = api_services_for().runs, run_records.timing.clock()
    return [store.close_if_lost(record, now=now) for record in records]


# --- Request context ----------------------------------------------------------------------------------------


def _prefix() -> str:
    """The API's base path: `/<stage>` on the execute-api domain, a custom domain's base path, or nothing."""
    event = app.current_event
    path = event.path
    full_path = str(event.request_context.path or path)
    if path == "/" and full_path == "/":
        return ""
    return full_path[: -len(path)] if path != "/" and full_path.endswith(path) else full_path.rstrip("/")


def _links(caller: Caller | None = None) -> Links:
    """Links under the API's base path (never with a credential), and the caller's CSRF token for its POSTs."""
    return Links(prefix=_prefix(), csrf=caller.csrf if caller else None)


def _language() -> Language:
    return preferred_language(app.current_event.headers.get("Accept-Language"))


def _view(caller: Caller | None = None) -> View:
    """The caller's links, language (Accept-Language) and the brand's timezone."""
    return View(links=_links(caller), language=_language(), zone=environment().BRAND_TIMEZONE)


def _absolute(path: str) -> str:
    """From the request context's domain, never the Host header (a client writes that one). API Gateway always
    sets X-Forwarded-Proto (https); only the local sandbox serves http."""
    event = app.current_event
    scheme = event.headers.get("X-Forwarded-Proto", "https")
    return f"{scheme}://{event.request_context.domain_name}{_prefix()}{path}"


def _request_id() -> str | None:
    return app.current_event.request_context.request_id


def _refusal(reason: Refusal) -> Response[Any]:
    """A refused caller: a page that says what to do in a browser, the same words as JSON otherwise."""
    status = HTTPStatus.UNAUTHORIZED if reason is Refusal.MISSING else HTTPStatus.FORBIDDEN
    logger.info("page request refused", extra={"event": "api.page_refused", "reason": reason.value})
    if _wants_html():
        return _html(refusal_page(reason, _language()), status)
    return _problem(status, refusal_message(reason, _language()))


def _page_caller(flow: str | None = None) -> Caller | Response[Any]:
    """The caller of a route the authorizer does not guard (the pages), checked with the authorizer's code."""
    try:
        return identify(Request.of(app.current_event.raw_event), load_api_access(), now=_now(), flow=flow)
    except Refused as refused:
        return _refusal(refused.reason)


def _authorized_caller() -> Caller:
    """The caller the authorizer let through (routes behind it)."""
    authorizer = app.current_event.request_context.authorizer
    context = dict(authorizer.raw_event) if authorizer else {}
    return caller_of_context(str(context.get("principalId") or ""), context)


def _now() -> float:
    return run_records.timing.clock()


def _wants_html() -> bool:
    return "text/html" in app.current_event.headers.get("Accept", "")


def _html(body: str, status: int = HTTPStatus.OK) -> Response[str]:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=page_headers())


def _problem(status: int, message: str, **extra: Any) -> Response[dict[str, Any]]:
    """A refusal or failure: `message` is ours (stable, says what to do), never an exception's text."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=Problem(message=message, request_id=_request_id(), **extra).model_dump(exclude_none=True),
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
        body={"message": f"invalid request: {describe(error)}", "fields": fields, "request_id": _request_id()},
    )


def _unsupported_body(error: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    """415: the API reads JSON bodies only (a form or a text body is refused, not a server error)."""
    return _problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")


def _unreadable_body(error: ValueError) -> Response[dict[str, Any]]:
    """400: a body the request parser cannot read at all (e.g. multipart without its boundary). Anything else
    raising ValueError is a bug: it is logged with its traceback and still answered as a refusal, not a 502. The
    error's text goes to the log only."""
    logger.warning(f"unreadable request: {error}", extra={"event": "api.bad_request"}, exc_info=error)
    return _problem(HTTPStatus.BAD_REQUEST, "the request could not be read: send a JSON body")


def _service_error(error: ServiceError) -> Response[dict[str, Any]]:
    """The resolver's own answers (a path no route matches: 404), with the request id like every refusal."""
    return _problem(error.status_code, str(error.msg) if isinstance(error.msg, str) else "refused")


def _failed(error: Exception) -> Response[dict[str, Any]]:
    """500: a bug or a broken deployment. Its text (an ARN, a SQL fragment…) goes to the log under the request
    id; the caller gets the request id to quote."""
    logger.error(f"api request failed: {error!r}", extra={"event": "api.failed"}, exc_info=error)
    return _problem(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error: quote the request id to support")


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


def _open_problems(services: ApiServices, flow: str, runs: list[RunRecord]) -> int:
    """Stuck orders for the orders flow; for every flow, its last finished run if it failed or was held."""
    last = next((r for r in runs if r.status in FINISHED), None)
    problems = int(last is not None and last.status in {RunStatus.FAILED, RunStatus.HELD})
    if flow == "orders":
        problems += sum(1 for _ in services.ledger.with_status(LedgerStatus.BLOCKED))
    return problems


@app.get("/", summary="Status page: each flow's health and recent runs, schedules, last configuration check")
def status_page() -> Response[Any]:
    caller = _page_caller()
    if isinstance(caller, Response):
        return caller
    services = api_services_for()
    schedules = _schedules(services)
    flows = []
    for flow in services.invoker.flows:
        runs = _alive(services.runs.list(flow, limit=HEALTH_RUNS)[0])
        flows.append(
            FlowHealth(
                flow=flow,
                runs=runs[:RECENT_RUNS],
                last_success=next((r for r in runs if r.status == RunStatus.SUCCEEDED), None),
                schedules=[s for s in schedules if s.ref.flow == flow],
                problems=_open_problems(services, flow, runs),
            )
        )
    check = CheckStore(services.table).last()
    return _html(render_status_page(flows, _view(caller), schedules=schedules, check=check))


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    document = app.get_openapi_json_schema(
        title="Fastmag → Le New Black connector", version="1", description="Export buttons and runs."
    )
    return Response(status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=document)


@app.get("/exports/<flow>", summary="Confirm page of an export button (nothing runs)")
def confirm_export(flow: str) -> Response[Any]:
    """Opened by a Fastmag link (`?code=<link code>`: its Confirm sends a ticket that opens a session) or by a
    browser with a session of this flow. Nothing runs here."""
    code = (app.current_event.query_string_parameters or {}).get(LINK_CODE_PARAMETER)
    if code:
        access = load_api_access()
        try:
            link = link_caller(access, code, flow)
        except Refused as refused:
            return _refusal(refused.reason)
        caller: Caller | Response[Any] = Caller(
            principal=link.principal, flow=link.flow, link=link.link, csrf=confirm_ticket(access, link, _now())
        )
    else:
        caller = _page_caller(flow)
    if isinstance(caller, Response):
        return caller
    if flow not in api_services_for().invoker.flows:
        return _unknown_flow(flow)
    return _html(pages.confirm_page(flow, _view(caller)))


# --- Runs ---------------------------------------------------------------------------------------------------------


def _start(request: FlowRequest, caller: Caller) -> Response[Any]:
    """Queue the run (one conditional write) and hand it to its flow function; 202 with its address. A caller
    confirming from a link's page gets its session cookie with the answer."""
    services = api_services_for()
    record = RunRecord.queued(request)
    request = request.model_copy(update={"run_id": record.run_id})
    if not services.runs.queue(record):  # pragma: no cover - a fresh random id
        return _problem(HTTPStatus.CONFLICT, f"run {record.run_id} exists already")
    bind_run(flow=record.flow, run_id=record.run_id, trigger=record.trigger)
    try:
        services.invoker.invoke(record.flow, request.model_dump(mode="json", exclude_none=True))
    except Exception as error:  # the run never started: say so on its record and to the caller
        logger.exception(f"could not start the {record.flow} run: {error}", extra={"event": "run.not_started"})
        message = f"could not start the {record.flow} flow: quote the request id to support"
        services.runs.fail_queued(record, f"{message} ({_request_id()})")
        return _problem(HTTPStatus.BAD_GATEWAY, message)
    logger.info(f"run {record.run_id} queued", extra={"event": "run.queued", "key": record.run_id})
    links = _links(caller)
    started = RunStarted(
        run_id=record.run_id,
        status=RunStatus.QUEUED,
        status_url=_absolute(f"/runs/{record.run_id}"),
        page_url=links.url(f"/runs/{record.run_id}"),
    )
    cookies = []
    if caller.confirming:
        access = load_api_access()
        session = new_session(access, caller, _now())
        cookies.append(session_cookie(session, path=links.prefix, max_age=access.session_minutes * 60))
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=started.model_dump(mode="json"),
        headers={"Location": started.status_url},
        cookies=cookies,
    )


@app.post(
    "/exports/<flow>",
    summary="Start a run of a flow (queued, then run asynchronously)",
    responses={202: {"description": "queued", "content": {"application/json": {"model": RunStarted}}}},
)
def start_export(flow: str, body: Annotated[ExportRequest, Body()]) -> Response[Any]:
    caller = _authorized_caller()
    if not caller.may_run(flow):  # the authorizer refuses it already; a second look costs nothing
        return _refusal(Refusal.WRONG_FLOW)
    if flow not in api_services_for().invoker.flows:
        return _unknown_flow(flow)
    return _start(FlowRequest.model_validate({"flow": flow, "trigger": "button", **body.model_dump()}), caller)


def _filtered(
    store: RunStore, flow: str, limit: int, cursor: str | None, status: RunStatus | None
) -> tuple[list[RunRecord], str | None]:
    """A page of a flow's runs, only those in `status` when given (reading up to FILTER_PAGES pages to fill it)."""
    records, after = store.list(flow, limit=limit, after=cursor)
    kept = [r for r in _alive(records) if status is None or r.status == status]
    for _ in range(FILTER_PAGES - 1):
        if status is None or after is None or len(kept) >= limit:
            break
        records, after = store.list(flow, limit=limit, after=after)
        kept += [r for r in _alive(records) if r.status == status]
    return kept, after


@app.get("/runs", summary="Runs, newest first; paginated per flow with `cursor`; HTML history in a browser")
def list_runs(
    flow: Annotated[str | None, Query(description="only this flow's runs (needed to page on)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
    status: Annotated[RunStatus | None, Query(description="only runs that ended (or are) in this status")] = None,
) -> Response[Any]:
    caller = _page_caller()
    if isinstance(caller, Response):
        return caller
    services = api_services_for()
    if flow is not None and flow not in services.invoker.flows:
        return _unknown_flow(flow)
    if flow is None:
        # Across flows there is no common cursor: the latest runs of every flow, merged.
        runs = [r for f in services.invoker.flows for r in _alive(services.runs.list(f, limit=limit)[0])]
        runs = [r for r in runs if status is None or r.status == status]
        runs.sort(key=lambda r: r.queued_at or r.started_at or "", reverse=True)
        page = RunPage(runs=runs[:limit], next=None)
    else:
        records, after = _filtered(services.runs, flow, limit, cursor, status)
        if _wants_html():
            return _html(history_page(flow, records, _view(caller), status=status, cursor=cursor, after=after))
        page = RunPage(runs=records, next=after)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, page.model_dump(mode="json"))


@app.get(
    "/runs/<run_id>",
    summary="One run: counters (updated while it runs), error summary, preview link",
    responses={200: {"description": "the run", "content": {"application/json": {"model": RunDetail}}}},
)
def get_run(run_id: str) -> Response[Any]:
    caller = _page_caller()
    if isinstance(caller, Response):
        return caller
    services = api_services_for()
    found = services.runs.get(run_id)
    if found is None:
        return _problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    (record,) = _alive([found])
    # Minted on every read: a page reloaded after the link's 15 minutes gets a fresh one.
    preview_url = services.previews.presigned_url(run_id) if record.preview_key else None
    if _wants_html():
        return _html(_run_page(services, record, preview_url, _view(caller)))
    detail = RunDetail(**record.model_dump(), preview_url=preview_url)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, detail.model_dump(mode="json", exclude_none=True))


def _run_page(services: ApiServices, record: RunRecord, preview_url: str | None, view: View) -> str:
    preview = None
    if record.preview:
        # A stored preview's first line sums its would-be writes by change (runner.py).
        try:
            first = next(services.previews.read(record.run_id), {}) if record.preview_key else {}
        except ClientError as error:
            if not is_missing(error):
                raise
            # Previews expire before their run records: the page still answers, offering a new preview.
            gone = f"preview {record.run_id} is no longer stored (stored previews expire): run a new preview"
            return run_page(record, view, preview=PreviewView(None, 0, 0, gone))
        summary = first.get("summary") or {}
        new, changed = int(summary.get("new", 0)), int(summary.get("changed", 0))
        preview = PreviewView(preview_url, new, changed, apply_refusal(record, services.runs))
    orders: list[LedgerEntry] = []
    if record.flow == "orders" and not record.preview and record.started_at:
        until = record.finished_at or datetime.fromtimestamp(run_records.timing.clock(), UTC).isoformat()
        orders = services.ledger.moved_by(record.run_id, record.started_at, until)
    return run_page(record, view, preview=preview, orders=orders)


@app.post(
    "/runs/<run_id>/apply",
    summary="Send exactly what a preview stored; refused if the data changed since",
    responses={202: {"description": "queued", "content": {"application/json": {"model": RunStarted}}}},
)
def apply_preview(run_id: str) -> Response[Any]:
    caller = _authorized_caller()
    services = api_services_for()
    preview = services.runs.get(run_id)
    if preview is None:
        return _problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    if not caller.may_run(preview.flow):
        return _refusal(Refusal.WRONG_FLOW)
    if preview.flow not in services.invoker.flows:
        return _unknown_flow(preview.flow)
    refusal = apply_refusal(preview, services.runs)
    if refusal is not None:
        return _problem(HTTPStatus.CONFLICT, refusal)
    fields = {"flow": preview.flow, "full": preview.full, "force": preview.force, "repair": preview.repair}
    return _start(FlowRequest.model_validate({**fields, "trigger": "apply", "apply_run_id": run_id}), caller)


# --- Orders ---------------------------------------------------------------------------------------------------


@app.get(
    "/orders/<reference>",
    summary="The order ledger: exported (Fastmag number) or blocked and why, with its history",
    responses={200: {"description": "the ledger entry", "content": {"application/json": {"model": LedgerEntry}}}},
)
def get_order(reference: str) -> Response[Any]:
    caller = _page_caller()
    if isinstance(caller, Response):
        return caller
    entry = api_services_for().ledger.get(reference)
    if entry is None:
        return _problem(HTTPStatus.NOT_FOUND, f"order {reference} was never seen by the connector")
    if _wants_html():
        return _html(ledger_page(entry, _view(caller)))
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, entry.model_dump(mode="json", exclude_none=True))


# --- Readiness report -----------------------------------------------------------------------------------------


@app.get(
    "/readiness/<run_id>",
    summary="A readiness report: count per check, items grouped by check (paged); `format=csv` downloads it all",
)
def get_readiness_report(
    run_id: str,
    check: Annotated[str | None, Query(description="only this check's items")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    format: Annotated[str | None, Query(description="csv: the whole report (or check) as CSV")] = None,
) -> Response[Any]:
    caller = _page_caller()
    if isinstance(caller, Response):
        return caller
    return _readiness_report(run_id, check, offset, limit, links=_links(caller), csv=format == "csv")


def _readiness_report(
    run_id: str, check: str | None, offset: int, limit: int, *, links: Links, csv: bool
) -> Response[Any]:
    from connector.api.readiness_page import readiness_page
    from connector.flows.readiness_report import BY_NAME, ReportNotFound, ReportStore, to_csv

    services = api_services_for()
    record = services.runs.get(run_id)
    if record is None or record.flow != "readiness":
        return _problem(HTTPStatus.NOT_FOUND, f"no readiness run {run_id}")
    if check is not None and check not in BY_NAME:
        return _problem(HTTPStatus.BAD_REQUEST, f"unknown check {check!r}; checks: {', '.join(BY_NAME)}")
    store = ReportStore(services.s3, services.bucket)
    try:
        if csv:
            items = [item for item in store.read(run_id) if check is None or item.check == check]
            headers = {**page_headers(), "Content-Disposition": f'attachment; filename="readiness-{run_id}.csv"'}
            return Response(HTTPStatus.OK, "text/csv; charset=utf-8", to_csv(items), headers=headers)
        page = store.page(run_id, check=check, offset=offset, limit=limit)
    except ReportNotFound as error:
        return _problem(HTTPStatus.NOT_FOUND, f"{error} (the run has not finished, or its report expired)")
    checks = record.checks or {}
    if _wants_html():
        return _html(readiness_page(run_id, checks, page, check, links))
    body = {
        "run_id": run_id,
        "status": record.status,
        "checks": checks,
        "items": [item.__dict__ for item in page.items],
        "total": page.total,
        "next_offset": page.next_offset,
    }
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, body)


# --- Task logs and key history (what each record became; one key across runs) --------------------------------

# Lambda answers at most 6 MB: a larger download is the stored file itself, through a presigned link.
MAX_DOWNLOAD_BYTES = 5_000_000


def _task_log(run_id: str) -> list[TaskLogEntry] | Response[dict[str, Any]]:
    """The run's task log entries (none if the run logged no record outcome), or a 404 if there is no run."""
    services = api_services_for()
    if services.runs.get(run_id) is None:
        return _problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    try:
        return services.task_logs.read(run_id)
    except TaskLogMissing:
        return []


@app.get(
    "/runs/<run_id>/items",
    summary="A run's record outcomes (task log), filtered by outcome, searched by key, paged",
    responses={200: {"description": "one page", "content": {"application/json": {"model": Page[TaskLogEntry]}}}},
)
def run_items(
    run_id: str,
    outcome: Annotated[Outcome | None, Query(description="only this outcome (sent, rejected, skipped…)")] = None,
    q: Annotated[str | None, Query(description="only keys containing this text", max_length=200)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Response[Any]:
    entries = _task_log(run_id)
    if isinstance(entries, Response):
        return entries
    page = page_of(entries, entry_filter(outcome, q), offset=offset, limit=limit)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, page.model_dump(mode="json"))


def _download(run_id: str, body: str, content_type: str, extension: str) -> Response[Any]:
    if len(body.encode()) > MAX_DOWNLOAD_BYTES:
        url = api_services_for().task_logs.presigned_url(run_id)
        return Response(HTTPStatus.SEE_OTHER, content_types.APPLICATION_JSON, {"url": url}, headers={"Location": url})
    disposition = f'attachment; filename="run-{run_id}.{extension}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return Response(HTTPStatus.OK, content_type, body, headers=headers)


@app.get("/runs/<run_id>/log.jsonl", summary="A run's task log as JSON Lines")
def run_log_jsonl(run_id: str) -> Response[Any]:
    entries = _task_log(run_id)
    if isinstance(entries, Response):
        return entries
    return _download(run_id, to_jsonl(entries), "application/x-ndjson; charset=utf-8", "jsonl")


@app.get("/runs/<run_id>/log.csv", summary="A run's task log as CSV (cells a spreadsheet would compute are inert)")
def run_log_csv(run_id: str) -> Response[Any]:
    entries = _task_log(run_id)
    if isinstance(entries, Response):
        return entries
    return _download(run_id, to_csv(entries), "text/csv; charset=utf-8", "csv")


@app.get(
    "/keys/<key>/history",
    summary="One key's history across runs: starts a search (answer `running` + `query_id`), poll with `query_id`",
    responses={200: {"description": "the search", "content": {"application/json": {"model": HistoryAnswer}}}},
)
def key_history(
    key: str,
    since: Annotated[datetime | None, Query(description="from (ISO); at most keys.MAX_DAYS days back")] = None,
    query_id: Annotated[str | None, Query(description="the `query_id` a running answer gave", max_length=100)] = None,
) -> Response[Any]:
    source = history_source(api_services_for().task_logs, environment().LOG_GROUP)
    try:
        answer = source.poll(key, query_id) if query_id else source.start(key, bounded_since(since, _utc_now()))
    except InvalidKey as error:
        return _problem(HTTPStatus.UNPROCESSABLE_ENTITY, str(error))
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, answer.model_dump(mode="json"))


def _utc_now() -> datetime:
    return datetime.fromtimestamp(run_records.timing.clock(), UTC)
