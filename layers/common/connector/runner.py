"""Runs one flow: the run record's life cycle, the per-flow lock, the preview, the closing log line.

Handlers and the CLI both come through `execute`, so a run behaves the same wherever it starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from connector import runs
from connector.config import load_settings
from connector.errors import ConnectorError
from connector.events import FlowRequest
from connector.flows import FlowFunction, load_flow
from connector.flows.context import FlowContext
from connector.lease import Heartbeat, Lease
from connector.observability import (
    bind_run,
    log_at,
    logger,
    mask_email,
    metrics,
    remote_calls_summarised,
    shorten,
)
from connector.run_log import Run
from connector.runs import RunRecord, RunStatus, RunStore
from connector.services import Services, services_for
from connector.settings import Flow

# The counters an alarm reads (ReconcileDriftAlarm: drift), published only when not zero: the alarm treats
# missing data as not breaching. The dashboard's records widget sums `sent` and `rejected` from the run.finished
# lines instead: as metrics they would cost $0.30 a month each for a graph (the stock tick sends every hour).
PUBLISHED_COUNTERS = ("drift",)
# Flows an alarm expects a run from (StockStaleAlarm, where no datapoint is breaching): each of their runs that
# pushed (succeeded or partial, even with nothing to send) publishes HEARTBEAT_METRIC. Other outcomes are in the
# run.finished line (the dashboard's runs widget queries it); failures also reach FlowFailureQueue.
HEARTBEAT_FLOWS = frozenset({"stock"})
HEARTBEAT_METRIC = "pushed"


class RunFailed(ConnectorError):
    """Raised by a handler when its run failed, so Lambda's on-failure destination receives it."""


def execute(
    flow_function: FlowFunction,
    request: FlowRequest,
    services: Services,
    on_progress: Callable[[Run], None] | None = None,
    *,
    invocation: str | None = None,
) -> RunRecord:
    """Start the run (one conditional write), take the flow's lock, run it under a renewed lease, finish it.

    `invocation` is the holder this delivery writes as: a uuid of its own (not Lambda's request id, which a
    retried asynchronous event keeps), so two deliveries of one run can tell each other apart.
    """
    settings = runs.timing
    holder = invocation or uuid.uuid4().hex
    run_id = request.resolved_run_id()
    bind_run(flow=request.flow, run_id=run_id, trigger=request.trigger)
    store = services.runs
    now = settings.clock()
    # The local view starts before the table's lease is written, so it never outlives it.
    lease = Lease(settings.lease_seconds, settings.clock)
    record = RunRecord.running(request, run_id, holder=holder, now=now, lease_seconds=settings.lease_seconds)
    started = store.start(record)
    if started is None:
        # Another delivery of this run (an at-least-once duplicate, a Scheduler retry) started it first: the
        # record is that delivery's, and this one writes nothing at all.
        existing = store.get(run_id)
        found = existing.status if existing else "gone"
        logger.info(
            f"run {run_id} was already started by another delivery ({found}): not running it twice",
            extra={"event": "run.duplicate", "key": run_id, "execution_id": request.execution_id},
        )
        if existing is None:  # pragma: no cover - expired by TTL between the two reads
            raise RunFailed(f"run {run_id} vanished while its duplicate delivery read it")
        return existing
    record = started
    if not services.locks.acquire(request.flow, holder, run_id=run_id, now=now, lease_seconds=settings.lease_seconds):
        other = services.locks.holder(request.flow, now=now) or "unknown"
        busy = f"another {request.flow} run ({other}) is in progress"
        return _finish(store, record.finished(RunStatus.SKIPPED, busy))
    # Holding the lock, this run is the flow's next run: whatever still looks alive without a lease is lost.
    store.close_lost_runs(request.flow, now=now)
    run = Run(request, run_id, store, on_progress, lease=lease, holder=holder)
    context = FlowContext(services, run)
    status: RunStatus
    message: str | None = None

    def renew(at: float, seconds: float) -> str | None:
        if not services.locks.renew(request.flow, holder, now=at, lease_seconds=seconds):
            return f"the {request.flow} lock expired or was taken over"
        if not store.renew(run_id, holder, now=at, lease_seconds=seconds):
            return "the run record is no longer this run's (closed as lost?)"
        return None

    try:
        try:
            with (
                remote_calls_summarised(),
                Heartbeat(run_id=run_id, renew=renew, lease=lease, settings=settings),
                run.recording(),
            ):
                flow_function(context)
            status = run.final_status()
            message = run.message
        except Exception as error:
            # A remote's error text may quote a buyer's email or a whole broken value: masked and cut, like any reason.
            message = shorten(mask_email(str(error)))
            logger.exception(f"{request.flow} run failed: {message}", extra={"event": "run.failed"})
            run.problem(f"run failed: {message}")
            status = RunStatus.FAILED
        return _close(context, record, status, message, lease.lost_reason)
    finally:
        run.task_log.close()  # its spool file, stored or not
        # Released once the run is recorded finished (or failed to be): a run that takes the lock next never
        # finds this one still running.
        services.locks.release(request.flow, holder)


