"""Durable state: snapshots of what Le New Black accepted, the per-flow run lock, the order ledger.

A snapshot maps a record key (EAN13, model, retailer reference…) to the digest of the payload LNB last
accepted for it, in one compact gzip JSON object per flow. The lock is a DynamoDB item with a lease, taken
with a conditional write, so two runs of a flow never interleave and a crashed run's lease expires.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from connector.observability import shorten

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client


# DynamoDB refuses a partition key over 2048 bytes: a looked-up id that long (a hostile URL) exists nowhere.
MAX_KEY_BYTES = 2048 - len("LEDGER#")


def fits_key(identifier: str) -> bool:
    return len(identifier.encode()) <= MAX_KEY_BYTES


def digest(payload: Any) -> str:
    """Content hash of a payload: canonical JSON, so key order and formatting never count as a change."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@dataclass
class Snapshot:
    """What LNB holds, per key, as far as the connector knows; `version` detects a concurrent writer."""

    flow: str
    entries: dict[str, str] = field(default_factory=dict)
    version: str | None = None


class SnapshotStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @staticmethod
    def key(flow: str) -> str:
        return f"snapshots/{flow}.json.gz"

    def load(self, flow: str) -> Snapshot:
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=self.key(flow))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return Snapshot(flow)
            raise
        entries = json.loads(gzip.decompress(answer["Body"].read()))
        return Snapshot(flow, entries, answer.get("ETag"))

    def save(self, snapshot: Snapshot) -> None:
        # Level 1: written after every run that sent something, where level 9 took 0.4 s of CPU at 100 000
        # keys for a file about a fifth smaller.
        body = gzip.compress(json.dumps(snapshot.entries, separators=(",", ":")).encode(), compresslevel=1, mtime=0)
        answer = self._s3.put_object(
            Bucket=self._bucket, Key=self.key(snapshot.flow), Body=body, ContentType="application/json"
        )
        snapshot.version = answer.get("ETag")


