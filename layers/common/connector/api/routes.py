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

from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from connector import runs as run_records
from connector.api import keys_routes, pages, reports
from connector.api.auth import (
    LINK_CODE_PARAMETER,
    Caller,
    Refusal,
    Refused,
    confirm_ticket,
    link_caller,
    new_session,
    session_cookie,
)
from connector.api.html import View
from connector.api.resolver import (
    absolute_url,
    app,
    authorized_caller,
    current_request_id,
    html_response,
    now_seconds,
    page_caller,
    problem,
    refusal_response,
    request_links,
    request_view,
    unknown_flow,
    wants_html,
)
from connector.api.run_html import (
    PROBLEM_OUTCOMES,
    PreviewReview,
    PreviewView,
    RecordsView,
    ledger_page,
    run_page,
)
from connector.api.status_html import FlowHealth, history_page
from connector.api.status_html import status_page as render_status_page
from connector.check_report import CheckStore
from connector.config import environment, load_api_access
from connector.events import FlowRequest
from connector.ledger import LedgerEntry, LedgerStatus
from connector.observability import bind_run, logger
from connector.previews import Change, apply_refusal, read_preview
from connector.runs import FINISHED, RunRecord, RunStatus, RunStore
from connector.schedules import ScheduleRef, ScheduleStatus, read_schedule, schedule_refs
from connector.services import ApiServices, api_services_for
from connector.state import is_missing
from connector.task_log import Outcome, TaskLogEntry, TaskLogMissing, entry_filter, page_of

RECENT_RUNS = 5
# Runs of a flow searched for its last success (the status page's health header).
HEALTH_RUNS = 20
# Pages of runs read to fill one page of a status filter's history (runs are not indexed by status).
FILTER_PAGES = 5
# Runs of a flow searched for its rate schedule's last tick (a rate fires every N from its last tick).
SCHEDULED_RUNS_SEEN = 20
# Items per page of a run page's lists (a preview's items, a run's records).
PAGE_ITEMS = 50


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


def _alive(records: list[RunRecord]) -> list[RunRecord]:
    """Records as they are: a run that stopped heartbeating, or never started, is closed as lost when read."""
    store, now = api_services_for().runs, run_records.timing.clock()
    return [store.close_if_lost(record, now=now) for record in records]


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
    caller = page_caller()
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
    return html_response(render_status_page(flows, request_view(caller), schedules=schedules, check=check))


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
            return refusal_response(refused.reason)
        caller: Caller | Response[Any] = Caller(
            principal=link.principal, flow=link.flow, link=link.link, csrf=confirm_ticket(access, link, now_seconds())
        )
    else:
        caller = page_caller(flow)
    if isinstance(caller, Response):
        return caller
    if flow not in api_services_for().invoker.flows:
        return unknown_flow(flow)
    return html_response(pages.confirm_page(flow, request_view(caller)))


# --- Runs ---------------------------------------------------------------------------------------------------------


def _start(request: FlowRequest, caller: Caller) -> Response[Any]:
    """Queue the run (one conditional write) and hand it to its flow function; 202 with its address. A caller
    confirming from a link's page gets its session cookie with the answer."""
    services = api_services_for()
    record = RunRecord.queued(request)
    request = request.model_copy(update={"run_id": record.run_id})
    if not services.runs.queue(record):  # pragma: no cover - a fresh random id
        return problem(HTTPStatus.CONFLICT, f"run {record.run_id} exists already")
    bind_run(flow=record.flow, run_id=record.run_id, trigger=record.trigger)
    try:
        services.invoker.invoke(record.flow, request.model_dump(mode="json", exclude_none=True))
    except Exception as error:  # the run never started: say so on its record and to the caller
        logger.exception(f"could not start the {record.flow} run: {error}", extra={"event": "run.not_started"})
        message = f"could not start the {record.flow} flow: quote the request id to support"
        services.runs.fail_queued(record, f"{message} ({current_request_id()})")
        return problem(HTTPStatus.BAD_GATEWAY, message)
    logger.info(f"run {record.run_id} queued", extra={"event": "run.queued", "key": record.run_id})
    links = request_links(caller)
    started = RunStarted(
        run_id=record.run_id,
        status=RunStatus.QUEUED,
        status_url=absolute_url(f"/runs/{record.run_id}"),
        page_url=links.url(f"/runs/{record.run_id}"),
    )
    cookies = []
    if caller.confirming:
        access = load_api_access()
        session = new_session(access, caller, now_seconds())
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
    caller = authorized_caller()
    if not caller.may_run(flow):  # the authorizer refuses it already; a second look costs nothing
        return refusal_response(Refusal.WRONG_FLOW)
    if flow not in api_services_for().invoker.flows:
        return unknown_flow(flow)
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
    caller = page_caller()
    if isinstance(caller, Response):
        return caller
    services = api_services_for()
    if flow is not None and flow not in services.invoker.flows:
        return unknown_flow(flow)
    if flow is None:
        # Across flows there is no common cursor: the latest runs of every flow, merged.
        runs = [r for f in services.invoker.flows for r in _alive(services.runs.list(f, limit=limit)[0])]
        runs = [r for r in runs if status is None or r.status == status]
        runs.sort(key=lambda r: r.queued_at or r.started_at or "", reverse=True)
        page = RunPage(runs=runs[:limit], next=None)
    else:
        records, after = _filtered(services.runs, flow, limit, cursor, status)
        if wants_html():
            return html_response(
                history_page(flow, records, request_view(caller), status=status, cursor=cursor, after=after)
            )
        page = RunPage(runs=records, next=after)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, page.model_dump(mode="json"))


