"""Run records, progress counters, the task log and previews (ARCHITECTURE §6).

A run record `RUN#<run_id>` holds what support and the status page need: flow, trigger, status, counters
(updated while the run goes), an error summary grouped by reason, and where its preview is stored.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from connector.errors import ConnectorError
from connector.events import FlowRequest, Trigger
from connector.observability import log_at, log_record, logger, mask_email, masked, shorten
from connector.state import fits_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client

MAX_REASONS = 50
PROGRESS_EVERY_SECONDS = 5.0
RUN_TTL_DAYS = 400
PREVIEW_FORMAT = 1  # the layout of a stored preview's lines, in the object's metadata


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"


FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.HELD, RunStatus.SKIPPED})


class Counters(BaseModel):
    read: int = 0
    unchanged: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    ignored: int = 0  # orders placed before the go-live cut-off


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    flow: str
    trigger: Trigger
    status: RunStatus
    preview: bool = False
    full: bool = False
    force: bool = False
    counters: Counters = Counters()
    errors: dict[str, int] = Field(default_factory=dict, description="reason → how many items it hit")
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


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def now_iso() -> str:
    return iso(timing.clock())


def _item_to_record(item: Mapping[str, Any]) -> RunRecord:
    return RunRecord.model_validate({k: v for k, v in item.items() if k not in {"pk", "sk", "gsi1pk", "gsi1sk"}})


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


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
            "gsi1sk": record.queued_at or record.started_at or now_iso(),
            "expires_at": int(time.time()) + RUN_TTL_DAYS * 86400,
            **record.model_dump(mode="json", exclude_none=True),
        }

    def put(self, record: RunRecord) -> None:
        """A record nobody else can own yet (a run queued by the API under a new id, a test's arrangement)."""
        self._table.put_item(Item=self._item(record))

    def queue(self, record: RunRecord) -> bool:
        """Write a queued run under a new id; False if the id is taken."""
        return self._conditional_put(record, "attribute_not_exists(pk)", {})

    def fail_queued(self, record: RunRecord, message: str) -> bool:
        """Close a queued run that could not be handed to its function, unless a delivery started it meanwhile."""
        failed = record.model_copy(update={"status": RunStatus.FAILED, "message": message, "finished_at": now_iso()})
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
            if _conditional_failure(error):
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
            if _conditional_failure(error):
                return False
            raise
        return True

    def get(self, run_id: str) -> RunRecord | None:
        if not fits_key(run_id):  # DynamoDB would refuse the key; no run can have it
            return None
        item = self._table.get_item(Key=self._key(run_id), ConsistentRead=True).get("Item")
        return _item_to_record(item) if item else None

    def list(self, flow: str, *, limit: int = 20, after: str | None = None) -> tuple[list[RunRecord], str | None]:
        """Runs of one flow, newest first; `after` is the cursor the previous page returned."""
        query: dict[str, Any] = {
            "IndexName": "by_flow",
            "KeyConditionExpression": "gsi1pk = :flow",
            "ExpressionAttributeValues": {":flow": f"FLOW#{flow}"},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            query["ExclusiveStartKey"] = json.loads(after)
        answer = self._table.query(**query)
        cursor = answer.get("LastEvaluatedKey")
        return [_item_to_record(item) for item in answer["Items"]], json.dumps(cursor) if cursor else None

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
            if _conditional_failure(error):
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
            if _conditional_failure(error):
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
            if not _conditional_failure(error):
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
        for record in self.list(flow, limit=recent)[0]:
            self.close_if_lost(record, now=now)


def lost_reason(record: RunRecord, *, now: float) -> str | None:
    """Why `record` is a lost run at `now`, or None while it may still be alive."""
    if record.status == RunStatus.RUNNING and record.lease_expires_at is not None and record.lease_expires_at <= now:
        return f"lost: no heartbeat since {record.heartbeat_at or record.started_at}"
    if record.status == RunStatus.QUEUED and record.queued_at is not None:
        queued = datetime.fromisoformat(record.queued_at).timestamp()
        if now - queued > timing.queued_limit_seconds:
            return "lost: never started"
    return None


class LeaseLost(ConnectorError):
    """The run's lease ran out or was taken by another run: it must write nothing more."""


class Lease:
    """How long this run may still write, as far as it knows locally (its last successful renewal).

    The lock's lease in DynamoDB is what other runs see; this is the run's own view of it, checked before each
    remote write and snapshot save, so a run that may have lost its lock stops writing instead of racing the
    run that took it over. The compare-and-set writes (ledger, snapshots) stay the real fence.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = clock() + seconds
        self.lost_reason: str | None = None

    def renewed(self, seconds: float) -> None:
        """The heartbeat extended the lease in the table: `seconds` from now."""
        self._until = self._clock() + seconds

    def lose(self, reason: str) -> None:
        self.lost_reason = reason

    def remaining(self) -> float:
        return self._until - self._clock()

    def require(self, seconds: float, before: str) -> None:
        """Raise LeaseLost unless the lease is held and runs at least `seconds` more (the write's longest time)."""
        if self.lost_reason is not None:
            raise LeaseLost(f"lease lost ({self.lost_reason}): not going to {before}")
        if self.remaining() < seconds:
            raise LeaseLost(f"lease ends in {max(self.remaining(), 0):.0f} s, {seconds:.0f} s needed to {before}")


class Pacer(Protocol):
    """Paces a heartbeat: `wait` returns True when the next renewal is due, False once `stop` was called."""

    def wait(self, seconds: float) -> bool: ...

    def stop(self) -> None: ...


class EventPacer:
    """Real time: a renewal every `seconds`, and `stop` wakes the heartbeat at once."""

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def wait(self, seconds: float) -> bool:
        return not self._stopped.wait(seconds)

    def stop(self) -> None:
        self._stopped.set()


@dataclass(frozen=True)
class LeaseTiming:
    """How long a run's lease lasts, how often its heartbeat renews it, how long a run may stay queued, and the
    clock (epoch seconds) all of them are read on. `runs.timing` is read at each use, so a test replaces it to
    drive time and heartbeats without sleeping."""

    lease_seconds: float = 120.0
    heartbeat_seconds: float = 30.0
    queued_limit_seconds: float = 900.0
    clock: Callable[[], float] = time.time
    pacer: Callable[[], Pacer] = EventPacer


timing = LeaseTiming()


class Heartbeat:
    """Renews a run's lease every `heartbeat_seconds` from a background thread, while the run works.

    A renewal is two conditional updates: the flow's lock and the run record, each only if still this holder's
    and not yet expired. The first renewal that fails (refused or raising) marks the lease lost: the run then
    writes nothing more (its `lease.require` checks raise) and ends failed. Use it as a context manager: the
    thread is stopped and joined on the way out, whatever happened inside.
    """

    def __init__(
        self, *, run_id: str, renew: Callable[[float, float], str | None], lease: Lease, settings: LeaseTiming
    ) -> None:
        self._run_id = run_id
        self._renew = renew
        self._lease = lease
        self._timing = settings
        self._pacer = settings.pacer()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pacer.stop()
        self._thread.join()

    def _beat(self) -> None:
        while self._pacer.wait(self._timing.heartbeat_seconds):
            if self._lease.lost_reason is not None:
                continue  # nothing to renew any more; wait to be stopped
            now = self._timing.clock()
            try:
                refusal = self._renew(now, self._timing.lease_seconds)
            except Exception as error:  # a renewal that did not happen is a lease that may run out
                refusal = f"renewal failed: {shorten(str(error))}"
            if refusal is None:
                # Counted from before the write, as the table counts it: the local view never outlives it.
                self._lease.renewed(now + self._timing.lease_seconds - self._timing.clock())
            else:
                self._lease.lose(refusal)
                logger.warning(
                    f"run {self._run_id} lost its lease: {refusal}",
                    extra={"event": "run.lease_lost", "key": self._run_id, "reason": refusal},
                )


class Run:
    """The running flow's task log: counts every item outcome, logs one line per record, flushes progress."""

    def __init__(
        self,
        request: FlowRequest,
        run_id: str,
        store: RunStore,
        on_progress: Callable[[Run], None] | None = None,
        *,
        lease: Lease | None = None,
        holder: str | None = None,
    ) -> None:
        self.request = request
        self.lease = lease or Lease(float("inf"))
        self.holder = holder
        self.run_id = run_id
        self.flow = request.flow
        self.counters = Counters()
        self.reasons: Counter[str] = Counter()
        self.status: RunStatus | None = None
        self.message: str | None = None
        self.preview_key: str | None = None
        self.preview_bases: dict[str, str] = {}  # resource → version of the snapshot its preview was diffed with
        self.skipped_items: list[dict[str, str]] = []
        self._store = store
        self._on_progress = on_progress
        self._last_flush = time.monotonic()

    @property
    def preview(self) -> bool:
        return self.request.preview

    @property
    def preview_base(self) -> str | None:
        """Set once the preview diffed anything: the first resource's snapshot version (the API's "can apply")."""
        return next(iter(self.preview_bases.values()), None)

    def count(self, counter: str, n: int = 1) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + n)
        self._maybe_flush()

    def problem(self, reason: str, n: int = 1) -> None:
        """A reason that made items fail, for the run's error summary (capped to the first reasons seen)."""
        # LNB's messages may quote a buyer's email; the run record is read on the status page like a log.
        reason = shorten(mask_email(reason))
        if reason in self.reasons or len(self.reasons) < MAX_REASONS:
            self.reasons[reason] += n
        else:
            self.reasons["(other reasons)"] += n

    def skipped(self, key: str, reason: str, **fields: Any) -> None:
        self.count("skipped")
        self.problem(reason)
        if self.preview:
            self.skipped_items.append({"key": key, "change": "skipped", "reason": reason})
        log_record("record.skipped", key, reason=reason, level="WARNING", **fields)

    def rejected(self, key: str, reason: str, **fields: Any) -> None:
        self.count("rejected")
        self.problem(reason)
        log_record("record.rejected", key, reason=reason, level="WARNING", **fields)

    def accepted(self, key: str, **fields: Any) -> None:
        self.count("accepted")
        log_record("record.sent", key, **fields)

    def hold(self, message: str) -> None:
        self.status = RunStatus.HELD
        self.message = message

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= PROGRESS_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self.lease.lost_reason is not None:
            return  # a run that lost its lease writes nothing more
        if not self._store.update_progress(self.run_id, self.holder, self.counters, self.reasons):
            self.lease.lose("the run record is no longer this run's (closed as lost?)")
        if self._on_progress is not None:
            self._on_progress(self)

    def final_status(self) -> RunStatus:
        if self.status is not None:
            return self.status
        if self.counters.rejected or self.reasons:
            return RunStatus.PARTIAL
        return RunStatus.SUCCEEDED


class PreviewStore:
    """Exact payloads of a preview run as gzip JSON Lines under `previews/<run_id>.jsonl.gz`."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @staticmethod
    def key(run_id: str) -> str:
        return f"previews/{run_id}.jsonl.gz"

    def write(self, run_id: str, lines: Iterable[Mapping[str, Any]]) -> str:
        body = gzip.compress(
            "".join(json.dumps(masked(line), ensure_ascii=False, default=str) + "\n" for line in lines).encode(),
            mtime=0,
        )
        key = self.key(run_id)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            Metadata={"format": str(PREVIEW_FORMAT)},
        )
        logger.info(f"preview stored at s3://{self._bucket}/{key}", extra={"event": "run.preview", "key": key})
        return key

    def read(self, run_id: str) -> Iterator[dict[str, Any]]:
        answer = self._s3.get_object(Bucket=self._bucket, Key=self.key(run_id))
        written = int(answer.get("Metadata", {}).get("format", "1"))  # previews before the version: format 1
        if written > PREVIEW_FORMAT:
            raise ConnectorError(
                f"preview {run_id} has format {written}, this connector reads up to {PREVIEW_FORMAT}: run a new preview"
            )
        body = answer["Body"].read()
        for line in gzip.decompress(body).decode().splitlines():
            if line:
                yield json.loads(line)

    def presigned_url(self, run_id: str, expires_in: int = 900) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": self.key(run_id)}, ExpiresIn=expires_in
        )
