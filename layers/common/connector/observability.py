"""The single Logger and Metrics, and the log field contract support queries (ARCHITECTURE §7).

No Powertools Tracer: it needs the X-Ray SDK, which pulls botocore into the layer (breaking both the "no
botocore in the layer" rule and the 20 MB budget) and patches modules at import (cold start). The functions
keep `Tracing: Active`, so Lambda still records each invocation's trace without it.

Every line carries `flow`, `run_id` and `trigger` (appended once per run with `bind_run`). Record lines add
`event`, `key`, `reason` and where known `lnb_status`, `fastmag_number`, `http_status`, `duration_ms`.
Emails are masked wherever they appear in a logged value.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from connector.json_text import text_of

SERVICE = "connector"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="FastmagLeNewBlack", service=SERVICE)
# A run with nothing worth a custom metric publishes none (runner._log_finished): not a fault worth a log line.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# Bounded as addresses are (a local part of at most 64 characters, a domain of at most 253): unbounded, a long run
# of address characters without an "@" (a hostile field) costs time in the square of its length.
_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-]{0,63})@([A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63})")
_SECRET_QUERY = re.compile(r"(access_token|client_secret|motpasse|password|token)=([^&\s]+)", re.IGNORECASE)

# Fields a record line may carry; the saved Logs Insights queries rely on these names.
RECORD_FIELDS = (
    "event",
    "key",
    "reason",
    "lnb_status",
    "fastmag_number",
    "http_status",
    "duration_ms",
    "remote",
    "method",
    "path",
    "old",
    "new",
    "what",  # what the key is: product or fabric name, retailer name (task_log.py, keys.py)
    "p50_ms",
    "p95_ms",
    "count",  # summary lines: how many records (or calls) the line stands for
)


# Longest key or reason a log line or a run record carries: a reason may quote a broken source value of any
# size, and CloudWatch (256 KB an event) and DynamoDB (400 KB an item) refuse what is larger.
MAX_TEXT = 1000


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def mask_email(text: str) -> str:
    """`jeanne.durand@example.fr` → `j***@example.fr`: support can still tell buyers apart by domain."""
    if "@" not in text:  # most values: no scan at all
        return text
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(3)}", text)


_SCALARS = frozenset({int, float, bool})


def mask_url(url: str) -> str:
    """Hide credentials carried in query strings (LNB's access_token, Fastmag's MotPasse)."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", url)


def masked(value: Any) -> Any:
    """Mask emails inside any JSON-like value before it is logged or stored for support."""
    # Exact types first: payloads are JSON documents (plain dicts, lists, texts and numbers), masked whole for
    # every record a push sends, and the Mapping check (an ABC's) costs more than the masking.
    kind: type = type(value)
    if kind is not str and kind is not dict and kind is not list:
        if value is None or kind in _SCALARS:
            return value
        if isinstance(value, str):
            kind = str
        elif isinstance(value, Mapping):
            kind = dict
        elif isinstance(value, list | tuple):
            kind = list
        else:
            return value
    if kind is str:
        return mask_email(value)
    if kind is dict:
        return {k: masked(v) for k, v in value.items()}
    return [masked(v) for v in value]


