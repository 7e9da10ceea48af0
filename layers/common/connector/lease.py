"""A run's lease: how long it may still write (its local view), and the heartbeat that renews it.

The flow's lock and the run record each carry the lease in the table (`LockStore`, `RunStore.renew`); this is
the run's side of it. `runs.timing` holds the durations and the clock every run reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from connector.errors import ConnectorError
from connector.observability import logger, shorten


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


class Pacer(Protocol):
    """Paces a heartbeat: `wait` returns True when the next renewal is due, False once `stop` was called."""

    def wait(self, seconds: float) -> bool: ...

    def stop(self) -> None: ...


class EventPacer:
    """Real time: a renewal every `seconds`, and `stop` wakes the heartbeat at once."""

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def wait(self, seconds: float) -> bool:
        return not self._stopped.wait(seconds)

    def stop(self) -> None:
        self._stopped.set()


@dataclass(frozen=True)
class LeaseTiming:
    """How long a run's lease lasts, how often its heartbeat renews it, how long a run may stay queued, and the
    clock (epoch seconds) all of them are read on. `runs.timing` is read at each use, so a test replaces it to
    drive time and heartbeats without sleeping."""

    lease_seconds: float = 120.0
    heartbeat_seconds: float = 30.0
    queued_limit_seconds: float = 900.0
    clock: Callable[[], float] = time.time
    pacer: Callable[[], Pacer] = EventPacer


class Heartbeat:
    """Renews a run's lease every `heartbeat_seconds` from a background thread, while the run works.

    A renewal is two conditional updates: the flow's lock and the run record, each only if still this holder's
    and not yet expired. The first renewal that fails (refused or raising) marks the lease lost: the run then
    writes nothing more (its `lease.require` checks raise) and ends failed. Use it as a context manager: the
    thread is stopped and joined on the way out, whatever happened inside.
    """

    def __init__(
        self, *, run_id: str, renew: Callable[[float, float], str | None], lease: Lease, settings: LeaseTiming
    ) -> None:
        self._run_id = run_id
        self._renew = renew
        self._lease = lease
        self._timing = settings
        self._pacer = settings.pacer()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pacer.stop()
        self._thread.join()

    def _beat(self) -> None:
        while self._pacer.wait(self._timing.heartbeat_seconds):
            if self._lease.lost_reason is not None:
                continue  # nothing to renew any more; wait to be stopped
            now = self._timing.clock()
            try:
                refusal = self._renew(now, self._timing.lease_seconds)
            except Exception as error:  # a renewal that did not happen is a lease that may run out
                refusal = f"renewal failed: {shorten(str(error))}"
            if refusal is None:
                # Counted from before the write, as the table counts it: the local view never outlives it.
                self._lease.renewed(now + self._timing.lease_seconds - self._timing.clock())
            else:
                self._lease.lose(refusal)
                logger.warning(
                    f"run {self._run_id} lost its lease: {refusal}",
                    extra={"event": "run.lease_lost", "key": self._run_id, "reason": refusal},
                )
