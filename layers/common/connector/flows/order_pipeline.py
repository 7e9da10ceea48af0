"""The orders run's pipeline: Fastmag writes `orders.fastmag_concurrency` at once (serial by default), and each
order's later steps (ledger records, LNB status moves) on `lenewblack.concurrency` workers behind them.

An order's own steps stay strictly in order (claim → write on a writer; exported → LNB status on a follower, queued
only once the write answered), and each is a compare-and-set in the ledger. At most `lenewblack.concurrency` orders
are between their claim and their last step, so the writes never run far ahead of what the ledger recorded (a run
that stops leaves that few orders to be looked up). An order's failure is its own: the verbs record it and the
other orders go on. An error a verb does not handle (a lost lease, the ledger unreachable) stops every write not
yet started; steps already queued still run, each under its own lease check, and the first error is raised when
the pipeline closes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

# What a write step hands on: the order's next steps, run by a follower (None: nothing left to do).
FollowUp = Callable[[], None] | None


class OrderPipeline:
    """Use as a context manager: on exit it waits for every step, then raises the first error a step raised."""

    def __init__(self, *, writers: int, followers: int) -> None:
        self._writers = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="fastmag-write")
        self._followers = ThreadPoolExecutor(max_workers=followers, thread_name_prefix="order-steps")
        self._room = threading.BoundedSemaphore(followers)
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    def __enter__(self) -> OrderPipeline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is not None:
            self._stop(error)
        self._writers.shutdown(wait=True)  # every write has queued its follow-up before its writer ends
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

    def write(self, step: Callable[[], FollowUp]) -> None:
        """`step` (claim and write one order) on a writer, once the pipeline has room; what it returns on a follower."""
        self._writers.submit(self._write, step)

    def follow(self, step: Callable[[], None]) -> None:
        """Steps of an order that writes nothing to Fastmag (ledger and LNB only), on a follower."""
        self._followers.submit(self._guarded, step)

    def _write(self, step: Callable[[], FollowUp]) -> None:
        self._room.acquire()
        follow_up: FollowUp = None
        try:
            if not self.stopped:
                follow_up = self._guarded(step)
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
