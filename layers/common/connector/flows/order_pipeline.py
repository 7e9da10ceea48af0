"""The orders run's pipeline: Fastmag writes `orders.fastmag_concurrency` at once (serial by default), each order
claimed in the ledger while the write before it is in flight, and each order's later steps (ledger records, LNB
status moves) on `lenewblack.concurrency` workers behind them.

An order's own steps stay strictly in order (claim → write → exported → LNB status), each a compare-and-set in
the ledger. Claims run ahead of the writes by at most one order per write slot: the next order's claim (a ledger
round trip) overlaps the write before it, so only Fastmag writes are on the serial path. A claimed order is
written only if the run's lease still covers the write when the write starts (the claim checked it one write
earlier); otherwise it stays `sent`, exactly as a run that crashed between claim and write leaves it, and the
next run looks it up in Fastmag before writing it again.

At most `lenewblack.concurrency` orders are between their claim and their last step, so the writes never run far
ahead of what the ledger recorded (a run that stops leaves that few orders to be looked up). An order's failure
is its own: the verbs record it and the other orders go on. An error a verb does not handle (a lost lease, the
ledger unreachable) stops every claim not yet made; an order already claimed is still written if the lease
allows it (written, the next run finds it; unwritten, it could only be resent after the settle time), steps
already queued still run, each under its own lease check, and the first error is raised when the pipeline closes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import TracebackType

# What a write step hands on: the order's next steps, run by a follower (None: nothing left to do).
FollowUp = Callable[[], None] | None


class OrderPipeline:
    """Use as a context manager: on exit it waits for every step, then raises the first error a step raised."""

    def __init__(self, *, writers: int, followers: int) -> None:
        self._claimers = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="order-claim")
        self._writers = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="fastmag-write")
        self._followers = ThreadPoolExecutor(max_workers=followers, thread_name_prefix="order-steps")
        self._room = threading.BoundedSemaphore(followers)
        # Claimed orders whose write has not started: one per write slot.
        self._ahead = threading.BoundedSemaphore(writers)
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    def __enter__(self) -> OrderPipeline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is not None:
            self._stop(error)
        # Each stage hands its orders to the next before its worker ends: closed in that order.
        self._claimers.shutdown(wait=True)
        self._writers.shutdown(wait=True)
        self._followers.shutdown(wait=True)
        if error is None and self._error is not None:
            raise self._error

    def _stop(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = error

    @property
    def stopped(self) -> bool:
        return self._error is not None

    def write[C](self, claim: Callable[[], C | None], send: Callable[[C], FollowUp]) -> None:
        """`claim` one order (None: not this run's to write) once the pipeline has room and no other order waits
        claimed for a write slot; then `send` what the claim returned on a writer, and what `send` returns on a
        follower."""
        self._claimers.submit(self._claim, claim, send)

    def follow(self, step: Callable[[], None]) -> None:
        """Steps of an order that writes nothing to Fastmag (ledger and LNB only), on a follower."""
        self._followers.submit(self._guarded, step)

    def _claim[C](self, claim: Callable[[], C | None], send: Callable[[C], FollowUp]) -> None:
        self._ahead.acquire()
        self._room.acquire()
        claimed: C | None = None
        try:
            if not self.stopped:
                claimed = self._guarded(claim)
        finally:
            if claimed is None:
                self._room.release()
                self._ahead.release()
        if claimed is not None:
            self._writers.submit(self._send, partial(send, claimed))

    def _send(self, send: Callable[[], FollowUp]) -> None:
        self._ahead.release()  # this order's write starts: the next one may be claimed meanwhile
        follow_up: FollowUp = None
        try:
            follow_up = self._guarded(send)
        finally:
            if follow_up is None:
                self._room.release()
        if follow_up is not None:
            self._followers.submit(self._follow_then_free, follow_up)

    def _follow_then_free(self, step: Callable[[], None]) -> None:
        try:
            self._guarded(step)
        finally:
            self._room.release()

    def _guarded[T](self, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except Exception as error:  # kept for the caller: the other orders' steps go on
            self._stop(error)
            return None