class _TextFormatter(LambdaPowertoolsFormatter):
    """`time level message` lines for a person reading a terminal; still a Powertools formatter, whose keys
    (`bind_run`) the Logger appends to."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.formatTime(record)} {record.levelname} {record.getMessage()}"


@contextmanager
def log_to(stream: TextIO, *, text: bool = False) -> Iterator[None]:
    """Within the block, the task log (and other libraries' warnings) goes to `stream`, as JSON lines or, with
    `text`, as `time level message` lines: the command line keeps its terminal for the summary. Lambda never
    calls this, so its log stays JSON on stdout for CloudWatch."""
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):  # Powertools' own handler is one
        raise TypeError(f"the logger's handler {handler!r} writes to no stream")
    previous_stream, previous_formatter = handler.stream, handler.formatter
    handler.setStream(stream)
    if text:
        handler.setFormatter(_TextFormatter())
    # urllib3's retries, botocore: through the root logger, else Python's last-resort handler prints them.
    others = logging.StreamHandler(stream)
    others.setLevel(logging.WARNING)
    others.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    # The connector's own lines propagate to the root too (Powertools' default): they are written once, above.
    others.addFilter(lambda record: record.name != logger.name and not record.name.startswith(f"{logger.name}."))
    logging.getLogger().addHandler(others)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(others)
        handler.setStream(previous_stream)
        handler.setFormatter(previous_formatter)


def bind_run(*, flow: str, run_id: str, trigger: str) -> None:
    """Put the run's identity on every following log line of this invocation."""
    logger.append_keys(flow=flow, run_id=run_id, trigger=trigger)


def log_record(event: str, key: str, *, reason: str | None = None, level: str = "INFO", **fields: Any) -> None:
    """One JSON line per record outcome (`record.sent`, `record.rejected`, `order.blocked`, …)."""
    key = shorten(mask_email(key))
    extra: dict[str, Any] = {"event": event, "key": key}
    if reason is not None:
        reason = extra["reason"] = shorten(mask_email(reason))
    for name, value in fields.items():
        if value is not None:
            extra[name] = masked(value)
    message = f"{event} {key}: {reason}" if reason else f"{event} {key}"
    if not _record_lines.write(level, message, extra):
        log_at(level, message, extra)
    listener = _record_listener.get() or _process_record_listener[0]
    if listener is not None:
        listener(level, extra)


# Keys Powertools puts on every line that describe the invocation, not the record: a record line leaves them to
# the run's own lines (`run.finished` carries them; `run_id` ties the two). `location` would always name the
# same logging function.
_INVOCATION_KEYS = frozenset(
    {
        "location",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
    }
)
_LEVELS = {"INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}
# The formatter's own defaults (compact, non-ASCII kept, anything else as its str): one encoder for every line.
_line_text = text_of()


class _RecordLines:
    """Writes record lines straight to the Powertools handler's stream.

    Powertools is bypassed on this hot path on purpose: a full push logs one line per record sent (100 000 a
    prices export), and the Logger's per-call work (a LogRecord, its caller's frame, a copy of its attributes,
    the key templates, a strftime) cost more CPU than the push itself. The line is the one Powertools would write
    (same level, message, timestamp and keys, JSON with the formatter's defaults), without the invocation's
    keys (`_INVOCATION_KEYS`). Values come masked from `log_record`; the logger's level is respected; any set-up
    this path does not reproduce (another formatter such as the terminal's text lines, filters, a handler that
    is not a stream) goes through the Logger as before."""

    # Lines a thread holds inside `batched` before it writes them at once.
    BATCH_LINES = 100

    def __init__(self) -> None:
        self._logger = logging.getLogger(logger.name)  # the standard logger Powertools wraps
        self._second: tuple[int, Any, str, str] | None = None  # (second, converter, date and time, zone)
        self._held = threading.local()  # this thread's lines and where they go, while it batches

    @contextmanager
    def batched(self) -> Iterator[None]:
        """The record lines this thread writes inside are written `BATCH_LINES` at a time, and the rest on the way
        out, however it is left. In Lambda every write to stdout is flushed: a system call per line, and a
        hand-over of the GIL to the send threads each time (about 5 % of an incremental stock tick's CPU). A line
        Powertools writes meanwhile may come before the record lines held: each keeps its timestamp. Nested, the
        outer one writes."""
        if getattr(self._held, "lines", None) is not None:
            yield
            return
        self._held.lines, self._held.target = [], None
        try:
            yield
        finally:
            self._write_held()
            self._held.lines = None

    def _write_held(self) -> None:
        lines = self._held.lines
        if lines:
            handler, stream = self._held.target
            self._held.lines = []
            self._emit(handler, stream, "".join(lines), "record lines", "INFO")

    def _emit(self, handler: logging.Handler, stream: TextIO, text: str, message: str, level: str) -> None:
        with handler.lock or contextlib.nullcontext():
            try:
                stream.write(text)
                stream.flush()
            except RecursionError:
                raise
            except Exception:  # as StreamHandler.emit: a failing stream never fails the run
                handler.handleError(logging.makeLogRecord({"msg": message, "levelname": level}))

    def write(self, level: str, message: str, fields: Mapping[str, Any]) -> bool:
        """Write one line; False if this set-up needs the Logger (the caller then logs through it)."""
        handler = logger.registered_handler
        formatter = handler.formatter
        if (
            type(formatter) is not LambdaPowertoolsFormatter
            or type(handler) is not logging.StreamHandler
            or handler.filters
            or self._logger.filters
            or formatter.datefmt
            or formatter.use_rfc3339_iso8601
        ):
            return False
        if not self._logger.isEnabledFor(_LEVELS[level]):
            return True  # below the logger's level: nothing to write, as through the Logger
        line: dict[str, Any] = {"level": level, "message": message, "timestamp": self._timestamp(formatter)}
        for persistent in (formatter.log_format, formatter.thread_safe_get_current_keys()):
            for name, value in persistent.items():
                if value is not None and name not in line and name not in _INVOCATION_KEYS:
                    line[name] = value
        line.update(fields)
        text = _line_text(line) + handler.terminator
        if getattr(self._held, "lines", None) is None:
            self._emit(handler, handler.stream, text, message, level)
            return True
        target = (handler, handler.stream)
        if self._held.target != target:  # the stream changed while batching: what is held for the old one goes
            self._write_held()
            self._held.target = target
        self._held.lines.append(text)
        if len(self._held.lines) >= self.BATCH_LINES:
            self._write_held()
        return True

    def _timestamp(self, formatter: LambdaPowertoolsFormatter) -> str:
        """Powertools' default timestamp (`2026-11-30 14:18:59,929+0000`), its strftime done once a second."""
        now = time.time()
        second = int(now)
        cached = self._second
        if cached is None or cached[0] != second or cached[1] is not formatter.converter:
            moment = formatter.converter(second)
            date_time, zone = time.strftime("%Y-%m-%d %H:%M:%S", moment), time.strftime("%z", moment)
            cached = (second, formatter.converter, date_time, zone)
            self._second = cached
        return f"{cached[2]},{int((now - second) * 1000):03d}{cached[3]}"


_record_lines = _RecordLines()
record_lines_batched = _record_lines.batched


# Who else receives every record line (the run's task log, task_log.py), as logged: masked and shortened.
RecordListener = Callable[[str, Mapping[str, Any]], None]
_record_listener: ContextVar[RecordListener | None] = ContextVar("record_listener", default=None)
# Worker threads do not inherit context variables: they fall back to the process's latest listener (a Lambda
# container runs one run at a time, so it is that run's).
_process_record_listener: list[RecordListener | None] = [None]


@contextmanager
def records_to(listener: RecordListener) -> Iterator[None]:
    """Within the block, every `log_record` line is also handed to `listener(level, fields)`."""
    token = _record_listener.set(listener)
    previous = _process_record_listener[0]
    _process_record_listener[0] = listener
    try:
        yield
    finally:
        _record_listener.reset(token)
        _process_record_listener[0] = previous


def log_at(level: str, message: str, extra: dict[str, Any]) -> None:
    {"INFO": logger.info, "WARNING": logger.warning, "ERROR": logger.error}[level](message, extra=extra)


class RemoteCallSummary:
    """A run's successful remote calls, aggregated per (remote, method, path): one `remote.call` line each at
    the end of the run, with `count`, `p50_ms`, `p95_ms` and `duration_ms` (the slowest call, so the saved
    "slowest remote calls" query still finds it). A full push makes a thousand LNB calls: a line each cost more
    CloudWatch Logs ingestion than the run's compute. Failed calls are still logged one by one, and every call
    is at DEBUG level. Thread-safe: the batch sender calls from its pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._durations: dict[tuple[str, str, str], list[float]] = defaultdict(list)

    def add(self, remote: str, method: str, path: str, duration_ms: float) -> None:
        with self._lock:
            self._durations[(remote, method, path)].append(duration_ms)

    def lines(self) -> list[dict[str, Any]]:
        lines = []
        for (remote, method, path), durations in sorted(self._durations.items()):
            ordered = sorted(durations)
            lines.append(
                {
                    "event": "remote.call",
                    "remote": remote,
                    "method": method,
                    "path": path,
                    "count": len(ordered),
                    "p50_ms": _percentile(ordered, 50),
                    "p95_ms": _percentile(ordered, 95),
                    "duration_ms": ordered[-1],
                }
            )
        return lines


def _percentile(ordered: list[float], percent: int) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(math.ceil(len(ordered) * percent / 100) - 1, 0)]


class _Active:
    """The summary of the run in progress in this process (None: every call is logged as it ends)."""

    summary: RemoteCallSummary | None = None


@contextmanager
def remote_calls_summarised() -> Iterator[None]:
    """Within the block (one run), successful remote calls are aggregated, then logged per path at its end."""
    _Active.summary = summary = RemoteCallSummary()
    try:
        yield
    finally:
        _Active.summary = None
        for line in summary.lines():
            logger.info(f"remote.call {line['remote']} {line['method']} {line['path']} ×{line['count']}", extra=line)


@contextmanager
def remote_call(remote: str, method: str, path: str) -> Iterator[dict[str, Any]]:
    """Time one remote call and log it (`event=remote.call`); the caller may set `http_status` in the dict.

    Inside `remote_calls_summarised` (a run), a call that answered below HTTP 400 is only counted, unless the
    log level is DEBUG."""
    outcome: dict[str, Any] = {}
    started = time.perf_counter()
    failed = True
    try:
        yield outcome
        failed = int(outcome.get("http_status") or 0) >= 400
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        summary = _Active.summary
        shown = mask_url(path)
        if summary is not None and not failed and logger.log_level > logging.DEBUG:
            summary.add(remote, method, shown, duration_ms)
        else:
            logger.info(
                f"remote.call {remote} {method} {shown}",
                extra={
                    "event": "remote.call",
                    "remote": remote,
                    "method": method,
                    "path": shown,
                    "duration_ms": duration_ms,
                    **outcome,
                },
            )
