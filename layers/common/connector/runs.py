"""Run records, their transitions and store, and the running flow's task log (ARCHITECTURE §6).

A run record `RUN#<run_id>` holds what support and the status page need: flow, trigger, status, counters
(updated while the run goes), an error summary grouped by reason, and where its preview is stored. The running
flow's task log is run_log.py, its lease lease.py, the preview previews.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from connector.counters import Counters
from connector.errors import ConnectorError
from connector.events import FlowRequest, Trigger
from connector.lease import LeaseTiming
from connector.observability import log_at
from connector.state import fits_key, is_condition_failed, iso, now_iso
from connector.upload_tally import UPLOADING_FLOW, UploadTally, UploadTallyStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

RUN_TTL_DAYS = 400


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"


FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.HELD, RunStatus.SKIPPED})


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    flow: str
    trigger: Trigger
    status: RunStatus
    preview: bool = False
    full: bool = False
    force: bool = False
    repair: bool = False
    counters: Counters = Counters()
    errors: dict[str, int] = Field(default_factory=dict, description="reason → how many items it hit")
    checks: dict[str, int] | None = Field(default=None, description="readiness: problems found per check")
    warnings: dict[str, int] = Field(
        default_factory=dict, description="caveat → how many items sent or kept with it (not errors)"
    )
    task_log_key: str | None = Field(default=None, description="where its record outcomes are (task_log.py)")
    report_key: str | None = Field(default=None, description="reconcile: where its drift report is (its page reads it)")
    message: str | None = None
    preview_key: str | None = None
    preview_base: str | None = None
    applied_from: str | None = None
    queued_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    holder: str | None = Field(default=None, description="the invocation that started the run (a uuid)")
    lease_expires_at: int | None = Field(default=None, description="epoch seconds its lease runs to unless renewed")
    heartbeat_at: str | None = Field(default=None, description="the run's last lease renewal")
    schedule: str | None = Field(default=None, description="the schedule whose tick started it")
    scheduled_time: str | None = None
    execution_id: str | None = Field(default=None, description="Scheduler's id of the delivery that started it")
    attempt: int | None = Field(default=None, description="Scheduler's attempt number of that delivery")
    uploads: UploadTally | None = Field(
        default=None, description="images runs: the staged files' uploads to Le New Black (upload_tally.py)"
    )

    # The transitions: the only places a record's status is set (RunStore's lost-run close aside).

    @classmethod
    def _of(cls, request: FlowRequest, run_id: str, status: RunStatus, **fields: Any) -> RunRecord:
        """The record of `request` under `run_id`: what was asked (flow, trigger, options) and `fields`."""
        return cls(
            run_id=run_id,
            flow=request.flow,
            trigger=request.trigger,
            status=status,
            preview=request.preview,
            full=request.full,
            force=request.force,
            repair=request.repair,
            applied_from=request.apply_run_id,
            **fields,
        )

    @classmethod
    def queued(cls, request: FlowRequest) -> RunRecord:
        """A run the API queued under `request.run_id`, waiting for its function to start it."""
        return cls._of(request, request.resolved_run_id(), RunStatus.QUEUED, queued_at=now_iso(timing.clock))

    @classmethod
    def running(cls, request: FlowRequest, run_id: str, *, holder: str, now: float, lease_seconds: float) -> RunRecord:
        """Run `run_id` (the request's resolved id), started by `holder` at `now` with a lease of `lease_seconds`."""
        return cls._of(
            request,
            run_id,
            RunStatus.RUNNING,
            started_at=iso(now),
            holder=holder,
            lease_expires_at=int(now + lease_seconds),
            heartbeat_at=iso(now),
            schedule=request.schedule_name,
            scheduled_time=request.scheduled_time.isoformat() if request.scheduled_time else None,
            execution_id=request.execution_id,
            attempt=request.attempt,
        )

    def finished(self, status: RunStatus, message: str | None = None, **results: Any) -> RunRecord:
        """This run ended `status`; `results` are its counters, errors and preview fields."""
        return self.model_copy(
            update={"status": status, "message": message, **results, "finished_at": now_iso(timing.clock)}
        )


class InvalidCursor(ConnectorError):
    """A page cursor this store did not return for that flow (DynamoDB would refuse a forged start key)."""


# The table's key attributes: those of a page's last item on the by_flow index are its start key.
_KEYS = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})


def _item_to_record(item: Mapping[str, Any]) -> RunRecord:
    return RunRecord.model_validate({k: v for k, v in item.items() if k not in _KEYS})


