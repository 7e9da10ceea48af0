"""The orders pipeline on its own: claims run ahead of the writes by at most one order per write slot, each order's
steps stay in order, and a stop makes no further claim while an order already claimed still reaches its write
step (which checks the lease itself). The steps here are plain functions that record what ran; the exactly-once
tests through the handler, moto and the simulators are in tests/integration."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import pytest

from connector.flows.order_pipeline import FollowUp, OrderPipeline

WAIT = 10  # seconds a step may take before the test gives up (a hang is a failure, never a pass)
# How long the test lets the claimers run on while every write is held, to see that none claims further ahead.
GRACE = 0.2


class Steps:
    """What the pipeline ran, in order, with the writes held until the test releases them."""

    def __init__(self, writers: int) -> None:
        self.writers = writers
        self.log: list[tuple[str, int]] = []
        self.changed = threading.Condition()
        self.writes_held = threading.Event()
        self.writing = 0  # writes started
        self.in_flight = 0  # orders between their claim and their last step
        self.most_in_flight = 0

    def _record(self, step: str, order: int) -> None:
        with self.changed:
            self.log.append((step, order))
            self.changed.notify_all()

    def count(self, step: str) -> int:
        return sum(1 for name, _ in self.log if name == step)

    def wait_for(self, step: str, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count(step) >= count, WAIT), (step, count, self.log)

    def claim(self, order: int) -> int:
        with self.changed:
            claimed_ahead = self.count("claim") - self.writing
            assert claimed_ahead < self.writers, f"order {order} claimed with {claimed_ahead} already waiting"
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self._record("claim", order)
        return order

    def send(self, order: int) -> FollowUp:
        with self.changed:
            self.writing += 1
        assert self.writes_held.wait(WAIT), "the test never released the writes"
        self._record("write", order)
        return partial(self.follow, order)

    def follow(self, order: int) -> None:
        self._record("follow", order)
        with self.changed:
            self.in_flight -= 1


@pytest.mark.parametrize("writers", [1, 4])
def test_the_next_orders_are_claimed_while_the_writes_before_them_are_in_flight_and_never_further_ahead(
    writers: int,
) -> None:
    steps = Steps(writers)
    orders = range(3 * writers + 2)
    followers = 2 * writers
    with OrderPipeline(writers=writers, followers=followers) as pipeline:
        try:
            for order in orders:
                pipeline.write(partial(steps.claim, order), steps.send)
            # Every write slot holds a write in flight, and one order claimed ahead of it; nothing more is claimed.
            steps.wait_for("claim", 2 * writers)
            time.sleep(GRACE)
            assert (steps.count("claim"), steps.writing, steps.count("write")) == (2 * writers, writers, 0)
        finally:  # a failed step must not leave the pipeline held
            steps.writes_held.set()
    for order in orders:  # each order's own steps in order
        assert [name for name, n in steps.log if n == order] == ["claim", "write", "follow"]
    assert steps.most_in_flight <= followers


def test_a_stop_makes_no_further_claim_and_the_order_claimed_ahead_still_reaches_its_write_step() -> None:
    """The write step of a claimed order decides, by the lease, whether it writes: the pipeline hands it on."""
    log: list[str] = []
    first_write_started = threading.Event()
    ahead_claimed = threading.Event()

    def claim(order: int) -> int:
        log.append(f"claim {order}")
        if order == 2:
            ahead_claimed.set()
        return order

    def send(order: int) -> FollowUp:
        log.append(f"write {order}")
        if order == 1:
            first_write_started.set()
            assert ahead_claimed.wait(WAIT)
            raise RuntimeError("lease lost")  # an error no verb handles: the pipeline stops
        return None

    def run_four() -> None:
        with OrderPipeline(writers=1, followers=4) as pipeline:
            for order in (1, 2, 3, 4):
                pipeline.write(partial(claim, order), send)

    with pytest.raises(RuntimeError, match="lease lost"):
        run_four()
    assert first_write_started.is_set()
    # Order 2 was claimed while order 1's write was in flight, and handed to its write step; 3 and 4 never claimed.
    assert sorted(log) == ["claim 1", "claim 2", "write 1", "write 2"]
    assert log[0] == "claim 1" and log[-1] == "write 2"


def test_an_order_another_run_claimed_first_frees_its_place_for_the_next() -> None:
    """A claim that returns None (the order changed under this run) writes nothing and holds no room."""
    sent: list[int] = []

    def claim(order: int) -> int | None:
        return None if order % 2 else order

    def send(order: int) -> FollowUp:
        sent.append(order)
        return None

    steps: list[Callable[[], int | None]] = [partial(claim, order) for order in range(10)]
    with OrderPipeline(writers=1, followers=1) as pipeline:
        for step in steps:
            pipeline.write(step, send)
    assert sent == [0, 2, 4, 6, 8]
