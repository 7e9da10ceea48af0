"""Task log files: every record outcome of one run, kept beside its previews (ARCHITECTURE §6).

While a run goes, `TaskLog` receives each record line it logs (`observability.records_to`), as logged: emails
masked, long values cut, and spools it, compressed, to a temporary file (a first full push logs a line per
record: a million SKUs made a gigabyte of entries in memory). When the run finishes, the runner stores that file
as `runs/<run_id>.jsonl.gz` in the staging bucket (an idle tick, with no record outcome, writes nothing). The
status pages, the command line and a key's history (keys.py) read them back through `TaskLogStore`; `to_csv` and
`to_jsonl` are the downloads.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from connector.jsonl_store import JsonLinesSpool, JsonLinesStore
from connector.state import now_iso

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

PREFIX = "runs/"
MAX_PAGE = 500
COMPRESS_LEVEL = 6


class Outcome(StrEnum):
    """What happened to a record, as the pages filter on it."""

    SENT = "sent"  # LNB (or Fastmag, for an order) accepted it
    REJECTED = "rejected"  # the remote refused it
    SKIPPED = "skipped"  # left out before sending (bad source row, not sent this run)
    BLOCKED = "blocked"  # an order held for an operator
    WARNED = "warned"  # sent or kept with a caveat (e.g. a SKU without a valid EAN13)
    STAGED = "staged"  # an image file written to S3, not yet uploaded to LNB
    UPLOADED = "uploaded"  # an image file LNB accepted
    ERROR = "error"  # something about the record went wrong (status not moved, outcome unknown)
    INFO = "info"  # anything else the run logged about a record


# Events whose outcome their level does not tell; any other event reads its level (WARNING → warned…).
_EVENT_OUTCOMES: dict[str, Outcome] = {
    "record.sent": Outcome.SENT,
    "order.exported": Outcome.SENT,
    "record.rejected": Outcome.REJECTED,
    "record.skipped": Outcome.SKIPPED,
    "order.ignored": Outcome.SKIPPED,
    "order.blocked": Outcome.BLOCKED,
    "order.stuck": Outcome.BLOCKED,
    "image.staged": Outcome.STAGED,
    "image.uploaded": Outcome.UPLOADED,
}
_LEVEL_OUTCOMES = {"WARNING": Outcome.WARNED, "ERROR": Outcome.ERROR}

# Fields of a log line that are the entry's own columns, not its details.
_COLUMNS = frozenset({"event", "key", "reason", "old", "new", "what"})


def outcome_of(event: str, level: str) -> Outcome:
    return _EVENT_OUTCOMES.get(event) or _LEVEL_OUTCOMES.get(level, Outcome.INFO)


class TaskLogEntry(BaseModel):
    """One record outcome of a run."""

    model_config = ConfigDict(frozen=True)

    at: str = Field(description="when it was logged (UTC ISO)")
    key: str = Field(description="EAN13, SKU, model, retailer reference, order reference…")
    event: str = Field(description="the log line's event: record.sent, record.rejected, order.blocked…")
    outcome: Outcome
    reason: str | None = None
    what: str | None = Field(default=None, description="product name, retailer name, EAN + variant")
    old: Any = Field(default=None, description="the value before, where the flow knows it")
    new: Any = Field(default=None, description="the value sent, where the flow knows it")
    detail: dict[str, Any] = Field(default_factory=dict, description="the line's other fields (http_status…)")

    @classmethod
    def from_line(cls, level: str, fields: Mapping[str, Any], at: str) -> TaskLogEntry:
        """The entry of one record log line (`observability.log_record`'s fields, already masked)."""
        event = str(fields.get("event", ""))
        return cls(
            at=at,
            key=str(fields.get("key", "")),
            event=event,
            outcome=outcome_of(event, level),
            reason=fields.get("reason"),
            what=_text_or_none(fields.get("what")),
            old=fields.get("old"),
            new=fields.get("new"),
            detail={name: value for name, value in fields.items() if name not in _COLUMNS},
        )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


_PLAIN_LEAVES = frozenset({str, int, bool, type(None)})


def _plain(values: Iterable[Any]) -> bool:
    """Whether `values` are JSON that pydantic's JSON mode leaves as they are: exact str, int, bool, None, finite
    float, and dicts (text keys) and lists of them. A loop, not a call per value: it runs for every line."""
    for value in values:
        kind = type(value)
        if kind in _PLAIN_LEAVES:
            continue
        if kind is float:
            if not math.isfinite(value):
                return False
        elif kind is dict:
            if not (all(type(name) is str for name in value) and _plain(value.values())):
                return False
        elif kind is not list or not _plain(value):
            return False
    return True


def entry_line(level: str, fields: Mapping[str, Any], at: str) -> dict[str, Any]:
    """`TaskLogEntry.from_line(level, fields, at).model_dump(mode="json")`: the line a task-log file holds.

    Built without the model where its fields are plain JSON, which the record lines of a push are: validating and
    dumping a model per record cost a tenth of a prices export's CPU. Anything else goes through the model."""
    reason, what, event = fields.get("reason"), fields.get("what"), str(fields.get("event", ""))
    line: dict[str, Any] = {
        "at": at,
        "key": str(fields.get("key", "")),
        "event": event,
        "outcome": "",
        "reason": reason,
        "what": what if what is None or type(what) is str else str(what),
        "old": fields.get("old"),
        "new": fields.get("new"),
        "detail": {name: value for name, value in fields.items() if name not in _COLUMNS},
    }
    if type(at) is not str or type(reason) not in {str, type(None)} or not _plain(line.values()):
        return TaskLogEntry.from_line(level, fields, at).model_dump(mode="json")
    line["outcome"] = outcome_of(event, level).value
    return line


class TaskLog:
    """The record outcomes of the running run, in the order they were logged; fed by `records_to(log.add)`.

    Each entry goes to a spool file as the line the stored file holds (`TaskLogStore.write` stores that file as
    it is); the file is made at the first entry and removed by `close`, which the runner calls however the run
    ends. Reading `entries` finishes the spool: the run has ended by then, and no entry may follow.
    """

    def __init__(self, clock: Callable[[], str] = now_iso) -> None:
        self._clock = clock
        self._spool: JsonLinesSpool | None = None
        self._opening = threading.Lock()

    def add(self, level: str, fields: Mapping[str, Any]) -> None:
        self._spooled().add(entry_line(level, fields, self._clock()))

    def _spooled(self) -> JsonLinesSpool:
        if self._spool is None:
            with self._opening:
                if self._spool is None:
                    self._spool = JsonLinesSpool(COMPRESS_LEVEL)
        return self._spool

    def __len__(self) -> int:
        return 0 if self._spool is None else self._spool.count

    @property
    def spool(self) -> JsonLinesSpool | None:
        """The spooled entries; None while there are none."""
        return self._spool

    @property
    def entries(self) -> Iterator[TaskLogEntry]:
        """The entries, read back from the spool in the order they were logged."""
        if self._spool is None:
            return iter(())
        return (TaskLogEntry.model_validate(line) for line in self._spool.lines())

    def close(self) -> None:
        """Remove the spool file (the entries are gone with it)."""
        if self._spool is not None:
            self._spool.close()


class Page[T](BaseModel):
    """One page of a filtered list: `items[offset:offset + limit]` and how many matched in all."""

    items: list[T]
    total: int = Field(description="how many items match the filter, over all pages")
    offset: int
    limit: int


def page_of[T](items: Iterable[T], match: Callable[[T], bool], *, offset: int = 0, limit: int = 50) -> Page[T]:
    """The page of `items` that `match` keeps, from `offset`, at most `limit` (capped at MAX_PAGE) long."""
    offset, limit = max(offset, 0), min(max(limit, 1), MAX_PAGE)
    kept = [item for item in items if match(item)]
    return Page[T](items=kept[offset : offset + limit], total=len(kept), offset=offset, limit=limit)


def entry_filter(outcome: str | None = None, q: str | None = None) -> Callable[[TaskLogEntry], bool]:
    """Keep entries of `outcome` (if given) whose key holds `q` (if given, case-insensitive)."""
    needle = (q or "").strip().casefold()

    def match(entry: TaskLogEntry) -> bool:
        return (outcome is None or entry.outcome == outcome) and needle in entry.key.casefold()

    return match


class TaskLogMissing(LookupError):
    """No task log file for that run (it logged no record outcome, never ran, or expired with the lifecycle)."""


class TaskLogStore:
    """Task log files as gzip JSON Lines under `runs/<run_id>.jsonl.gz` in the staging bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._files = JsonLinesStore(
            s3,
            bucket,
            prefix=PREFIX,
            what="task log",
            missing=lambda run_id: TaskLogMissing(f"run {run_id} has no task log"),
        )

    def key(self, run_id: str) -> str:
        return self._files.key(run_id)

    def write(self, run_id: str, entries: Sequence[TaskLogEntry] | TaskLog, *, flow: str) -> str | None:
        """Store the run's entries (a running run's `TaskLog`: its spool file as it is); nothing (None) when it
        had none. Returns the object's key."""
        metadata = {"flow": flow}
        if isinstance(entries, TaskLog):
            spool = entries.spool
            return None if spool is None else self._files.upload(self.key(run_id), spool, metadata=metadata)
        if not entries:
            return None
        lines = (entry.model_dump(mode="json") for entry in entries)
        return self._files.write(self.key(run_id), lines, metadata=metadata, compresslevel=COMPRESS_LEVEL)

    def read(self, run_id: str) -> list[TaskLogEntry]:
        """The run's entries in the order they were logged; TaskLogMissing if it has no file."""
        return self.read_with_flow(run_id)[1]

    def read_with_flow(self, run_id: str) -> tuple[str | None, list[TaskLogEntry]]:
        """The run's flow (as written) and entries; TaskLogMissing if it has no file."""
        metadata, lines = self._files.read(self.key(run_id), run_id)
        return metadata.get("flow"), [TaskLogEntry.model_validate(line) for line in lines]

    def presigned_url(self, run_id: str, expires_in: int = 900) -> str:
        """A link to the stored file itself (gzip JSON Lines), for a download too large for an API answer."""
        return self._files.presigned_url(self.key(run_id), expires_in)

    def page(
        self, run_id: str, *, outcome: str | None = None, q: str | None = None, offset: int = 0, limit: int = 50
    ) -> Page[TaskLogEntry]:
        """Entries of `outcome` whose key contains `q`, one page of them, with the matching total."""
        return page_of(self.read(run_id), entry_filter(outcome, q), offset=offset, limit=limit)

    def run_ids(self) -> Iterator[str]:
        """Every run that has a task log file (the bucket's lifecycle bounds how far back)."""
        return self._files.names()


# --- Exports ------------------------------------------------------------------------------------------------------


def to_jsonl(entries: Iterable[TaskLogEntry]) -> str:
    # Serialised by pydantic straight to JSON (a third of the time of a dict then `json.dumps`: a full push
    # writes 100 000 entries); what JSON cannot hold is written as its text, as before.
    return "".join(entry.model_dump_json(fallback=str) + "\n" for entry in entries)


def parse_jsonl(text: str) -> Iterator[TaskLogEntry]:
    for line in text.splitlines():
        if line.strip():
            yield TaskLogEntry.model_validate_json(line)


CSV_COLUMNS = ("at", "key", "event", "outcome", "what", "reason", "old", "new", "detail")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """`value` as an inert CSV cell: text, JSON for structures, a leading `'` where a spreadsheet would compute."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def to_csv(entries: Iterable[TaskLogEntry]) -> str:
    """The entries as CSV (header row, RFC 4180 quoting), every cell inert in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = entry.model_dump(mode="json")
        writer.writerow([csv_cell(None if row[column] == {} else row[column]) for column in CSV_COLUMNS])
    return out.getvalue()
