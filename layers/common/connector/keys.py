"""One key's history: every record line about an EAN13, SKU, model, retailer or order reference, newest first.

Two sources answer the same shape. In AWS, a bounded CloudWatch Logs Insights query over the functions' log
group (`InsightsHistory`: last MAX_DAYS days at most, LIMIT lines), which takes seconds, so it is started and
then polled (`start` → a query id, `poll` → status and events) and a page never waits inside one request. On
the sandbox, or wherever no log group is configured, the task log files of the runs (`TaskLogHistory`),
answered at once. `history(key, since)` waits for the answer, for the command line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

from connector.errors import ConnectorError
from connector.observability import mask_email, shorten
from connector.task_log import Outcome, TaskLogMissing, TaskLogStore, outcome_of

MAX_DAYS = 30  # how far back a history looks at most (the log group's retention is about as long)
LIMIT = 500  # lines a history returns at most, newest first
POLL_SECONDS = 1.0
WAIT_SECONDS = 60.0  # how long `history` waits for a query before giving up
MAX_KEY_LENGTH = 200

# The fields of a record line a history shows (observability's contract); `level` tells a warning's outcome.
FIELDS = (
    "@timestamp",
    "flow",
    "run_id",
    "trigger",
    "level",
    "event",
    "key",
    "reason",
    "what",
    "old",
    "new",
    "http_status",
    "lnb_status",
    "fastmag_number",
)


class InvalidKey(ConnectorError):
    """A key no record can have (empty, too long, or holding control characters)."""


class KeyEvent(BaseModel):
    """One thing that happened to a key, in one run."""

    at: str = Field(description="when (UTC ISO)")
    key: str
    event: str
    outcome: Outcome
    flow: str | None = None
    run_id: str | None = None
    reason: str | None = None
    what: str | None = None
    old: Any = None
    new: Any = None
    detail: dict[str, Any] = Field(default_factory=dict)


class QueryStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class HistoryAnswer(BaseModel):
    """What a page polls: running (poll again with `query_id`), complete with its events, or failed."""

    status: QueryStatus
    query_id: str | None = None
    events: list[KeyEvent] = Field(default_factory=list)
    message: str | None = None


class HistorySource(Protocol):
    def start(self, key: str, since: datetime) -> HistoryAnswer: ...

    def poll(self, key: str, query_id: str) -> HistoryAnswer: ...


def searchable_key(key: str) -> str:
    """The key as the logs hold it (emails masked), or InvalidKey."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or any(ord(char) < 32 or ord(char) == 127 for char in key):
        raise InvalidKey(f"not a key a record can have: {shorten(key, 80)!r}")
    return mask_email(key)


def bounded_since(since: datetime | None, now: datetime) -> datetime:
    """`since`, no further back than MAX_DAYS before `now` (default: that far)."""
    earliest = now - timedelta(days=MAX_DAYS)
    if since is None:
        return earliest
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return max(since, earliest)


# --- Logs Insights ---------------------------------------------------------------------------------------------


def insights_query(key: str, limit: int = LIMIT) -> str:
    """The Logs Insights query of one key's record lines, newest first. `key` is a searchable_key."""
    # A string literal in double quotes: a backslash and a quote are escaped, so no key can end the literal.
    literal = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return (
        f"fields {', '.join(FIELDS)}\n"
        f"| filter ispresent(event) and key = {literal}\n"
        "| sort @timestamp desc\n"
        f"| limit {limit}"
    )


_STATUSES = {
    "Scheduled": QueryStatus.RUNNING,
    "Running": QueryStatus.RUNNING,
    "Complete": QueryStatus.COMPLETE,
}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _value(text: str) -> Any:
    """Insights answers every field as text: numbers (old/new quantities, statuses) become numbers again."""
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


def _insights_time(text: str) -> str:
    """`2026-11-30 10:00:00.123` (UTC) → ISO."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat(timespec="milliseconds")
    except ValueError:
        return text


def parse_results(key: str, rows: Iterable[Sequence[Mapping[str, str]]]) -> list[KeyEvent]:
    """GetQueryResults' rows (lists of {field, value}) as events of `key`; rows about another key are dropped,
    so a query id that is not this key's cannot show anything else."""
    events: list[KeyEvent] = []
    for row in rows:
        fields = {cell["field"]: cell["value"] for cell in row if "field" in cell and "value" in cell}
        if fields.get("key") != key:
            continue
        event = fields.get("event", "")
        named = {"@timestamp", "@ptr", "flow", "run_id", "level", "event", "key", "reason", "what", "old", "new"}
        events.append(
            KeyEvent(
                at=_insights_time(fields.get("@timestamp", "")),
                key=key,
                event=event,
                outcome=outcome_of(event, fields.get("level", "INFO")),
                flow=fields.get("flow"),
                run_id=fields.get("run_id"),
                reason=fields.get("reason"),
                what=fields.get("what"),
                old=_value(fields["old"]) if "old" in fields else None,
                new=_value(fields["new"]) if "new" in fields else None,
                detail={name: _value(value) for name, value in fields.items() if name not in named},
            )
        )
    return events


