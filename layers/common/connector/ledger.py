"""The order ledger: one DynamoDB item per Le New Black order, `ORDER#<reference>`, and what the lookup proved.

Every transition is a compare-and-set on the status, the attempt counter and the revision the run read, and
writes the whole bounded history in the same update, so two runs (a duplicate delivery, a run that outlived
its lease) can never both move an order, and no step reads the item again to trim it.

    pending ─claim→ sent ─OK / found→ exported ─LNB status→ exported (lnb_status set)
    pending/validated/blocked ─claim→ sent ─body never left→ validated (attempt + 1)
    sent ─KO→ pending (attempt + 1)           sent ─unknown→ sent (looked up next run)
    sent ─miss, settled, lookup proven, budget left→ sent again (auto resend)
    sent ─otherwise→ blocked (stuck: an operator resolves it)     blocked ─gone from LNB→ abandoned
    pending/validated/blocked (no write may exist) ─before the go-live cut-off→ ignored (for good)

A run opens the waiting orders' entries with one BatchGetItem per 100 (`open_all`); an order without one is
created by its first transition, conditional on no item existing, so a new order costs no call of its own.

`write_may_exist` is set from the claim until the outcome is known: such an order is never claimed again
except by an automatic resend that meets every rule, or by an operator.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator

from connector.errors import ConnectorError
from connector.observability import mask_email, masked, shorten
from connector.state import fits_key, is_condition_failed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

HISTORY_LENGTH = 30
# The entry's layout. An entry without `format` was written before it existed and reads as format 1; a newer
# one (written by a later release, then rolled back) is refused rather than misread.
LEDGER_FORMAT = 1
_LOOKUP_PK = "ORDERS#LOOKUP"
BATCH_GET_KEYS = 100  # DynamoDB's limit of keys in one BatchGetItem


def now() -> datetime:
    """The ledger's clock (tests replace it to pass a settle time without waiting)."""
    return datetime.now(UTC)


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


class LedgerFormatError(ConnectorError):
    """A ledger entry written by a newer version of the connector."""


class LedgerStatus(StrEnum):
    PENDING = "pending"
    VALIDATED = "validated"
    SENT = "sent"  # a write may have reached Fastmag: look it up before anything else
    EXPORTED = "exported"
    BLOCKED = "blocked"  # needs action: invalid, partial, or outcome unknown that the lookup cannot confirm
    ABANDONED = "abandoned"  # was blocked, then left the LNB statuses the connector reads: nothing to do
    IGNORED = "ignored"  # placed before the go-live cut-off (`orders.not_before`): never written, for good


class LedgerEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: int = 1
    reference: str
    status: LedgerStatus
    reason: str | None = None
    fastmag_number: str | None = None
    lnb_status: str | None = None
    failed_runs: int = 0
    attempt: int = 0  # how many times the order was handed back for another write
    auto_resends: int = 0  # automatic resends of a write whose outcome was unknown
    revision: int = 0  # every update adds one: the compare-and-set token, with status and attempt
    write_may_exist: bool = False
    sent_at: str | None = None
    lines_total: int | None = None
    lines_accepted: int | None = None
    last_run_id: str | None = None
    first_seen: str | None = None
    updated_at: str | None = None
    history: list[str] = []
    # False for an order the ledger has no item for yet: its first transition creates the item.
    _stored: bool = PrivateAttr(default=True)

    @classmethod
    def new(cls, reference: str) -> LedgerEntry:
        """An order seen for the first time: `pending`, stored by its first transition (compare-and-set on absence)."""
        entry = cls(reference=reference, status=LedgerStatus.PENDING)
        entry._stored = False
        return entry

    @property
    def stored(self) -> bool:
        return self._stored

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value > LEDGER_FORMAT:
            raise LedgerFormatError(
                f"ledger entry format {value}: this connector reads up to {LEDGER_FORMAT}; deploy the version "
                "that wrote it"
            )
        return value

    # Fastmag's refusals may quote a buyer's email: masked as in the logs, also in entries written before.
    @field_validator("reason", "fastmag_number", "lnb_status", "last_run_id", "history", mode="after")
    @classmethod
    def _emails_masked(cls, value: Any) -> Any:
        return masked(value)

    def sent_time(self) -> datetime | None:
        return datetime.fromisoformat(self.sent_at) if self.sent_at else None


