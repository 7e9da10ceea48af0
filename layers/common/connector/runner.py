"""Runs one flow: the run record's life cycle, the per-flow lock, the preview, the closing log line.

Handlers and the CLI both come through `execute`, so a run behaves the same wherever it starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from connector.errors import ConnectorError
from connector.events import FlowRequest
from connector.flows.context import FlowContext, Services
from connector.observability import bind_run, log_at, logger, mask_email, metrics, shorten
from connector.runs import FINISHED, Lease, Run, RunRecord, RunStatus, now_iso
from connector.settings import Flow, Secret, Settings, environment, load_settings
from connector.state import digest

FlowFunction = Callable[[FlowContext], None]

# A lease longer than a Lambda can live: a crashed run's lock frees itself after that.
LOCK_LEASE_SECONDS = 960


class RunFailed(ConnectorError):
    """Raised by a handler when its run failed, so Lambda's on-failure destination receives it."""


def build_services(settings: Settings, secret: Secret) -> Services:
    import boto3

    from connector.fastmag.client import FastmagClient
    from connector.lenewblack.client import LeNewBlackClient

    env = environment()
    session = boto3.session.Session()
    return Services(
        settings=settings,
        secret=secret,
        fastmag=FastmagClient(settings.fastmag, secret.fastmag_user, secret.fastmag_password.get_secret_value()),
        lnb=LeNewBlackClient(settings.lenewblack, secret.lnb_client_id, secret.lnb_client_secret),
        table=session.resource("dynamodb").Table(env.STATE_TABLE),
        s3=session.client("s3"),
        bucket=env.STAGING_BUCKET,
    )


_services: dict[str, Services] = {}


def services_for(settings: Settings, secret: Secret) -> Services:
    """Reuse clients (HTTP pools, LNB token) across warm invocations while settings stay the same."""
    cache_key = digest(
        [
            settings.model_dump(mode="json"),
            secret.fastmag_password.get_secret_value(),
            secret.lnb_client_secret.get_secret_value(),
            os.environ.get("AWS_ENDPOINT_URL", ""),
            environment().model_dump(),
        ]
    )
    if cache_key not in _services:
        _services.clear()
        _services[cache_key] = build_services(settings, secret)
    return _services[cache_key]


def execute(
    flow_function: FlowFunction,
    request: FlowRequest,
    services: Services,
    on_progress: Callable[[Run], None] | None = None,
) -> RunRecord:
    run_id = request.resolved_run_id()
    bind_run(flow=request.flow, run_id=run_id, trigger=request.trigger)
    store = services.runs
    existing = store.get(run_id)
    if existing is not None and existing.status in FINISHED:
        # A redelivered schedule tick or async retry of a run that already ended: do not run it twice.
        logger.info(f"run {run_id} already ended as {existing.status}", extra={"event": "run.duplicate"})
        return existing
    record = RunRecord(
        run_id=run_id,
        flow=request.flow,
        trigger=request.trigger,
        status=RunStatus.RUNNING,
        preview=request.preview,
        full=request.full,
        force=request.force,
        applied_from=request.apply_run_id,
        queued_at=existing.queued_at if existing else None,
        started_at=now_iso(),
    )
    lease = Lease(LOCK_LEASE_SECONDS)  # started before the lock is taken: the local view never outlives the table's
    if not services.locks.acquire(request.flow, run_id, LOCK_LEASE_SECONDS):
        holder = services.locks.holder(request.flow) or "unknown"
        record = record.model_copy(
            update={
                "status": RunStatus.SKIPPED,
                "message": f"another {request.flow} run ({holder}) is in progress",
                "finished_at": now_iso(),
            }
        )
        store.put(record)
        _log_finished(record)
        return record
    store.put(record)
    run = Run(request, run_id, store, on_progress, lease)
    context = FlowContext(services, run)
    status: RunStatus
    message: str | None = None
    try:
        flow_function(context)
        status = run.final_status()
        message = run.message
    except Exception as error:
        # A remote's error text may quote a buyer's email or a whole broken value: masked and cut, like any reason.
        message = shorten(mask_email(str(error)))
        logger.exception(f"{request.flow} run failed: {message}", extra={"event": "run.failed"})
        run.problem(f"run failed: {message}")
        status = RunStatus.FAILED
    finally:
        services.locks.release(request.flow, run_id)
    preview_key = None
    if request.preview:
        preview_key = services.previews.write(
            run_id,
            [
                {"summary": _preview_summary(context), "base": run.preview_bases},
                *context.preview_lines,
                *run.skipped_items,
            ],
        )
    record = record.model_copy(
        update={
            "status": status,
            "message": message,
            "counters": run.counters,
            "errors": dict(run.reasons),
            "preview_key": preview_key,
            "preview_base": run.preview_base,
            "finished_at": now_iso(),
        }
    )
    store.put(record)
    _log_finished(record)
    return record


def _preview_summary(context: FlowContext) -> dict[str, int]:
    summary = {"new": 0, "changed": 0, "unchanged": context.run.counters.unchanged}
    for line in context.preview_lines:
        change = str(line.get("change", "changed"))
        summary[change] = summary.get(change, 0) + 1
    summary["skipped"] = context.run.counters.skipped
    return summary


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
    metrics.add_dimension(name="flow", value=record.flow)
    for name, value in record.counters.model_dump().items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name=f"run_{record.status}", unit=MetricUnit.Count, value=1)


def handle(flow: Flow, flow_function: FlowFunction, event: dict[str, Any]) -> dict[str, Any]:
    """The body of every flow handler: parse the event, load settings, run, shape the answer."""
    request = FlowRequest.parse(flow, event)
    settings, secret = load_settings()
    record = execute(flow_function, request, services_for(settings, secret))
    if record.status == RunStatus.FAILED:
        raise RunFailed(f"{flow} run {record.run_id} failed: {record.message}")
    return record.model_dump(mode="json", exclude_none=True)
