"""Orders claimed ahead: the next order is claimed in the ledger while the write before it is in flight. Exactly
once must hold whatever stops or meets a run at that moment: a lost lease, a duplicate delivery of the tick, a
concurrent run, an answer lost after Fastmag committed the claimed-ahead order.

Through the real `orders.run` (or the real handler), moto and the simulators, with Fastmag writes serial and four
at once. The moment is set by barriers: the first write of every write slot is held in Fastmag
(`hold_next_write`), and the test waits until the order after each is claimed (`Claims`). Invariant of every
test: Fastmag holds exactly one copy of every order, and every order ends `exported` once faults stop.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from connector import ledger as ledger_module
from connector.events import FlowRequest
from connector.flows import orders
from connector.flows.context import FlowContext
from connector.flows.order_book import OrderBook
from connector.lease import Lease, LeaseLost
from connector.ledger import LedgerEntry, LedgerStatus
from connector.run_log import Run
from connector.services import Services, services_for
from connector.settings import parse_secret
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.fastmag_sim import Hold
from sandbox.seed import build_seed
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.test_orders_exactly_once import SETTLE, Clock, copies, status, waiting
from tests.integration.test_run_interleavings import InThread

WAIT = 30  # seconds a step may take before the test gives up (a hang is a failure, never a pass)
LEASE_SECONDS = 120.0


@pytest.fixture(params=[1, 4], ids=["fastmag-serial", "fastmag-4"])
def writers(request: pytest.FixtureRequest) -> int:
    concurrency: int = request.param
    return concurrency


@pytest.fixture
def stack(writers: int) -> Iterator[LocalStack]:
    """One order per write slot held in its write, one claimed ahead of it, and one more waiting to be claimed;
    room in the pipeline (`lenewblack.concurrency`) for all the orders held and claimed."""
    document = {
        "lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0, "concurrency": 2 * writers},
        "fastmag": {"wire": {"read_timeout_seconds": 2}},
        "orders": {"fastmag_concurrency": writers},
    }
    seed = build_seed(models=10, retailers=6)
    with LocalStack(seed, settings_document=document, orders=2 * writers + 1) as local:
        yield local


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(ledger_module, "now", moved)
    return moved


class Claims:
    """The orders claimed (by any run), in order; `wait_for(n)` returns once n claims succeeded."""

    def __init__(self) -> None:
        self.references: list[str] = []
        self._changed = threading.Condition()

    def record(self, entry: LedgerEntry | None) -> None:
        if entry is not None:
            with self._changed:
                self.references.append(entry.reference)
                self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.references) >= count, WAIT), self.references


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> Claims:
    seen = Claims()
    claim = OrderBook.claim

    def recorded(book: OrderBook, entry: LedgerEntry, lines_total: int, *, resend: bool = False) -> LedgerEntry | None:
        claimed = claim(book, entry, lines_total, resend=resend)
        seen.record(claimed)
        return claimed

    monkeypatch.setattr(OrderBook, "claim", recorded)
    return seen


@pytest.fixture
def services(stack: LocalStack) -> Services:
    return services_for(stack.settings, parse_secret(SANDBOX_CREDENTIALS))


def run_orders(services: Services, run_id: str, lease: Lease | None = None) -> None:
    """One orders run, as the runner starts it once it holds the lock (the lock is what these tests get around)."""
    run = Run(FlowRequest(flow="orders", trigger="schedule"), run_id, services.runs, lease=lease)
    orders.run(FlowContext(services, run))


def hold_writes(stack: LocalStack, count: int) -> list[Hold]:
    return [stack.fastmag.hold_next_write() for _ in range(count)]


def held_with_orders_claimed_ahead(holds: list[Hold], claims: Claims, writers: int) -> None:
    """Every write slot's write sits in Fastmag, not yet stored, and the order after each is claimed."""
    for hold in holds:
        hold.wait_reached()
    claims.wait_for(2 * writers)


def release(holds: list[Hold]) -> None:
    for hold in holds:
        hold.release_and_wait()


@pytest.mark.parametrize("stop", ["lease lost", "lease ending"])
def test_a_run_that_loses_its_lease_with_orders_claimed_ahead_writes_them_no_more_and_later_runs_write_each_once(
    stack: LocalStack, writers: int, claims: Claims, clock: Clock, stop: str
) -> None:
    services = services_for(stack.settings, parse_secret(SANDBOX_CREDENTIALS))
    references = waiting(stack)
    holds = hold_writes(stack, writers)
    lease_clock = [0.0]
    lease = Lease(LEASE_SECONDS, clock=lambda: lease_clock[0])
    first = InThread(lambda: run_orders(services, "run-a", lease))
    held_with_orders_claimed_ahead(holds, claims, writers)
    if stop == "lease lost":  # a renewal refused: another run took the lock over
        lease.lose("lock expired or was taken over")
    else:  # no renewal for a while (a stalled container): the lease no longer covers a write, nor a ledger move
        lease_clock[0] = LEASE_SECONDS - 5
    release(holds)
    assert isinstance(first.result(), LeaseLost)
    in_flight = set(copies(stack))
    claimed_ahead = set(claims.references) - in_flight
    assert len(in_flight) == len(claimed_ahead) == writers
    # What a crash between claim and write leaves: `sent`, a write may exist, nothing in Fastmag.
    assert {status(stack, reference) for reference in claimed_ahead | in_flight} == {LedgerStatus.SENT}
    assert copies(stack) == Counter(dict.fromkeys(in_flight, 1))

    # The next run looks every `sent` order up: those written are found, the claimed-ahead ones are not, and
    # within the settle time a miss proves nothing: they wait, unwritten.
    run_orders(services, "run-b")
    assert {status(stack, reference) for reference in claimed_ahead} == {LedgerStatus.SENT}
    assert not claimed_ahead & set(copies(stack))
    assert {status(stack, r) for r in set(references) - claimed_ahead} == {LedgerStatus.EXPORTED}
    # Once settled, with the lookup proven by run-b's own writes, each is resent once.
    clock.advance(SETTLE)
    run_orders(services, "run-c")
    assert {status(stack, reference) for reference in references} == {LedgerStatus.EXPORTED}
    assert copies(stack) == Counter(dict.fromkeys(references, 1))
    assert waiting(stack) == []


