"""Reports and records behind a run (the readiness report, a run's task log) and one key's history: the
export API's read-only routes beyond the runs themselves, on the resolver's request context."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from connector import runs as run_records
from connector.api.html import Links, View
from connector.api.resolver import (
    html_response,
    page_caller,
    problem,
    request_links,
    request_view,
    wants_html,
)
from connector.api.security import page_headers
from connector.config import environment
from connector.keys import HistoryAnswer, InvalidKey, bounded_since, history_source
from connector.services import api_services_for
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

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated


# --- Readiness report -----------------------------------------------------------------------------------------


@router.get(
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
    caller = page_caller()
    if isinstance(caller, Response):
        return caller
    return _readiness_report(run_id, check, offset, limit, links=request_links(caller), csv=format == "csv")


def _readiness_report(
    run_id: str, check: str | None, offset: int, limit: int, *, links: Links, csv: bool
) -> Response[Any]:
    from connector.api.readiness_page import readiness_page
    from connector.flows.readiness_report import BY_NAME, ReportNotFound, ReportStore, to_csv

    services = api_services_for()
    record = services.runs.get(run_id)
    if record is None or record.flow != "readiness":
        return problem(HTTPStatus.NOT_FOUND, f"no readiness run {run_id}")
    if check is not None and check not in BY_NAME:
        return problem(HTTPStatus.BAD_REQUEST, f"unknown check {check!r}; checks: {', '.join(BY_NAME)}")
    store = ReportStore(services.s3, services.bucket)
    try:
        if csv:
            items = [item for item in store.read(run_id) if check is None or item.check == check]
            headers = {**page_headers(), "Content-Disposition": f'attachment; filename="readiness-{run_id}.csv"'}
            return Response(HTTPStatus.OK, "text/csv; charset=utf-8", to_csv(items), headers=headers)
        page = store.page(run_id, check=check, offset=offset, limit=limit)
    except ReportNotFound as error:
        return problem(HTTPStatus.NOT_FOUND, f"{error} (the run has not finished, or its report expired)")
    checks = record.checks or {}
    if wants_html():
        return html_response(readiness_page(run_id, checks, page, check, links))
    body = {
        "run_id": run_id,
        "status": record.status,
        "checks": checks,
        "items": [item.__dict__ for item in page.items],
        "total": page.total,
        "next_offset": page.next_offset,
    }
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, body)


# --- Reconcile report -----------------------------------------------------------------------------------------


@router.get(
    "/reconcile/<run_id>",
    summary="A reconcile run's drift report: counts per resource, records grouped by resource (paged), old → new; "
    "`format=csv` downloads it all",
)
def get_reconcile_report(
    run_id: str,
    resource: Annotated[str | None, Query(description="only this resource's records", max_length=40)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    format: Annotated[str | None, Query(description="csv: the whole report (or resource) as CSV")] = None,
) -> Response[Any]:
    caller = page_caller()
    if isinstance(caller, Response):
        return caller
    return _reconcile_report(run_id, resource, offset, limit, view=request_view(caller), csv=format == "csv")


def _reconcile_report(
    run_id: str, resource: str | None, offset: int, limit: int, *, view: View, csv: bool
) -> Response[Any]:
    from connector.api import reconcile_page as pages

    services = api_services_for()
    record = services.runs.get(run_id)
    if record is None or record.report_key is None:
        return problem(HTTPStatus.NOT_FOUND, f"no reconcile report for run {run_id} (not a reconcile, or not finished)")
    try:
        report = list(services.previews.read_key(record.report_key))
    except services.s3.exceptions.NoSuchKey:
        return problem(HTTPStatus.NOT_FOUND, f"the report of run {run_id} expired")
    resources = pages.summary_of(report)
    if resource is not None and resource not in resources:
        return problem(HTTPStatus.BAD_REQUEST, f"unknown resource {resource!r}; resources: {', '.join(resources)}")
    if csv:
        headers = {**page_headers(), "Content-Disposition": f'attachment; filename="reconcile-{run_id}.csv"'}
        body = pages.to_csv(pages.drifted(report, resource))
        return Response(HTTPStatus.OK, "text/csv; charset=utf-8", body, headers=headers)
    shown = pages.report_page(report, resource, offset, limit)
    if wants_html():
        return html_response(pages.reconcile_page(view, record, shown, resource))
    answer = {
        "run_id": run_id,
        "status": record.status,
        "summary": shown.summary,
        "items": shown.lines,
        "total": shown.total,
        "next_offset": shown.next_offset,
    }
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, answer)


# --- Task logs and key history (what each record became; one key across runs) --------------------------------

# Lambda answers at most 6 MB: a larger download is the stored file itself, through a presigned link.
MAX_DOWNLOAD_BYTES = 5_000_000


def _task_log(run_id: str) -> list[TaskLogEntry] | Response[dict[str, Any]]:
    """The run's task log entries (none if the run logged no record outcome), or a 404 if there is no run."""
    services = api_services_for()
    if services.runs.get(run_id) is None:
        return problem(HTTPStatus.NOT_FOUND, f"no run {run_id}")
    try:
        return services.task_logs.read(run_id)
    except TaskLogMissing:
        return []


@router.get(
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


@router.get("/runs/<run_id>/log.jsonl", summary="A run's task log as JSON Lines")
def run_log_jsonl(run_id: str) -> Response[Any]:
    entries = _task_log(run_id)
    if isinstance(entries, Response):
        return entries
    return _download(run_id, to_jsonl(entries), "application/x-ndjson; charset=utf-8", "jsonl")


@router.get("/runs/<run_id>/log.csv", summary="A run's task log as CSV (cells a spreadsheet would compute are inert)")
def run_log_csv(run_id: str) -> Response[Any]:
    entries = _task_log(run_id)
    if isinstance(entries, Response):
        return entries
    return _download(run_id, to_csv(entries), "text/csv; charset=utf-8", "csv")


@router.get(
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
        return problem(HTTPStatus.UNPROCESSABLE_ENTITY, str(error))
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, answer.model_dump(mode="json"))


def _utc_now() -> datetime:
    return datetime.fromtimestamp(run_records.timing.clock(), UTC)
