"""Runs that meet each other, step by step: a tick delivered twice, two ticks at once, a run that loses its lease
while the next one starts. Through the real handlers, moto and the simulators; the order of the steps is set by
barriers (a simulator call held until the test releases it) and by a clock and heartbeats the test drives, so
nothing here sleeps or depends on timing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector import runs
from connector.lease import LeaseTiming
from connector.runner import RunFailed
from sandbox.stack import LocalStack
from tests.conftest import TaskLog

WAIT = 30  # seconds a step may take before the test gives up (a hang is a failure, never a pass)
LEASE = 120.0
TICK = "2026-11-27T08:15:00Z"
NEXT_TICK = "2026-11-27T08:30:00Z"


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ManualPacer:
    """A heartbeat's pacing driven by the test: `beat()` lets it renew once and returns when the renewal is done."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._asked = self._taken = self._done = 0
        self._stopped = False

    def wait(self, seconds: float) -> bool:
        with self._condition:
            self._done = self._taken
            self._condition.notify_all()
            self._condition.wait_for(lambda: self._stopped or self._asked > self._taken)
            if self._stopped:
                return False
            self._taken += 1
            return True

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def beat(self) -> None:
        with self._condition:
            self._asked += 1
            self._condition.notify_all()
            assert self._condition.wait_for(lambda: self._done >= self._asked, WAIT), "the heartbeat did not renew"


class Pacers:
    """Makes one ManualPacer per run, in the order the runs start."""

    def __init__(self) -> None:
        self.made: list[ManualPacer] = []

    def __call__(self) -> ManualPacer:
        pacer = ManualPacer()
        self.made.append(pacer)
        return pacer


class Gate:
    """Holds the first simulator call of `method` on `path` until `release()`; later calls pass."""

    def __init__(self, method: str, path: str) -> None:
        self.method, self.path = method, path
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._armed = True
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> None:
        with self._lock:
            hold = self._armed and method == self.method and path.startswith(self.path)
            self._armed = self._armed and not hold
        if hold:
            self.arrived.set()
            assert self._released.wait(WAIT), "the test never released the gate"

    def wait_arrival(self) -> None:
        assert self.arrived.wait(WAIT), f"no {self.method} {self.path} arrived"

    def release(self) -> None:
        self._released.set()


