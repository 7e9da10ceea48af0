"""A state machine drives the real `orders.run` (and so the real `OrderBook` and ledger) against moto and the
Fastmag simulator: each step arms one write outcome and runs one tick, or two runs interleaved at a barrier
(the second run goes through while the first one's write is held in Fastmag, as when a lease was taken over).

Invariants: no order is ever in Fastmag twice; once faults stop and the settle time passed, K ticks bring every
order to `exported` (one copy in Fastmag) or `blocked` with a reason.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from connector import ledger as ledger_module
from connector.events import FlowRequest
from connector.flows import orders
from connector.flows.context import FlowContext
from connector.ledger import LedgerStatus, OrderLedger
from connector.run_log import Run
from connector.services import Services, build_services
from connector.settings import parse_secret
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.fastmag_sim import Hold
from sandbox.seed import build_seed
from sandbox.stack import LocalStack
from tests.integration.test_orders_exactly_once import SETTLE, Clock, copies, refuse_write_connections

OUTCOMES = ("ok", "ko", "not sent", "committed, answer lost", "committed after the client timed out", "lookup lags")
TICKS_AFTER_FAULTS = 3
_runs = itertools.count()


@pytest.fixture(scope="module")
def shared_stack() -> Iterator[LocalStack]:
    document = {
        "lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0},
        "fastmag": {"wire": {"read_timeout_seconds": 1}},
    }
    with LocalStack(build_seed(models=10, retailers=6), settings_document=document, orders=3) as stack:
        yield stack


def reset(stack: LocalStack) -> None:
    """Back to three orders waiting, nothing in Fastmag, an empty ledger (cheaper than a new stack)."""
    stack.fastmag.wait_idle()  # a write its client gave up on in the previous example may still be storing
    table = stack.table
    for item in table.scan()["Items"]:
        if str(item["pk"]).startswith(("ORDER#", "ORDERS#")):
            table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    stack.fastmag.execute("DELETE FROM commandelignes")
    stack.fastmag.execute("DELETE FROM commandes")
    stack.fastmag.faults.__init__()  # type: ignore[misc]
    for order in stack.lnb.orders.values():
        order["status"] = "invoicing"


class OrdersMachine(RuleBasedStateMachine):
    stack: LocalStack
    services: Services

    def __init__(self) -> None:
        super().__init__()
        reset(self.stack)
        self.clock = Clock()
        self.patches = pytest.MonkeyPatch()
        self.patches.setattr(ledger_module, "now", self.clock)
        self.references = sorted(self.stack.lnb.orders)
        self.steps: list[str] = []  # what happened, for the failure message (timing may differ on a replay)

    def run(self) -> None:
        request = FlowRequest(flow="orders", trigger="schedule")
        orders.run(FlowContext(self.services, Run(request, f"run-{next(_runs)}", self.services.runs)))

    def arm(self, outcome: str, patches: pytest.MonkeyPatch) -> Any:
        faults = self.stack.fastmag.faults
        match outcome:
            case "ko":
                faults.ko_next_write = "Article inconnu"
            case "not sent":
                refuse_write_connections(patches, self.stack, times=1)
            case "committed, answer lost":
                faults.drop_after_commit = 1
            case "committed after the client timed out":
                return self.stack.fastmag.hold_next_write()
            case "lookup lags":
                faults.lookup_lag = 2
        return None

    def held_run(self, hold: Hold) -> tuple[threading.Thread, bool]:
        """A run in a thread, until its write reaches `hold` (True) or it ends with nothing to write (False)."""
        worker = threading.Thread(target=self.run)
        worker.start()
        while not hold.reached.wait(0.02):
            if not worker.is_alive():
                self.stack.fastmag.faults.holds.clear()
                return worker, False
        return worker, True

    @rule(outcome=st.sampled_from(OUTCOMES), wait=st.booleans())
    def tick(self, outcome: str, wait: bool) -> None:
        self.steps.append(f"tick {outcome} wait={wait}")
        with pytest.MonkeyPatch.context() as patches:
            hold = self.arm(outcome, patches)
            if hold is None:
                self.run()
            else:  # the client gives up after its read timeout; Fastmag stores the order afterwards
                worker, reached = self.held_run(hold)
                worker.join()
                if reached:
                    hold.release_and_wait()
        self.stack.fastmag.faults.lookup_lag = 0
        if wait:
            self.clock.advance(SETTLE)

    @rule(outcome=st.sampled_from(OUTCOMES[:4] + OUTCOMES[5:]))
    def two_runs_at_a_barrier(self, outcome: str) -> None:
        self.steps.append(f"two runs {outcome}")
        with pytest.MonkeyPatch.context() as patches:
            hold = self.stack.fastmag.hold_next_write()
            first, reached = self.held_run(hold)
            if reached:
                self.arm(outcome, patches)
                self.run()
                hold.release_and_wait()
            first.join()
        self.stack.fastmag.faults.lookup_lag = 0

    @invariant()
    def never_twice(self) -> None:
        twice = [reference for reference, n in copies(self.stack).items() if n > 1]
        assert twice == [], (self.steps, [OrderLedger(self.stack.table).get(r) for r in twice])

    def teardown(self) -> None:
        try:
            self.stack.fastmag.faults.__init__()  # type: ignore[misc]
            for _ in range(TICKS_AFTER_FAULTS):
                self.clock.advance(SETTLE)
                self.run()
            ledger = OrderLedger(self.stack.table)
            found = copies(self.stack)
            for reference in self.references:
                entry = ledger.get(reference)
                assert entry is not None
                if entry.status == LedgerStatus.EXPORTED:
                    assert found[reference] == 1
                else:
                    assert entry.status == LedgerStatus.BLOCKED and entry.reason, entry
            assert found == Counter(dict.fromkeys(found, 1))
        finally:
            self.patches.undo()


def test_orders_state_machine(shared_stack: LocalStack) -> None:
    OrdersMachine.stack = shared_stack
    OrdersMachine.services = build_services(shared_stack.settings, parse_secret(SANDBOX_CREDENTIALS))
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        OrdersMachine,
        settings=settings(
            max_examples=6,
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