class LookupProof(BaseModel):
    """What the last check of the `orders_by_reference` query (identified by its digest) showed."""

    model_config = ConfigDict(extra="ignore")

    query_digest: str
    verified_at: str | None = None
    broken_at: str | None = None
    broken_reason: str | None = None

    @property
    def proven(self) -> bool:
        """Found orders written `OK` at its latest check (a later miss disables resends until the next find)."""
        return self.verified_at is not None and (self.broken_at is None or self.broken_at < self.verified_at)


class OrderLedger:
    """The ledger items; `transition` is the only way an existing entry changes."""

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

    def open_all(self, references: Iterable[str]) -> dict[str, LedgerEntry]:
        """The entries of `references`, read in one BatchGetItem per 100 keys (consistent reads); an order without
        an item gets `LedgerEntry.new`, created by its first transition, so opening a new order costs no call."""
        wanted = list(dict.fromkeys(references))
        keys = [self._key(reference) for reference in wanted if fits_key(reference)]
        found: dict[str, LedgerEntry] = {}
        name = self._table.name
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: Any = {name: {"Keys": keys[start : start + BATCH_GET_KEYS], "ConsistentRead": True}}
            while request:  # DynamoDB may leave keys unprocessed (throttled, or past 16 MB): asked again
                answer = self._table.meta.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(name, []):
                    entry = LedgerEntry.model_validate(item)
                    found[entry.reference] = entry
                request = answer.get("UnprocessedKeys") or None
        return {reference: found.get(reference) or LedgerEntry.new(reference) for reference in wanted}

    def open(self, reference: str, run_id: str) -> LedgerEntry:
        """The entry of an order seen in LNB, created `pending` the first time: one call, nothing overwritten."""
        stamp = _stamp(now())
        answer = self._table.update_item(
            Key=self._key(reference),
            UpdateExpression=(
                "SET #format = if_not_exists(#format, :format), "
                "#reference = if_not_exists(#reference, :reference), #status = if_not_exists(#status, :pending), "
                "failed_runs = if_not_exists(failed_runs, :zero), #attempt = if_not_exists(#attempt, :zero), "
                "#revision = if_not_exists(#revision, :zero), first_seen = if_not_exists(first_seen, :now), "
                "updated_at = if_not_exists(updated_at, :now), last_run_id = if_not_exists(last_run_id, :run), "
                "#history = if_not_exists(#history, :seen), gsi1pk = if_not_exists(gsi1pk, :gsi), "
                "gsi1sk = if_not_exists(gsi1sk, :now)"
            ),
            ExpressionAttributeNames={
                "#format": "format",
                "#reference": "reference",
                "#status": "status",
                "#history": "history",
                "#attempt": "attempt",
                "#revision": "revision",
            },
            ExpressionAttributeValues={
                ":format": LEDGER_FORMAT,
                ":reference": reference,
                ":pending": LedgerStatus.PENDING.value,
                ":zero": 0,
                ":now": stamp,
                ":run": run_id,
                ":seen": [f"{stamp} seen by run {run_id}"],
                ":gsi": f"LEDGER#{LedgerStatus.PENDING.value}",
            },
            ReturnValues="ALL_NEW",
        )
        return LedgerEntry.model_validate(answer["Attributes"])

    def transition(self, entry: LedgerEntry, status: LedgerStatus, note: str, **fields: Any) -> LedgerEntry | None:
        """Move `entry` as read to `status`, setting `fields` (None removes one) and adding `note` to the history.

        Only if the item still has the status, attempt and revision read; returns the new entry, or None when
        another run changed the order first (it is then that run's to finish).
        """
        stamp = _stamp(now())
        history = [*entry.history, f"{stamp} {shorten(mask_email(note))}"][-HISTORY_LENGTH:]
        names = {"#status": "status", "#history": "history", "#attempt": "attempt", "#revision": "revision"}
        values: dict[str, Any] = {
            ":status": status.value,
            ":now": stamp,
            ":gsi": f"LEDGER#{status.value}",
            ":history": history,
            ":read_status": entry.status.value,
            ":read_attempt": entry.attempt,
            ":read_revision": entry.revision,
            ":revision": entry.revision + 1,
        }
        sets = [
            "#status = :status",
            "updated_at = :now",
            "gsi1pk = :gsi",
            "gsi1sk = :now",
            "#history = :history",
            "#revision = :revision",
        ]
        removes = []
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                # Reasons may quote a broken order's values: cut, so the entry stays under DynamoDB's 400 KB.
                # Emails masked before they are stored (Fastmag's refusal texts may quote one).
                values[f":f{index}"] = shorten(mask_email(value)) if isinstance(value, str) else masked(value)
                sets.append(f"#f{index} = :f{index}")
        # Entries written before attempt and revision existed have neither: absent counts as 0.
        attempt, revision = (
            f"#{name} = :read_{name}" if read else f"(attribute_not_exists(#{name}) OR #{name} = :read_{name})"
            for name, read in (("attempt", entry.attempt), ("revision", entry.revision))
        )
        condition = f"#status = :read_status AND {attempt} AND {revision}"
        if not entry.stored:  # a new order: created by this move, unless another run created it first
            condition = "attribute_not_exists(pk)"
            names |= {"#format": "format", "#reference": "reference"}
            values |= {":format": LEDGER_FORMAT, ":reference": entry.reference}
            sets += ["#format = :format", "#reference = :reference", "first_seen = :now"]
            del names["#attempt"], values[":read_status"], values[":read_attempt"], values[":read_revision"]
        try:
            answer = self._table.update_item(
                Key=self._key(entry.reference),
                UpdateExpression="SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failed(error):
                return None
            raise
        return LedgerEntry.model_validate(answer["Attributes"])

    def with_status(self, status: LedgerStatus) -> Iterator[LedgerEntry]:
        """Every entry in `status`, page after page."""
        query: dict[str, Any] = {
            "IndexName": "by_flow",
            "KeyConditionExpression": "gsi1pk = :status",
            "ExpressionAttributeValues": {":status": f"LEDGER#{status.value}"},
        }
        while True:
            answer = self._table.query(**query)
            for item in answer["Items"]:
                yield LedgerEntry.model_validate(item)
            if "LastEvaluatedKey" not in answer:
                return
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def moved_by(self, run_id: str, since: str, until: str) -> list[LedgerEntry]:
        """The entries whose last move was made by `run_id`, which ran from `since` to `until` (ISO instants).

        Each status' index partition is read only over the run's time window (`gsi1sk` is the last move's time),
        so the read stays small however large the ledger grows; an order a later run moved again is that run's.
        """
        found: list[LedgerEntry] = []
        for status in LedgerStatus:
            query: dict[str, Any] = {
                "IndexName": "by_flow",
                "KeyConditionExpression": "gsi1pk = :status AND gsi1sk BETWEEN :since AND :until",
                "FilterExpression": "last_run_id = :run",
                "ExpressionAttributeValues": {
                    ":status": f"LEDGER#{status.value}",
                    ":since": since,
                    ":until": until,
                    ":run": run_id,
                },
            }
            while True:
                answer = self._table.query(**query)
                found += [LedgerEntry.model_validate(item) for item in answer["Items"]]
                if "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return sorted(found, key=lambda entry: entry.reference)

    # --- the proof that the lookup finds what was written -------------------------------------------------------

    @staticmethod
    def _lookup_key(query_digest: str) -> dict[str, str]:
        return {"pk": _LOOKUP_PK, "sk": query_digest}

    def lookup_proof(self, query_digest: str) -> LookupProof:
        item = self._table.get_item(Key=self._lookup_key(query_digest), ConsistentRead=True).get("Item")
        return LookupProof.model_validate(item) if item else LookupProof(query_digest=query_digest)

    def record_lookup(self, query_digest: str, *, found: bool, reason: str | None = None) -> None:
        stamp = _stamp(now())
        if found:
            expression, values = "SET verified_at = :now, query_digest = :digest", {":now": stamp}
        else:
            expression = "SET broken_at = :now, broken_reason = :reason, query_digest = :digest"
            values = {":now": stamp, ":reason": shorten(reason or "")}
        self._table.update_item(
            Key=self._lookup_key(query_digest),
            UpdateExpression=expression,
            ExpressionAttributeValues={**values, ":digest": query_digest},
        )