def test_an_answer_lost_after_fastmag_committed_a_claimed_ahead_order_is_found_by_the_next_run_not_written_again(
    stack: LocalStack, services: Services, writers: int, claims: Claims, task_log: TaskLog
) -> None:
    references = waiting(stack)
    first_writes, ahead_writes = hold_writes(stack, writers), hold_writes(stack, writers)
    run = InThread(lambda: run_orders(services, "run-a"))
    held_with_orders_claimed_ahead(first_writes, claims, writers)
    claimed = set(claims.references)
    release(first_writes)
    claimed_ahead = claimed - set(copies(stack))
    assert len(claimed_ahead) == writers
    # The claimed-ahead orders' writes reach Fastmag: each is committed, and its answer lost on the way back.
    for hold in ahead_writes:
        hold.wait_reached()
    stack.fastmag.faults.drop_after_commit = writers
    for hold in ahead_writes:
        hold.release()
    assert run.result() is None
    unknown = {line["key"] for line in task_log.events("order.unknown")}
    assert unknown == claimed_ahead
    assert {status(stack, reference) for reference in unknown} == {LedgerStatus.SENT}
    assert copies(stack) == Counter(dict.fromkeys(references, 1))

    run_orders(services, "run-b")
    assert {status(stack, reference) for reference in references} == {LedgerStatus.EXPORTED}
    assert copies(stack) == Counter(dict.fromkeys(references, 1))
    assert waiting(stack) == []


def test_a_concurrent_run_leaves_the_orders_claimed_ahead_to_the_run_that_claimed_them(
    stack: LocalStack, services: Services, writers: int, claims: Claims, clock: Clock
) -> None:
    """Run A holds its writes with the next orders claimed ahead; run B (its lease taken over, or a second
    deployment) goes through the same orders meanwhile. The ledger's compare-and-set keeps every order to one copy:
    B leaves A's `sent` orders alone, A writes what it claimed, and A's later claims fail on B's moves."""
    references = waiting(stack)
    holds = hold_writes(stack, writers)
    first = InThread(lambda: run_orders(services, "run-a"))
    held_with_orders_claimed_ahead(holds, claims, writers)
    claimed_by_a = set(claims.references)
    run_orders(services, "run-b")
    assert {status(stack, reference) for reference in claimed_by_a} == {LedgerStatus.SENT}
    written_by_b = set(copies(stack))
    assert written_by_b == set(references) - claimed_by_a
    release(holds)
    assert first.result() is None
    assert copies(stack) == Counter(dict.fromkeys(references, 1))
    assert set(claims.references) - claimed_by_a == written_by_b  # B's claims; none of A's later ones succeeded
    run_orders(services, "run-c")
    assert {status(stack, reference) for reference in references} == {LedgerStatus.EXPORTED}
    assert copies(stack) == Counter(dict.fromkeys(references, 1))


def test_a_tick_delivered_again_while_orders_are_claimed_ahead_writes_nothing(
    stack: LocalStack, writers: int, claims: Claims, task_log: TaskLog
) -> None:
    references = waiting(stack)
    scheduled = datetime(2026, 11, 30, 8, 15, tzinfo=UTC).isoformat()

    def deliver(execution: str, attempt: int) -> Any:
        event = stack.event("schedule_orders", scheduled_time=scheduled, execution_id=execution, attempt=str(attempt))
        return stack.invoke("import_orders", event)

    holds = hold_writes(stack, writers)
    first = InThread(lambda: deliver("delivery-1", 1))
    held_with_orders_claimed_ahead(holds, claims, writers)
    duplicate = deliver("delivery-2", 2)
    assert duplicate["status"] == "running"
    (logged,) = task_log.events("run.duplicate")
    assert logged["run_id"] == duplicate["run_id"]
    assert len(claims.references) == 2 * writers  # the duplicate claimed nothing
    release(holds)
    finished = first.result()
    assert finished["status"] == "succeeded" and finished["run_id"] == duplicate["run_id"], finished
    assert copies(stack) == Counter(dict.fromkeys(references, 1))
    assert sorted(claims.references) == references  # each order claimed once
    assert {status(stack, reference) for reference in references} == {LedgerStatus.EXPORTED}