class LogsQueries(Protocol):
    """The part of boto3's `logs` client a history uses (N803: boto3's own parameter names)."""

    def start_query(
        self,
        *,
        logGroupNames: list[str],
        startTime: int,
        endTime: int,
        queryString: str,
        limit: int,
    ) -> Mapping[str, Any]: ...

    def get_query_results(self, *, queryId: str) -> Mapping[str, Any]: ...


class InsightsHistory:
    """A key's history from the connector's log group, through a bounded Logs Insights query."""

    def __init__(
        self,
        logs: LogsQueries,
        log_group: str,
        *,
        limit: int = LIMIT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._logs = logs
        self._log_group = log_group
        self._limit = limit
        self._clock = clock

    def start(self, key: str, since: datetime) -> HistoryAnswer:
        now = self._clock()
        answer = self._logs.start_query(
            logGroupNames=[self._log_group],
            startTime=int(bounded_since(since, now).timestamp()),
            endTime=int(now.timestamp()),
            queryString=insights_query(searchable_key(key), self._limit),
            limit=self._limit,
        )
        return HistoryAnswer(status=QueryStatus.RUNNING, query_id=answer["queryId"])

    def poll(self, key: str, query_id: str) -> HistoryAnswer:
        answer = self._logs.get_query_results(queryId=query_id)
        status = _STATUSES.get(answer["status"], QueryStatus.FAILED)
        if status == QueryStatus.RUNNING:
            return HistoryAnswer(status=status, query_id=query_id)
        if status == QueryStatus.FAILED:
            return HistoryAnswer(
                status=status, query_id=query_id, message=f"the query ended {answer['status']}: search again"
            )
        events = parse_results(searchable_key(key), answer.get("results", []))
        return HistoryAnswer(status=status, query_id=query_id, events=events)


# --- Task log files (sandbox) --------------------------------------------------------------------------------


class TaskLogHistory:
    """A key's history from the runs' task log files: complete at once (the sandbox's, or without a log group)."""

    def __init__(self, task_logs: TaskLogStore, *, limit: int = LIMIT) -> None:
        self._task_logs = task_logs
        self._limit = limit

    def start(self, key: str, since: datetime) -> HistoryAnswer:
        wanted = searchable_key(key)
        after = bounded_since(since, datetime.now(UTC)).isoformat()
        events: list[KeyEvent] = []
        for run_id in self._task_logs.run_ids():
            try:
                flow, entries = self._task_logs.read_with_flow(run_id)
            except TaskLogMissing:  # expired between the listing and the read
                continue
            events.extend(
                KeyEvent(flow=flow, run_id=run_id, **entry.model_dump(exclude={"detail"}), detail=entry.detail)
                for entry in entries
                if entry.key == wanted and entry.at >= after
            )
        events.sort(key=lambda event: event.at, reverse=True)
        return HistoryAnswer(status=QueryStatus.COMPLETE, events=events[: self._limit])

    def poll(self, key: str, query_id: str) -> HistoryAnswer:
        # Nothing is ever left running here: a poll means the caller has an id from elsewhere.
        return HistoryAnswer(status=QueryStatus.FAILED, query_id=query_id, message="no such query: search again")


def history(
    key: str,
    since: datetime | None,
    source: HistorySource,
    *,
    wait_seconds: float = WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[KeyEvent]:
    """One key's events since `since` (at most MAX_DAYS back), newest first, waiting for the source's answer."""
    answer = source.start(key, bounded_since(since, datetime.now(UTC)))
    waited = 0.0
    while answer.status == QueryStatus.RUNNING and answer.query_id is not None:
        if waited >= wait_seconds:
            raise ConnectorError(f"the history of {key} took more than {wait_seconds:.0f} s: try a later `since`")
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS
        answer = source.poll(key, answer.query_id)
    if answer.status == QueryStatus.FAILED:
        raise ConnectorError(answer.message or f"the history of {key} could not be read")
    return answer.events


def history_source(task_logs: TaskLogStore, log_group: str) -> HistorySource:
    """Logs Insights over `log_group` where there is one (AWS); the task log files otherwise (sandbox)."""
    if not log_group:
        return TaskLogHistory(task_logs)
    import boto3

    logs: LogsQueries = boto3.client("logs")
    return InsightsHistory(logs, log_group)
