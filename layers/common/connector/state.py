"""Durable state: snapshots of what Le New Black accepted and the per-flow run lock (the order ledger: ledger.py).

A snapshot maps a record key (EAN13, model, retailer reference…) to the digest of the payload LNB last
accepted for it, in one compact gzip JSON object per flow. The lock is a DynamoDB item with a lease, taken
with a conditional write, so two runs of a flow never interleave and a crashed run's lease expires.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import botocore
from botocore.exceptions import ClientError

from connector.errors import ConnectorError
from connector.json_text import compact_json, read_stored_json, text_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client


# DynamoDB refuses a partition key over 2048 bytes: a looked-up id that long (a hostile URL) exists nowhere.
MAX_KEY_BYTES = 2048 - len("LEDGER#")


def fits_key(identifier: str) -> bool:
    return len(identifier.encode()) <= MAX_KEY_BYTES


# The date and time of the latest second `iso` wrote: a push stamps each of its 100 000 task-log entries, and a
# datetime made and formatted per entry cost a twentieth of a prices export's CPU.
_ISO_SECOND: tuple[float, str] = (math.nan, "")


def iso(epoch: float) -> str:
    """Epoch seconds as the ISO text every record stores (UTC, milliseconds): the text of
    `datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")`, whose rounding it repeats (to the
    microsecond, half to even, then cut to the millisecond)."""
    global _ISO_SECOND  # noqa: PLW0603 - a cache: one tuple, replaced whole (safe between threads)
    fraction, second = math.modf(epoch)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro, second = micro - 1_000_000, second + 1
    elif micro < 0:
        micro, second = micro + 1_000_000, second - 1
    cached = _ISO_SECOND
    if cached[0] != second:
        whole = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
        cached = _ISO_SECOND = (second, whole.removesuffix("+00:00"))
    return f"{cached[1]}.{micro // 1000:03d}+00:00"


def now_iso(clock: Callable[[], float] = time.time) -> str:
    return iso(clock())


# --- botocore errors, read in one place ----------------------------------------------------------------------


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing(error: ClientError) -> bool:
    """The S3 object is not there (`NoSuchKey` from get_object, `404` from head_object)."""
    return error_code(error) in {"NoSuchKey", "404"}


def is_condition_failed(error: ClientError) -> bool:
    """A DynamoDB conditional write was refused: the item was not in the state the write required."""
    return error_code(error) == "ConditionalCheckFailedException"


# Sorted keys, compact, non-ASCII kept, anything else as its str: the digest reads a payload as this text.
canonical_json = text_of(sort_keys=True)


def digest(payload: Any) -> str:
    """Content hash of a payload: canonical JSON, so key order and formatting never count as a change."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]


_CONTAINERS = (dict, list, tuple)


def _present(value: Any) -> Any:
    """`value` without the None of its mappings, at any depth: an optional field unset is not in it."""
    # Payloads are JSON documents (dicts from model_dump): exact-type checks, and no call per leaf, keep this a
    # small share of a full export's digests (the Mapping ABC check cost more than the hashing).
    if isinstance(value, dict):
        return {
            key: _present(item) if isinstance(item, _CONTAINERS) else item
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list | tuple):
        return [_present(item) if isinstance(item, _CONTAINERS) else item for item in value]
    return value


_LEAVES = frozenset({str, int, float, bool})


def payload_digest(payload: Any) -> str:
    """The digest a snapshot keeps for a record: only the fields present count, so a release that adds an
    optional field (absent or None for existing records) leaves their digests, and LNB, untouched."""
    if type(payload) is dict and _LEAVES.issuperset(map(type, payload.values())):
        return digest(payload)  # flat and without None (a price): `_present` would copy it unchanged
    return digest(_present(payload))


# S3 conditional writes: `IfNoneMatch` came to put_object in botocore 1.35.x, `IfMatch` in 1.35.69 (checked in
# the service model of 1.35.68 and 1.35.69). The Lambda runtime provides botocore, so the layer cannot pin it.
MIN_BOTOCORE = (1, 35, 69)
SNAPSHOT_FORMAT = 2
SAVE_RETRIES = 3  # after a first save refused because another run saved in between


def require_botocore(version: str) -> None:
    """Refuse a botocore that cannot send `IfMatch` on put_object: it would fail at the first snapshot save,
    after the run had sent everything, so it is refused when the layer is imported instead."""
    parts = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    found = tuple(int(part) for part in parts.groups()) if parts else (0, 0, 0)
    if found < MIN_BOTOCORE:
        minimum = ".".join(map(str, MIN_BOTOCORE))
        raise ImportError(
            f"the connector needs botocore >= {minimum} (S3 conditional writes: IfMatch on put_object) and found "
            f"{version}; use a Lambda Python runtime with a newer boto3, or add botocore to the layer"
        )


