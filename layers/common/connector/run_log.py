"""The running flow's task log: counts every item outcome, logs one line per record, flushes progress to its
run record while it goes (only while the run still holds its lease).

Problems and warnings are kept apart: a problem is a reason items were rejected or could not be sent (the run
ends `partial`); a warning is a caveat on an item that was still sent or kept (a SKU sent without a valid
EAN13, a negative stock pushed as 0), counted and listed apart, and the run still ends `succeeded`.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from connector.counters import Counters
from connector.events import FlowRequest
from connector.lease import Lease
from connector.observability import log_record, mask_email, records_to, shorten
from connector.runs import RunStatus, RunStore
from connector.task_log import TaskLog

MAX_REASONS = 50
PROGRESS_EVERY_SECONDS = 5.0


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
        self.reasons: Counter[str] = Counter()  # why items failed: makes the run partial
        self.warning_reasons: Counter[str] = Counter()  # caveats on items still sent: listed apart
        self.task_log = TaskLog()
        self.unchanged_by_resource: Counter[str] = Counter()  # for a preview's counts per resource
        self.status: RunStatus | None = None
        self.message: str | None = None
        self.preview_key: str | None = None
        self.preview_bases: dict[str, str] = {}  # resource → version of the snapshot its preview was diffed with
        self.skipped_items: list[dict[str, str]] = []
        self.checks: dict[str, int] = {}  # a report's problems per check (the readiness flow)
        self.report_key: str | None = None  # where a reconcile stored its drift report
        self._store = store
        self._on_progress = on_progress
        self._last_flush = time.monotonic()
        # The orders flow tallies from its worker threads: a count is a read and a write of the same field.
        self._tally_lock = threading.RLock()

    @property
    def preview(self) -> bool:
        return self.request.preview

    @property
    def preview_base(self) -> str | None:
        """Set once the preview diffed anything: the first resource's snapshot version (the API's "can apply")."""
        return next(iter(self.preview_bases.values()), None)

    def count(self, counter: str, n: int = 1) -> None:
        with self._tally_lock:
            setattr(self.counters, counter, getattr(self.counters, counter) + n)
            self._maybe_flush()

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Within the block (the flow's work), every record line the flow logs also goes to this run's task log,
        and the cycle collector runs less often (`fewer_collections`)."""
        with records_to(self.task_log.add), fewer_collections():
            yield

    def problem(self, reason: str, n: int = 1) -> None:
        """A reason that made items fail, for the run's error summary (capped to the first reasons seen)."""
        with self._tally_lock:
            _tally(self.reasons, reason, n)

    def warning(self, reason: str, n: int = 1) -> None:
        """A caveat on `n` items that were still sent or kept: counted in `warnings`, summarised apart."""
        with self._tally_lock:
            self.count("warnings", n)
            _tally(self.warning_reasons, reason, n)

    def warned(
        self, key: str, reason: str, *, event: str = "record.warning", summary: str | None = None, **fields: Any
    ) -> None:
        """One item sent or kept with a caveat: its log line (and task-log entry) and the run's warning count.
        `summary` is the reason the run record groups it under (default: `reason`)."""
        self.warning(summary or reason)
        log_record(event, key, reason=reason, level="WARNING", **fields)

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
        """Held if the flow held it; partial if any item was rejected or could not be sent; succeeded otherwise
        (warnings included)."""
        if self.status is not None:
            return self.status
        if self.counters.rejected or self.reasons:
            return RunStatus.PARTIAL
        return RunStatus.SUCCEEDED


# A full push holds a few million objects (rows, payloads, outcomes) and keeps allocating: at the default
# thresholds (700, 10, 10) the cycle collector ran some 1 000 times a prices export, 8 of them over the whole
# heap, a sixth of the run's CPU. These let 50 000 objects accumulate first; what they free is the same.
RUN_GC_THRESHOLDS = (50_000, 20, 10)


class _Collections:
    """Runs in progress in this process (tests and the local API may run several at once) and the thresholds the
    first one found, restored when the last one ends."""

    lock = threading.Lock()
    running = 0
    saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Within the block, the cycle collector's thresholds are RUN_GC_THRESHOLDS (restored after)."""
    with _Collections.lock:
        if _Collections.running == 0:
            _Collections.saved = gc.get_threshold()
            gc.set_threshold(*RUN_GC_THRESHOLDS)
        _Collections.running += 1
    try:
        yield
    finally:
        with _Collections.lock:
            _Collections.running -= 1
            if _Collections.running == 0:
                gc.set_threshold(*_Collections.saved)


def _tally(reasons: Counter[str], reason: str, n: int) -> None:
    """Count `reason` (masked and cut: the run record is read on the status page like a log) under the first
    MAX_REASONS reasons seen; later ones under "(other reasons)"."""
    # LNB's messages may quote a buyer's email.
    reason = shorten(mask_email(reason))
    if reason in reasons or len(reasons) < MAX_REASONS:
        reasons[reason] += n
    else:
        reasons["(other reasons)"] += n