@dataclass(frozen=True)
class ListQuery:
    """What a run page's lists show: a preview's items of `change`, or the run's records of `outcome` (the
    problems when None), whose key contains `q`, from `offset`."""

    change: Change | None = None
    outcome: Outcome | None = None
    q: str | None = None
    offset: int = 0


@app.get(
    "/runs/<run_id>",
    summary="One run: counters (updated while it runs), error summary, preview link",
    responses={200: {"description": "the run", "content": {"application/json": {"model": RunDetail}}}},
)
def get_run(
    run_id: str,
    change: Annotated[Change | None, Query(description="page: only a preview's items of this change")] = None,
    outcome: Annotated[Outcome | None, Query(description="page: only the run's records of this outcome")] = None,
    q: Annotated[str | None, Query(description="page: only keys containing this text", max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, description="page: the lists' first item")] = 0,
) -> Response[Any]:
    caller = page_caller()
    if isinstance(caller, Response):
        return caller
    services = api_services_for()
    found = services.runs.get(run_id)
    if found is None:
        return problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    (record,) = _alive([found])
    # Minted on every read: a page reloaded after the link's 15 minutes gets a fresh one.
    preview_url = services.previews.presigned_url(run_id) if record.preview_key else None
    if wants_html():
        listing = ListQuery(change=change, outcome=outcome, q=(q or "").strip() or None, offset=offset)
        return html_response(_run_page(services, record, preview_url, request_view(caller), listing))
    detail = RunDetail(**record.model_dump(), preview_url=preview_url)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, detail.model_dump(mode="json", exclude_none=True))


def _preview_view(services: ApiServices, record: RunRecord, preview_url: str | None, listing: ListQuery) -> PreviewView:
    if not record.preview_key:
        return PreviewView(None, 0, 0, apply_refusal(record, services.runs))
    try:
        content = read_preview(services.previews, record.run_id)
    except ClientError as error:
        if not is_missing(error):
            raise
        # Previews expire before their run records: the page still answers, offering a new preview.
        gone = f"preview {record.run_id} is no longer stored (stored previews expire): run a new preview"
        return PreviewView(None, 0, 0, gone)
    resources = content.summary.resources.values()
    items = content.page(change=listing.change, q=listing.q, offset=listing.offset, limit=PAGE_ITEMS)
    return PreviewView(
        preview_url,
        sum(counts.new for counts in resources),
        sum(counts.changed for counts in resources),
        apply_refusal(record, services.runs),
        PreviewReview(content.summary, items, listing.change, listing.q),
    )


def _records_view(services: ApiServices, record: RunRecord, listing: ListQuery) -> RecordsView:
    """One page of the run's task log: the problems, or the entries of one outcome."""
    try:
        entries = services.task_logs.read(record.run_id)
    except TaskLogMissing:
        return RecordsView(None, listing.outcome, listing.q)
    keyed = entry_filter(listing.outcome, listing.q)

    def match(entry: TaskLogEntry) -> bool:
        return keyed(entry) and (listing.outcome is not None or entry.outcome in PROBLEM_OUTCOMES)

    return RecordsView(page_of(entries, match, offset=listing.offset, limit=PAGE_ITEMS), listing.outcome, listing.q)


def _run_page(services: ApiServices, record: RunRecord, preview_url: str | None, view: View, listing: ListQuery) -> str:
    preview = _preview_view(services, record, preview_url, listing) if record.preview else None
    # A preview's records are its items; another run's are in its task log once it has finished.
    records = _records_view(services, record, listing) if not record.preview and record.status in FINISHED else None
    orders: list[LedgerEntry] = []
    if record.flow == "orders" and not record.preview and record.started_at:
        until = record.finished_at or datetime.fromtimestamp(run_records.timing.clock(), UTC).isoformat()
        orders = services.ledger.moved_by(record.run_id, record.started_at, until)
    return run_page(record, view, preview=preview, orders=orders, records=records)


@app.post(
    "/runs/<run_id>/apply",
    summary="Send exactly what a preview stored; refused if the data changed since",
    responses={202: {"description": "queued", "content": {"application/json": {"model": RunStarted}}}},
)
def apply_preview(run_id: str) -> Response[Any]:
    caller = authorized_caller()
    services = api_services_for()
    preview = services.runs.get(run_id)
    if preview is None:
        return problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    if not caller.may_run(preview.flow):
        return refusal_response(Refusal.WRONG_FLOW)
    if preview.flow not in services.invoker.flows:
        return unknown_flow(preview.flow)
    refusal = apply_refusal(preview, services.runs)
    if refusal is not None:
        return problem(HTTPStatus.CONFLICT, refusal)
    fields = {"flow": preview.flow, "full": preview.full, "force": preview.force, "repair": preview.repair}
    return _start(FlowRequest.model_validate({**fields, "trigger": "apply", "apply_run_id": run_id}), caller)


# --- Orders ---------------------------------------------------------------------------------------------------


@app.get(
    "/orders/<reference>",
    summary="The order ledger: exported (Fastmag number) or blocked and why, with its history",
    responses={200: {"description": "the ledger entry", "content": {"application/json": {"model": LedgerEntry}}}},
)
def get_order(reference: str) -> Response[Any]:
    caller = page_caller()
    if isinstance(caller, Response):
        return caller
    entry = api_services_for().ledger.get(reference)
    if entry is None:
        return problem(HTTPStatus.NOT_FOUND, f"order {reference} was never seen by the connector")
    if wants_html():
        return html_response(ledger_page(entry, request_view(caller)))
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, entry.model_dump(mode="json", exclude_none=True))


app.include_router(reports.router)
app.include_router(keys_routes.router)