def _close(
    context: FlowContext, record: RunRecord, status: RunStatus, message: str | None, lost_reason: str | None
) -> RunRecord:
    """The run's last writes: its preview and task log stored, its record finished (failed if its lease was lost)."""
    services, run, request = context.services, context.run, context.run.request
    run_id, store = record.run_id, services.runs
    if lost_reason is not None and status != RunStatus.FAILED:
        # It stopped writing somewhere, or would have at its next write: what it did not finish is not done.
        message = f"lease lost ({lost_reason})"
        run.problem(f"run failed: {message}")
        status = RunStatus.FAILED
    preview_key = None
    if request.preview and lost_reason is None:
        preview_key = services.previews.write(
            run_id,
            [
                {
                    "summary": _preview_summary(context),
                    "resources": _preview_resources(context),
                    "base": run.preview_bases,
                },
                *context.preview_lines,
                *run.skipped_items,
            ],
        )
    # What each record became, for the run page and a key's history; an idle tick has nothing to write.
    task_log_key = services.task_logs.write(run_id, run.task_log, flow=request.flow)
    record = record.finished(
        status,
        message,
        counters=run.counters,
        errors=dict(run.reasons),
        checks=run.checks or None,
        warnings=dict(run.warning_reasons),
        preview_key=preview_key,
        preview_base=run.preview_base,
        task_log_key=task_log_key,
        report_key=run.report_key,
    )
    return _finish(store, record)


def _finish(store: RunStore, record: RunRecord) -> RunRecord:
    """Write the run's final record if the run still owns it; otherwise what the record says now."""
    if store.finish(record):
        _log_finished(record)
        return record
    current = store.get(record.run_id) or record
    logger.warning(
        f"run {record.run_id} ended {record.status} but its record is no longer its own ({current.status}): "
        "not overwriting it",
        extra={"event": "run.fenced", "key": record.run_id, "reason": current.message},
    )
    return current


def _preview_summary(context: FlowContext) -> dict[str, int]:
    summary = {"new": 0, "changed": 0, "unchanged": context.run.counters.unchanged}
    for line in context.preview_lines:
        change = str(line.get("change", "changed"))
        summary[change] = summary.get(change, 0) + 1
    summary["skipped"] = context.run.counters.skipped
    summary["warnings"] = context.run.counters.warnings
    return summary


def _preview_resources(context: FlowContext) -> dict[str, dict[str, int]]:
    """new / changed / unchanged per resource (a products run previews fabrics and products)."""
    unchanged = context.run.unchanged_by_resource
    resources = {name: {"new": 0, "changed": 0, "unchanged": count} for name, count in unchanged.items()}
    for line in context.preview_lines:
        resource, change = line.get("resource"), str(line.get("change", "changed"))
        if isinstance(resource, str) and change in {"new", "changed"}:
            counts = resources.setdefault(resource, {"new": 0, "changed": 0, "unchanged": 0})
            counts[change] += 1
    return resources


def _log_finished(record: RunRecord) -> None:
    level = "WARNING" if record.status in {RunStatus.FAILED, RunStatus.HELD, RunStatus.PARTIAL} else "INFO"
    log_at(
        level,
        f"run.finished {record.flow} {record.status}",
        {
            "event": "run.finished",
            "status": str(record.status),
            "reason": record.message,
            **record.counters.model_dump(),
        },
    )
    # Only what an alarm or the dashboard reads is published, and only when it says something: a custom metric is
    # billed for each hour it is published in. The other counters stay in the run.finished line, which Logs
    # Insights sums. An idle tick of a flow without a heartbeat publishes nothing.
    counters = record.counters.model_dump()
    published = {name: counters[name] for name in PUBLISHED_COUNTERS if counters[name]}
    if record.flow in HEARTBEAT_FLOWS and record.status in {RunStatus.SUCCEEDED, RunStatus.PARTIAL}:
        published[HEARTBEAT_METRIC] = 1
    if published:
        metrics.add_dimension(name="flow", value=record.flow)
    for name, value in published.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def handler_for(flow: Flow) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The body of `flow`'s Lambda handler. The flow's module is imported now, in the function's init phase."""
    flow_function = load_flow(flow)

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        """Parse the event, load settings, run the flow, shape the answer."""
        request = FlowRequest.parse(flow, event)
        settings, secret = load_settings()
        invocation = uuid.uuid4().hex
        record = execute(flow_function, request, services_for(settings, secret), invocation=invocation)
        # A duplicate delivery reports the run it found, but only the delivery that ran it reports its failure.
        if record.status == RunStatus.FAILED and record.holder == invocation:
            raise RunFailed(f"{flow} run {record.run_id} failed: {record.message}")
        return record.model_dump(mode="json", exclude_none=True)

    return handle