class InThread:
    """A handler call in its own thread; `result()` joins it and returns what it returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._outcome: list[Any] = []
        self._thread = threading.Thread(target=lambda: self._outcome.append(self._run(call)))
        self._thread.start()

    @staticmethod
    def _run(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as error:  # returned, so the test can assert on it
            return error

    def result(self) -> Any:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the run did not end"
        return self._outcome[0]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import time

    return Clock(time.time())


@pytest.fixture
def pacers(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Pacers:
    made = Pacers()
    monkeypatch.setattr(runs, "timing", LeaseTiming(lease_seconds=LEASE, heartbeat_seconds=30, clock=clock, pacer=made))
    return made


@pytest.fixture
def gated(stack: LocalStack) -> Iterator[Callable[[str, str], Gate]]:
    gates: list[Gate] = []

    def install(method: str, path: str) -> Gate:
        gate = Gate(method, path)
        gates.append(gate)
        stack.lnb.before_handling = gate
        return gate

    yield install
    for gate in gates:  # a failed step must not leave a run held
        gate.release()
    stack.lnb.before_handling = None


@pytest.fixture(params=[1, 4], ids=["fastmag-serial", "fastmag-4"])
def writes_at(request: pytest.FixtureRequest, stack: LocalStack) -> int:
    """Every orders interleaving holds with Fastmag writes serial (the default) and at the highest concurrency."""
    concurrency: int = request.param
    stack.configure({"orders": {"fastmag_concurrency": concurrency}})
    return concurrency


def tick_event(stack: LocalStack, flow: str, when: str, delivery: str, attempt: int = 1) -> dict[str, Any]:
    """A scheduled tick as Scheduler delivers it: the same schedule and time for every delivery of the tick."""
    name = {"orders": "schedule_orders", "stock": "schedule_stock"}[flow]
    return stack.event(name, scheduled_time=when, execution_id=delivery, attempt=str(attempt))


def pull(stack: LocalStack, when: str, delivery: str, attempt: int = 1) -> Any:
    return stack.invoke("import_orders", tick_event(stack, "orders", when, delivery, attempt))


def run_items(stack: LocalStack, flow: str) -> list[dict[str, Any]]:
    items = stack.table.scan(ConsistentRead=True)["Items"]
    return [item for item in items if str(item["pk"]).startswith("RUN#") and item.get("flow") == flow]


def fastmag_copies(stack: LocalStack) -> Counter[str]:
    return Counter(str(order["RefExterne"]) for order in stack.fastmag.orders())


def invoicing(stack: LocalStack) -> set[str]:
    return {reference for reference, order in stack.lnb.orders.items() if order["status"] == "invoicing"}


@pytest.mark.usefixtures("writes_at")
def test_a_tick_delivered_twice_at_once_is_one_run_and_the_record_stays_the_first_deliverys(
    stack: LocalStack, pacers: Pacers, gated: Callable[[str, str], Gate], task_log: TaskLog
) -> None:
    references = invoicing(stack)
    gate = gated("GET", "/orders")
    # 1. The first delivery starts the run, takes the lock and is held in its first LNB call.
    first = InThread(lambda: pull(stack, TICK, "delivery-1"))
    gate.wait_arrival()
    (started,) = run_items(stack, "orders")
    assert started["status"] == "running" and started["execution_id"] == "delivery-1"
    # 2. The second delivery of the same tick (Lambda's duplicate, or Scheduler's retry with a new execution id)
    #    loses the start write: it answers the run as it is and writes nothing.
    duplicate = pull(stack, TICK, "delivery-2", attempt=2)
    assert duplicate["run_id"] == started["run_id"] and duplicate["status"] == "running"
    assert run_items(stack, "orders") == [started]
    (logged,) = task_log.events("run.duplicate")
    assert logged["run_id"] == started["run_id"]
    # 3. The first delivery goes on and finishes its run.
    gate.release()
    finished = first.result()
    assert finished["status"] in {"succeeded", "partial"}, finished
    (record,) = run_items(stack, "orders")
    assert record["status"] == finished["status"] != "skipped"
    assert record["holder"] == started["holder"] and record["execution_id"] == "delivery-1"
    # Nothing twice: one Fastmag order per LNB order, one LNB listing.
    assert fastmag_copies(stack) == Counter(dict.fromkeys(references - invoicing(stack), 1))
    assert len([r for r in stack.lnb.data_calls() if r.method == "GET" and r.path == "/orders"]) >= 1
    assert len(pacers.made) == 1  # the duplicate never started a heartbeat


def test_a_duplicate_of_a_finished_run_answers_it_and_does_not_raise_its_failure_again(
    stack: LocalStack, pacers: Pacers
) -> None:
    stack.configure({"fastmag": {"wire": {"read_retries": 0}}})
    stack.fastmag.fail_next(500, times=1)
    with pytest.raises(RunFailed):
        pull(stack, TICK, "delivery-1")
    (failed,) = run_items(stack, "orders")
    again = pull(stack, TICK, "delivery-2", attempt=2)  # the failure went to the on-failure queue once
    assert again["status"] == "failed" and run_items(stack, "orders") == [failed]
    assert stack.fastmag.orders() == []


@pytest.mark.usefixtures("writes_at")
def test_two_ticks_at_once_one_runs_and_the_other_is_refused_by_the_lock(
    stack: LocalStack, pacers: Pacers, gated: Callable[[str, str], Gate]
) -> None:
    references = invoicing(stack)
    gate = gated("GET", "/orders")
    first = InThread(lambda: pull(stack, TICK, "tick-1"))
    gate.wait_arrival()
    (running,) = run_items(stack, "orders")
    # The next tick, while the first still runs: a run of its own, refused by the lock and recorded so.
    second = pull(stack, NEXT_TICK, "tick-2")
    assert second["status"] == "skipped" and second["run_id"] != running["run_id"]
    assert f"({running['run_id']}) is in progress" in second["message"]
    gate.release()
    assert first.result()["status"] in {"succeeded", "partial"}
    records = {item["run_id"]: item for item in run_items(stack, "orders")}
    assert records[running["run_id"]]["status"] in {"succeeded", "partial"}
    assert records[second["run_id"]]["status"] == "skipped"
    assert fastmag_copies(stack) == Counter(dict.fromkeys(references - invoicing(stack), 1))
    assert max(fastmag_copies(stack).values()) == 1


@pytest.mark.usefixtures("writes_at")
def test_a_renewed_lease_keeps_the_lock_past_its_first_term(
    stack: LocalStack, clock: Clock, pacers: Pacers, gated: Callable[[str, str], Gate]
) -> None:
    gate = gated("GET", "/orders")
    first = InThread(lambda: pull(stack, TICK, "tick-1"))
    gate.wait_arrival()
    for _ in range(3):  # 300 s in all, far past one 120 s term: renewed every 100 s, the lease never runs out
        clock.advance(100)
        pacers.made[0].beat()
    (record,) = run_items(stack, "orders")
    assert int(record["lease_expires_at"]) == int(clock.now + LEASE)
    second = pull(stack, NEXT_TICK, "tick-2")
    assert second["status"] == "skipped"
    gate.release()
    assert first.result()["status"] in {"succeeded", "partial"}
    assert max(fastmag_copies(stack).values()) == 1


@pytest.mark.usefixtures("writes_at")
def test_a_run_that_lost_its_lease_writes_no_order_while_the_next_run_completes(
    stack: LocalStack, clock: Clock, pacers: Pacers, gated: Callable[[str, str], Gate], task_log: TaskLog
) -> None:
    references = invoicing(stack)
    # One follower: the pipeline has room for one order between its claim and its LNB status move, so the run's
    # writers (one or four) wait behind the held move and the run is held as a whole after its first write.
    stack.configure({"lenewblack": {"concurrency": 1}})
    # 1. The first run writes its first order into Fastmag, then is held on that order's LNB status move.
    gate = gated("POST", "/orders/status")
    first = InThread(lambda: pull(stack, TICK, "tick-1"))
    gate.wait_arrival()
    written_by_first = set(fastmag_copies(stack))
    assert len(written_by_first) == 1
    (first_record,) = run_items(stack, "orders")
    # 2. It stops heartbeating long enough for its lease to run out (a stalled container, a long GC)…
    clock.advance(LEASE + 10)
    # 3. …and the next tick starts: it closes the first run as lost, takes the lock and does all the work.
    second = pull(stack, NEXT_TICK, "tick-2")
    assert second["status"] in {"succeeded", "partial"}, second
    assert invoicing(stack) == set()
    (lost,) = task_log.events("run.lost")
    assert lost["key"] == first_record["run_id"] and "no heartbeat since" in lost["reason"]
    # 4. The first run's next renewal is refused: it has lost its lease.
    pacers.made[0].beat()
    (lease_lost,) = task_log.events("run.lease_lost")
    assert lease_lost["key"] == first_record["run_id"] and "lock expired or was taken over" in lease_lost["reason"]
    # 5. Released, it writes nothing more and ends failed, without touching the record the second run closed.
    orders_before = stack.fastmag.orders()
    gate.release()
    outcome = first.result()
    assert isinstance(outcome, RunFailed)
    assert stack.fastmag.orders() == orders_before
    assert fastmag_copies(stack) == Counter(dict.fromkeys(references, 1))
    records = {item["run_id"]: item for item in run_items(stack, "orders")}
    assert records[first_record["run_id"]]["status"] == "failed"
    assert records[first_record["run_id"]]["message"].startswith("lost: no heartbeat since")
    assert records[second["run_id"]]["status"] == second["status"]


def test_a_stock_push_that_lost_its_lease_does_not_overwrite_the_next_runs_snapshot(
    stack: LocalStack, clock: Clock, pacers: Pacers, gated: Callable[[str, str], Gate]
) -> None:
    snapshots = stack.s3
    bucket, key = stack.names["STAGING_BUCKET"], "snapshots/stock-ean13.json.gz"
    gate = gated("POST", "/multi/inventory")
    first = InThread(lambda: stack.invoke("push_stock", tick_event(stack, "stock", TICK, "tick-1")))
    gate.wait_arrival()
    clock.advance(LEASE + 10)
    second = stack.invoke("push_stock", tick_event(stack, "stock", NEXT_TICK, "tick-2"))
    assert second["status"] in {"succeeded", "partial"}
    saved = snapshots.get_object(Bucket=bucket, Key=key)
    gate.release()
    assert isinstance(first.result(), RunFailed)
    after = snapshots.get_object(Bucket=bucket, Key=key)
    assert after["ETag"] == saved["ETag"]  # the loser's save never happened
    assert after["Body"].read() == saved["Body"].read()
