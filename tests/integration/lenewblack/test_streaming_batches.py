"""`send_batches` fed by a generator: items are taken a batch at a time as batches finish, never far ahead of the
answers, and every item taken gets exactly one outcome whatever fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from connector.lenewblack.client import LeNewBlackClient
from connector.lenewblack.models import ItemOutcome
from sandbox.lnb_sim import LeNewBlackSimulator
from tests.integration.lenewblack.test_lnb_client_against_sim import MakeClient, make_client, sim, sleeps, stock

pytestmark = pytest.mark.integration
__all__ = ["make_client", "sim", "sleeps"]  # the fixtures, shared with the client's other tests


class Feed:
    """A generator of stock payloads that notes how far it runs ahead of the outcomes and of the calls."""

    def __init__(self, sim: LeNewBlackSimulator, items: list[dict[str, Any]], *, fail_at: int | None = None) -> None:
        self.sim, self.items, self.fail_at = sim, items, fail_at
        self.taken = 0
        self.answered = 0
        self.most_ahead = 0
        self.reached: dict[int, threading.Event] = {}
        self.received: dict[int, ItemOutcome] = {}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for position, item in enumerate(self.items):
            if position == self.fail_at:
                raise RuntimeError("mapping failed")
            self.taken += 1
            self.most_ahead = max(self.most_ahead, self.taken - self.answered)
            if self.taken in self.reached:
                self.reached[self.taken].set()
            yield item

    def outcomes(self, client: LeNewBlackClient, **options: Any) -> dict[int, ItemOutcome]:
        """Every outcome, each position once; kept in `self.received` as they come."""
        for position, outcome in client.send_batches("inventory/ean", self, **options):
            assert position not in self.received, f"item {position} answered twice"
            self.received[position] = outcome
            self.answered += 1
        return self.received


def test_items_are_taken_as_batches_finish_never_more_than_one_batch_ahead(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.latency_seconds = 0.05
    feed = Feed(sim, stock(200))
    outcomes = feed.outcomes(make_client(), batch_size=10, concurrency=3)
    assert sorted(outcomes) == list(range(200))
    assert all(outcome.accepted for outcome in outcomes.values())
    assert sim.max_in_flight == 3
    # Three batches in flight and the one queued behind them: the generator ran exactly that far ahead, not more.
    assert feed.most_ahead == 4 * 10
    assert [call.items for call in sim.data_calls()] == [10] * 20


def test_the_generator_runs_on_while_a_batch_waits_on_le_new_black(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    feed = Feed(sim, stock(100))
    sixth_batch_taken = feed.reached[51] = threading.Event()
    calls: list[str] = []
    held: list[bool] = []

    def hold_the_first_batch(method: str, path: str) -> None:
        if not path.startswith("/multi/"):
            return
        with lock:
            calls.append(path)
            first = len(calls) == 1
        if first:
            held.append(sixth_batch_taken.wait(timeout=10))

    lock = threading.Lock()

    sim.before_handling = hold_the_first_batch
    outcomes = feed.outcomes(make_client(), batch_size=10, concurrency=2)
    # The first call was held at LNB until the other thread had sent batches 2 to 4 and the generator had taken
    # the sixth: mapping and sends overlap, and one slow call does not stop the others.
    assert held == [True]
    assert sorted(outcomes) == list(range(100))


def test_a_batch_failing_as_a_whole_answers_each_of_its_items_and_the_stream_goes_on(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.fail_next("/multi/inventory/ean", 503, times=1)
    feed = Feed(sim, stock(25))
    outcomes = feed.outcomes(make_client(max_retries=0), batch_size=5, concurrency=2)
    assert sorted(outcomes) == list(range(25))
    refused = sorted(position for position, outcome in outcomes.items() if not outcome.accepted)
    assert len(refused) == 5 and all(outcomes[p].http_status == 503 for p in refused)
    assert refused == list(range(refused[0], refused[0] + 5))  # one whole batch
    assert len(sim.inventory_ean) == 20


def test_an_authentication_failure_mid_stream_stops_the_batches_after_it(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    calls: list[str] = []

    def refuse_the_second_batch(method: str, path: str) -> None:
        if path.startswith("/multi/"):
            calls.append(path)
            if len(calls) == 2:  # this call and its retry with a new token
                sim.fail_next("/multi/inventory/ean", 401, times=2)

    sim.before_handling = refuse_the_second_batch
    feed = Feed(sim, stock(12))
    outcomes = feed.outcomes(make_client(), batch_size=2, concurrency=1)
    assert sorted(outcomes) == list(range(12))
    assert [outcomes[p].accepted for p in range(12)] == [True, True] + [False] * 10
    assert {outcomes[p].http_status for p in range(2, 12)} == {401}
    # The first batch, the second and its retry with a new token; then nothing: every later batch would fail too.
    assert len(sim.data_calls()) == 3
    assert feed.taken == 12


def test_a_generator_raising_mid_way_stops_taking_but_answers_the_batches_taken(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.latency_seconds = 0.02
    feed = Feed(sim, stock(100), fail_at=43)
    with pytest.raises(RuntimeError, match="mapping failed"):
        feed.outcomes(make_client(), batch_size=10, concurrency=2)
    outcomes = feed.received
    # The four whole batches taken before the failure were sent and answered; the three items of the fifth were
    # taken but never sent, and nothing after them was taken.
    assert sorted(outcomes) == list(range(40))
    assert all(outcome.accepted for outcome in outcomes.values())
    assert feed.taken == 43
    assert [call.items for call in sim.data_calls()] == [10] * 4
    assert len(sim.inventory_ean) == 40