require_botocore(botocore.__version__)


class SnapshotConflict(ConnectorError):
    """Other runs kept saving the same snapshot: this run's accepted keys could not be saved."""


class SnapshotFormatError(ConnectorError):
    """A snapshot written by a newer version of the connector, which this one cannot read."""


class Snapshot:
    """What LNB holds, per key, as far as the connector knows; `version` is the S3 ETag it was read at.

    Changes go through `accept` and `forget`, which remember them, so a save that finds another run's snapshot
    in its place can apply exactly this run's changes to it.
    """

    def __init__(
        self,
        flow: str,
        entries: Mapping[str, str] | None = None,
        version: str | None = None,
        marks: Mapping[str, str] | None = None,
    ) -> None:
        self.flow = flow
        self.version = version
        # The version this run read: what an apply compares with its preview's base, even after the run saved
        # one resource of a snapshot several resources share (prices and prices_by_size).
        self.loaded_version = version
        self._entries = dict(entries or {})
        # What the flow needs beside the entries, e.g. the stock read's watermark; saved with them.
        self._marks = dict(marks or {})
        self._changes: dict[str, tuple[str | None, str | None]] = {}  # key → (as read, as this run left it)
        self._changed_marks: dict[str, str] = {}
        self._unsaved = False

    def own(self, entries: dict[str, str]) -> None:
        """Hold `entries` as read (not copied: 100 000 keys a tick): a map just decoded, or a kept copy just taken,
        which nothing else holds."""
        self._entries = entries

    @property
    def entries(self) -> Mapping[str, str]:
        return self._entries

    @property
    def unsaved(self) -> bool:
        return self._unsaved

    @property
    def marks(self) -> Mapping[str, str]:
        return self._marks

    def mark(self, name: str, value: str) -> None:
        """Set a mark; this run's marks win over another run's when a save rebases (they are newer)."""
        if self._marks.get(name) != value:
            self._marks[name] = value
            self._changed_marks[name] = value
            self._unsaved = True

    def accept(self, key: str, value: str) -> None:
        self._change(key, value)

    def forget(self, key: str) -> None:
        self._change(key, None)

    def replace(self, entries: Mapping[str, str]) -> None:
        """Make the snapshot hold exactly `entries`, as changes of this run."""
        for key in [key for key in self._entries if key not in entries]:
            self.forget(key)
        for key, value in entries.items():
            if self._entries.get(key) != value:
                self.accept(key, value)

    def _change(self, key: str, value: str | None) -> None:
        before = self._changes[key][0] if key in self._changes else self._entries.get(key)
        self._changes[key] = (before, value)
        if value is None:
            self._entries.pop(key, None)
        else:
            self._entries[key] = value
        self._unsaved = True

    def saved(self, version: str | None) -> None:
        self.version = version
        self._unsaved = False

    def rebase(self, latest: Snapshot) -> None:
        """Take `latest` (saved by another run since this one read) and apply this run's changes to it.

        A key the other run changed too, to something else, is dropped: which of the two LNB holds is unknown,
        and a key missing from the snapshot is simply sent again by the next run.
        """
        merged = dict(latest.entries)
        for key, (before, after) in self._changes.items():
            theirs = merged.get(key)
            if theirs in {before, after} and after is not None:
                merged[key] = after
            else:
                merged.pop(key, None)
        self._entries = merged
        self._marks = {**latest.marks, **self._changed_marks}
        self.version = latest.version


