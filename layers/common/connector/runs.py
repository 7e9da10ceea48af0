"""Run records, progress counters, the task log and previews (ARCHITECTURE §6).

A run record `RUN#<run_id>` holds what support and the status page need: flow, trigger, status, counters
(updated while the run goes), an error summary grouped by reason, and where its preview is stored.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from connector.errors import ConnectorError
from connector.events import FlowRequest, Trigger
from connector.observability import log_record, logger, mask_email, masked, shorten
from connector.state import fits_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client

MAX_REASONS = 50
PROGRESS_EVERY_SECONDS = 5.0
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


class Counters(BaseModel):
    read: int = 0
    unchanged: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0


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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _item_to_record(item: Mapping[str, Any]) -> RunRecord:
    return RunRecord.model_validate({k: v for k, v in item.items() if k not in {"pk", "sk", "gsi1pk", "gsi1sk"}})


class RunStore:
    """Run records in the state table; listed per flow, newest first, through the `by_flow` index."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def _key(run_id: str) -> dict[str, str]:
        return {"pk": f"RUN#{run_id}", "sk": "RUN"}

    def put(self, record: RunRecord) -> None:
        item: dict[str, Any] = {
            **self._key(record.run_id),
            "gsi1pk": f"FLOW#{record.flow}",
            "gsi1sk": record.queued_at or record.started_at or now_iso(),
            "expires_at": int(time.time()) + RUN_TTL_DAYS * 86400,
            **record.model_dump(mode="json", exclude_none=True),
        }
        self._table.put_item(Item=item)

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

    def update_progress(self, run_id: str, counters: Counters, errors: Mapping[str, int]) -> None:
        self._table.update_item(
            Key=self._key(run_id),
            UpdateExpression="SET counters = :c, #e = :e",
            ExpressionAttributeNames={"#e": "errors"},
            ExpressionAttributeValues={":c": counters.model_dump(), ":e": dict(errors)},
        )


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


class Run:
    """The running flow's task log: counts every item outcome, logs one line per record, flushes progress."""

    def __init__(
        self,
        request: FlowRequest,
        run_id: str,
        store: RunStore,
        on_progress: Callable[[Run], None] | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.request = request
        self.lease = lease or Lease(float("inf"))
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
        self._store.update_progress(self.run_id, self.counters, self.reasons)
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
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        logger.info(f"preview stored at s3://{self._bucket}/{key}", extra={"event": "run.preview", "key": key})
        return key

    def read(self, run_id: str) -> Iterator[dict[str, Any]]:
        body = self._s3.get_object(Bucket=self._bucket, Key=self.key(run_id))["Body"].read()
        for line in gzip.decompress(body).decode().splitlines():
            if line:
                yield json.loads(line)

    def presigned_url(self, run_id: str, expires_in: int = 900) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": self.key(run_id)}, ExpiresIn=expires_in
        )