class RunStore:
    """Run records in the state table; listed per flow, newest first, through the `by_flow` index.

    Once a run started, its record belongs to the invocation that started it (`holder`): every later write is
    conditional on that holder and on the run still `running`, so neither a duplicate delivery nor a run that
    lost its lease can overwrite what the owner (or whoever closed it as lost) wrote.
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def _key(run_id: str) -> dict[str, str]:
        return {"pk": f"RUN#{run_id}", "sk": "RUN"}

    def _item(self, record: RunRecord) -> dict[str, Any]:
        return {
            **self._key(record.run_id),
            "gsi1pk": f"FLOW#{record.flow}",
            "gsi1sk": record.queued_at or record.started_at or now_iso(timing.clock),
            "expires_at": int(time.time()) + RUN_TTL_DAYS * 86400,
            # The uploads are their own item (upload_tally.py), never written with the record.
            **record.model_dump(mode="json", exclude_none=True, exclude={"uploads"}),
        }

    def put(self, record: RunRecord) -> None:
        """A record nobody else can own yet (a run queued by the API under a new id, a test's arrangement)."""
        self._table.put_item(Item=self._item(record))

    def queue(self, record: RunRecord) -> bool:
        """Write a queued run under a new id; False if the id is taken."""
        return self._conditional_put(record, "attribute_not_exists(pk)", {})

    def fail_queued(self, record: RunRecord, message: str) -> bool:
        """Close a queued run that could not be handed to its function, unless a delivery started it meanwhile."""
        failed = record.finished(RunStatus.FAILED, message)
        return self._conditional_put(failed, "#status = :queued", {":queued": RunStatus.QUEUED.value})

    def start(self, record: RunRecord) -> RunRecord | None:
        """The one write that starts a run: only if the record is absent or queued. Returns the record as
        stored (a queued record keeps its queued time); None if another delivery started it first."""
        item = self._item(record)
        item.pop("queued_at", None)  # the queued record's own time (and sort key) is kept
        fields = {name: value for name, value in item.items() if name not in {"pk", "sk"}}
        names = {f"#a{index}": name for index, name in enumerate(fields)}
        values = {f":a{index}": value for index, value in enumerate(fields.values())}
        sets = [
            f"#a{index} = if_not_exists(#a{index}, :a{index})" if name == "gsi1sk" else f"#a{index} = :a{index}"
            for index, name in enumerate(fields)
        ]
        try:
            answer = self._table.update_item(
                Key=self._key(record.run_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_not_exists(pk) OR #status = :queued",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues={**values, ":queued": RunStatus.QUEUED.value},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failed(error):
                return None
            raise
        return _item_to_record(answer["Attributes"])

    def finish(self, record: RunRecord) -> bool:
        """Replace the record with its final state, only while `record.holder` still owns it and it runs."""
        return self._conditional_put(
            record,
            "holder = :holder AND #status = :running",
            {":holder": record.holder, ":running": RunStatus.RUNNING.value},
        )

    def _conditional_put(self, record: RunRecord, condition: str, values: dict[str, Any]) -> bool:
        put: dict[str, Any] = {"Item": self._item(record), "ConditionExpression": condition}
        if "#status" in condition:
            put["ExpressionAttributeNames"] = {"#status": "status"}
        if values:
            put["ExpressionAttributeValues"] = values
        try:
            self._table.put_item(**put)
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def get(self, run_id: str) -> RunRecord | None:
        if not fits_key(run_id):  # DynamoDB would refuse the key; no run can have it
            return None
        item = self._table.get_item(Key=self._key(run_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        record = _item_to_record(item)
        if record.flow == UPLOADING_FLOW and not record.preview:
            tally = UploadTallyStore(self._table).get(run_id).of_staged(record.counters.sent)
            record = record.model_copy(update={"uploads": tally})
        return record

    def list(
        self, flow: str, *, limit: int = 20, after: str | None = None, status: RunStatus | None = None
    ) -> tuple[list[RunRecord], str | None]:
        """Runs of one flow, newest first; `after` is the cursor the previous page returned (InvalidCursor if it
        is not one this store returned for `flow`). With `status`, those of the `limit` newest in that status."""
        query: dict[str, Any] = {
            "IndexName": "by_flow",
            "KeyConditionExpression": "gsi1pk = :flow",
            "ExpressionAttributeValues": {":flow": f"FLOW#{flow}"},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if status is not None:
            # Filtered by DynamoDB after it read the `limit` newest: only those are answered and parsed.
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"] = {"#status": "status"}
            query["ExpressionAttributeValues"][":status"] = status.value
        if after:
            query["ExclusiveStartKey"] = _decode_cursor(after, flow)
        answer = self._table.query(**query)
        cursor = answer.get("LastEvaluatedKey")
        return [_item_to_record(item) for item in answer["Items"]], _encode_cursor(cursor) if cursor else None

    def accepted_since(self, flow: str, when: str) -> RunRecord | None:
        """The latest of the flow's recent runs that sent data LNB accepted after `when` (ISO), if any."""
        for run in self.list(flow, limit=50)[0]:
            if not run.preview and run.counters.accepted and (run.started_at or "") > when:
                return run
        return None

    def update_progress(self, run_id: str, holder: str | None, counters: Counters, errors: Mapping[str, int]) -> bool:
        """Progress counters of a running run, written only by its holder; False once the run is not its own."""
        try:
            self._table.update_item(
                Key=self._key(run_id),
                UpdateExpression="SET counters = :c, #e = :e",
                ConditionExpression="holder = :holder AND #status = :running",
                ExpressionAttributeNames={"#e": "errors", "#status": "status"},
                ExpressionAttributeValues={
                    ":c": counters.model_dump(),
                    ":e": dict(errors),
                    ":holder": holder,
                    ":running": RunStatus.RUNNING.value,
                },
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def renew(self, run_id: str, holder: str, *, now: float, lease_seconds: float) -> bool:
        """Extend the run's lease: only its holder's, only while it runs and has not expired."""
        try:
            self._table.update_item(
                Key=self._key(run_id),
                UpdateExpression="SET lease_expires_at = :until, heartbeat_at = :beat",
                ConditionExpression="holder = :me AND #status = :running AND lease_expires_at > :now",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":me": holder,
                    ":running": RunStatus.RUNNING.value,
                    ":now": int(now),
                    ":until": int(now + lease_seconds),
                    ":beat": iso(now),
                },
            )
        except ClientError as error:
            if is_condition_failed(error):
                return False
            raise
        return True

    def close_if_lost(self, record: RunRecord, *, now: float) -> RunRecord:
        """`record` closed as failed if it is lost (running past its lease, or queued too long and never
        started); as read otherwise. The close is conditional on what made it lost, so it races safely with the
        run finishing or starting: whichever write lands first wins, the other changes nothing."""
        reason = lost_reason(record, now=now)
        if reason is None:
            return record
        if record.status == RunStatus.RUNNING:
            condition = "#status = :running AND holder = :holder AND lease_expires_at <= :now"
            values: dict[str, Any] = {
                ":running": RunStatus.RUNNING.value,
                ":holder": record.holder,
                ":now": int(now),
            }
        else:
            condition = "#status = :queued AND queued_at = :queued_at"
            values = {":queued": RunStatus.QUEUED.value, ":queued_at": record.queued_at}
        try:
            self._table.update_item(
                Key=self._key(record.run_id),
                UpdateExpression="SET #status = :failed, message = :reason, finished_at = :now_iso",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    **values,
                    ":failed": RunStatus.FAILED.value,
                    ":reason": reason,
                    ":now_iso": iso(now),
                },
            )
        except ClientError as error:
            if not is_condition_failed(error):
                raise
            return self.get(record.run_id) or record
        log_at(
            "ERROR",
            f"run {record.run_id} of {record.flow} closed as lost: {reason}",
            {"event": "run.lost", "key": record.run_id, "reason": reason},
        )
        return record.model_copy(update={"status": RunStatus.FAILED, "message": reason, "finished_at": iso(now)})

    def close_lost_runs(self, flow: str, *, now: float, recent: int = 20) -> None:
        """Close the flow's recent runs that are lost (the next run of a flow does this)."""
        for record in self.list(flow, limit=recent, status=RunStatus.RUNNING)[0]:
            self.close_if_lost(record, now=now)


def _encode_cursor(key: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_cursor(cursor: str, flow: str) -> dict[str, str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        valid = (
            isinstance(key, dict)
            and set(key) == _KEYS
            and all(isinstance(value, str) and value for value in key.values())
            and key["gsi1pk"] == f"FLOW#{flow}"
        )
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise InvalidCursor("not a cursor this API returned") from error
    if not valid:
        raise InvalidCursor("not a cursor this API returned")
    return dict(key)


def lost_reason(record: RunRecord, *, now: float) -> str | None:
    """Why `record` is a lost run at `now`, or None while it may still be alive."""
    if record.status == RunStatus.RUNNING and record.lease_expires_at is not None and record.lease_expires_at <= now:
        return f"lost: no heartbeat since {record.heartbeat_at or record.started_at}"
    if record.status == RunStatus.QUEUED and record.queued_at is not None:
        queued = datetime.fromisoformat(record.queued_at).timestamp()
        if now - queued > timing.queued_limit_seconds:
            return "lost: never started"
    return None


timing = LeaseTiming()  # read at each use: a test replaces it to drive time and heartbeats