class LockStore:
    """Leases named `LOCK#<name>`, held by one invocation (a uuid it made) until released or expired.

    `acquire` fails while anyone else's lease runs, the same run's other deliveries included: they carry other
    holders. `renew` extends only a lease that is still this holder's and has not run out, so a run whose lease
    expired (and may have been taken over) learns it instead of extending someone else's. Times are epoch
    seconds given by the caller, so one clock rules the lease everywhere.
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def _key(name: str) -> dict[str, str]:
        return {"pk": f"LOCK#{name}", "sk": "LOCK"}

    def acquire(self, name: str, holder: str, *, run_id: str, now: float, lease_seconds: float) -> bool:
        try:
            self._table.put_item(
                Item={
                    **self._key(name),
                    "holder": holder,
                    "run_id": run_id,
                    "expires_at": _epoch(now + lease_seconds),
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": _epoch(now)},
            )
        except ClientError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def renew(self, name: str, holder: str, *, now: float, lease_seconds: float) -> bool:
        try:
            self._table.update_item(
                Key=self._key(name),
                UpdateExpression="SET expires_at = :until",
                ConditionExpression="holder = :me AND expires_at > :now",
                ExpressionAttributeValues={":me": holder, ":now": _epoch(now), ":until": _epoch(now + lease_seconds)},
            )
        except ClientError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def holder(self, name: str, *, now: float) -> str | None:
        """The run holding the lock, if its lease still runs."""
        item = self._table.get_item(Key=self._key(name), ConsistentRead=True).get("Item")
        if not item or int(str(item.get("expires_at", 0))) <= _epoch(now):
            return None
        return str(item.get("run_id") or item["holder"])

    def release(self, name: str, holder: str) -> None:
        try:
            self._table.delete_item(
                Key=self._key(name),
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={":holder": holder},
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise


def _epoch(seconds: float) -> int:
    """Whole seconds, as DynamoDB numbers and TTL attributes want them."""
    return int(seconds)


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class LedgerStatus(StrEnum):
    PENDING = "pending"
    VALIDATED = "validated"
    SENT = "sent"  # handed to Fastmag, outcome not yet known: look it up before any new send
    EXPORTED = "exported"
    BLOCKED = "blocked"


class LedgerEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reference: str
    status: LedgerStatus
    reason: str | None = None
    fastmag_number: str | None = None
    lnb_status: str | None = None
    failed_runs: int = 0
    last_run_id: str | None = None
    first_seen: str | None = None
    updated_at: str | None = None
    history: list[str] = []


class OrderLedger:
    """One item per LNB order, `ORDER#<reference>`; every step is a conditional write, safe to repeat.

    pending → validated → sent → exported, or blocked (re-validated every run). `lnb_status` records the
    status the connector last set in LNB, so a failed status move is retried alone.
    """

    HISTORY_LENGTH = 30

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def _key(reference: str) -> dict[str, str]:
        return {"pk": f"ORDER#{reference}", "sk": "ORDER"}

    def get(self, reference: str) -> LedgerEntry | None:
        if not fits_key(reference):  # DynamoDB would refuse the key; no order can have it
            return None
        item = self._table.get_item(Key=self._key(reference), ConsistentRead=True).get("Item")
        return LedgerEntry.model_validate(item) if item else None

    def open(self, reference: str, run_id: str) -> LedgerEntry:
        """The entry for an order seen in LNB, created as pending the first time (before anything is sent)."""
        now = _now()
        try:
            self._table.put_item(
                Item={
                    **self._key(reference),
                    "reference": reference,
                    "status": LedgerStatus.PENDING.value,
                    "failed_runs": 0,
                    "first_seen": now,
                    "updated_at": now,
                    "last_run_id": run_id,
                    "history": [f"{now} seen by run {run_id}"],
                    "gsi1pk": f"LEDGER#{LedgerStatus.PENDING.value}",
                    "gsi1sk": now,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        entry = self.get(reference)
        if entry is None:  # pragma: no cover - the item was just written or already there
            raise RuntimeError(f"ledger entry {reference} vanished")
        return entry

    def move(
        self,
        reference: str,
        status: LedgerStatus,
        note: str,
        *,
        allowed_from: tuple[LedgerStatus, ...] | None = None,
        **fields: Any,
    ) -> bool:
        """Set the status (and fields); with `allowed_from`, only if the entry is in one of those statuses."""
        now = _now()
        names = {"#status": "status", "#history": "history"}
        values: dict[str, Any] = {
            ":status": status.value,
            ":now": now,
            ":gsi": f"LEDGER#{status.value}",
            # Notes and reasons may quote a broken order's values: cut, so the entry stays under DynamoDB's 400 KB.
            ":note": [f"{now} {shorten(note)}"],
            ":empty": [],
        }
        sets = [
            "#status = :status",
            "updated_at = :now",
            "gsi1pk = :gsi",
            "gsi1sk = :now",
            "#history = list_append(if_not_exists(#history, :empty), :note)",
        ]
        removes = []
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                values[f":f{index}"] = shorten(value) if isinstance(value, str) else value
                sets.append(f"#f{index} = :f{index}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        update: dict[str, Any] = {
            "Key": self._key(reference),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if allowed_from:
            allowed = {f":from{i}": s.value for i, s in enumerate(allowed_from)}
            update["ConditionExpression"] = f"#status IN ({', '.join(allowed)})"
            update["ExpressionAttributeValues"] = {**values, **allowed}
        try:
            self._table.update_item(**update)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        self._trim_history(reference)
        return True

    def _trim_history(self, reference: str) -> None:
        entry = self.get(reference)
        if entry and len(entry.history) > self.HISTORY_LENGTH:
            self._table.update_item(
                Key=self._key(reference),
                UpdateExpression="SET #history = :kept",
                ExpressionAttributeNames={"#history": "history"},
                ExpressionAttributeValues={":kept": entry.history[-self.HISTORY_LENGTH :]},
            )

    def with_status(self, status: LedgerStatus, limit: int = 1000) -> list[LedgerEntry]:
        answer = self._table.query(
            IndexName="by_flow",
            KeyConditionExpression="gsi1pk = :status",
            ExpressionAttributeValues={":status": f"LEDGER#{status.value}"},
            Limit=limit,
        )
        return [LedgerEntry.model_validate(item) for item in answer["Items"]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