def _is_conflict(error: ClientError) -> bool:
    """412: the object changed (or appeared) since it was read; 409: a concurrent conditional write; 404: the
    object read was deleted since (`IfMatch` on a missing key)."""
    return error_code(error) in {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"}


@dataclass(frozen=True, slots=True)
class _Kept:
    version: str
    entries: dict[str, str]
    marks: dict[str, str]


# Per bucket and key, a copy of the snapshot this container last saved or read unchanged. A warm Lambda's next run
# asks S3 for the object only if its ETag moved (`If-None-Match`): the 304 spares the download and the parse, 40 ms
# of CPU in a 100 000-key stock tick that changes a few keys. Another run's save moves the ETag, so the copy is never
# read in place of a newer snapshot.
_KEPT: dict[tuple[str, str], _Kept] = {}


def forget_kept_snapshots() -> None:
    """Start as a cold container would: the next load of every snapshot reads it from S3."""
    _KEPT.clear()


class SnapshotStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @staticmethod
    def key(flow: str) -> str:
        return f"snapshots/{flow}.json.gz"

    def load(self, flow: str) -> Snapshot:
        where = (self._bucket, self.key(flow))
        # Taken, not shared: the run changes its entries in place, and its save keeps a copy again. A concurrent
        # load in the same process finds none and reads S3.
        kept = _KEPT.pop(where, None)
        try:
            if kept is None:
                answer = self._s3.get_object(Bucket=self._bucket, Key=where[1])
            else:
                answer = self._s3.get_object(Bucket=self._bucket, Key=where[1], IfNoneMatch=kept.version)
        except ClientError as error:
            if kept is not None and error_code(error) == "304":
                snapshot = Snapshot(flow, version=kept.version, marks=kept.marks)
                snapshot.own(kept.entries)
                return snapshot
            if is_missing(error):
                return Snapshot(flow)
            raise
        del kept  # another run saved since: the copy goes before the new snapshot is parsed, not beside it
        document = read_stored_json(gzip.decompress(answer["Body"].read()))
        snapshot = Snapshot(flow, version=answer.get("ETag"), marks=_marks(document))
        snapshot.own(_entries(flow, document))
        return snapshot

    def save(self, snapshot: Snapshot) -> None:
        """Write the snapshot only over the version it was read at (`If-Match`), or only where there is none yet
        (`If-None-Match: *`). Refused because another run saved in between, it reloads, applies this run's
        changes again and retries, up to SAVE_RETRIES times, then fails the run."""
        if not snapshot.unsaved:
            self._keep(snapshot)
            return
        for retry in range(SAVE_RETRIES + 1):
            try:
                self._put(snapshot)
            except ClientError as error:
                if not _is_conflict(error):
                    raise
                if retry == SAVE_RETRIES:
                    raise SnapshotConflict(
                        f"snapshot {snapshot.flow} could not be saved: another run saved it each of "
                        f"{SAVE_RETRIES + 1} times; the items this run sent will be sent again by the next run"
                    ) from None
                snapshot.rebase(self.load(snapshot.flow))
            else:
                self._keep(snapshot)
                return

    def _keep(self, snapshot: Snapshot) -> None:
        """Keep a copy of a snapshot just saved or found with nothing to save, for this container's next load."""
        if snapshot.version:
            entries, marks = dict(snapshot.entries), dict(snapshot.marks)
            _KEPT[(self._bucket, self.key(snapshot.flow))] = _Kept(snapshot.version, entries, marks)

    def _put(self, snapshot: Snapshot) -> None:
        document: dict[str, Any] = {"format": SNAPSHOT_FORMAT, "entries": snapshot.entries}
        if snapshot.marks:
            # An optional member: a release that does not know it reads the entries as before.
            document["marks"] = snapshot.marks
        # Level 1: written after every run that sent something, where level 9 took 0.4 s of CPU at 100 000
        # keys for a file about a fifth smaller.
        body = gzip.compress(compact_json(document).encode(), compresslevel=1, mtime=0)
        key = self.key(snapshot.flow)
        if snapshot.version:
            answer = self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType="application/json", IfMatch=snapshot.version
            )
        else:
            answer = self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
            )
        snapshot.saved(answer.get("ETag"))


def _marks(document: Any) -> dict[str, str]:
    marks = document.get("marks") if isinstance(document, dict) and "format" in document else None
    return {str(name): str(value) for name, value in marks.items()} if isinstance(marks, dict) else {}


def _entries(flow: str, document: Any) -> dict[str, str]:
    """The entries of a stored snapshot: `{"format": 2, "entries": {...}}`, or the bare map of format 1 (whose
    values are all digests, never a number, so its keys cannot be mistaken for the envelope)."""
    if not isinstance(document, dict):
        raise SnapshotFormatError(f"snapshot {flow} is not a JSON object")
    version = document.get("format")
    if not isinstance(version, int) or isinstance(version, bool):
        return document
    if version != SNAPSHOT_FORMAT or not isinstance(document.get("entries"), dict):
        raise SnapshotFormatError(
            f"snapshot {flow} has format {version}, this connector reads formats 1 and {SNAPSHOT_FORMAT}: "
            "deploy the version that wrote it"
        )
    entries: dict[str, str] = document["entries"]
    return entries


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
            if is_condition_failed(error):
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
            if is_condition_failed(error):
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
            if not is_condition_failed(error):
                raise


def _epoch(seconds: float) -> int:
    """Whole seconds, as DynamoDB numbers and TTL attributes want them."""
    return int(seconds)


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
