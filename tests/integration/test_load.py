"""Load: 20 concurrent button presses (POST /exports/stock through ApiFunction's handler, runs started by the
local invoker as Lambda's asynchronous invoke would) and 10 overlapping scheduled ticks, each delivered twice
(threads calling PushStockFunction's handler, as Lambda's at-least-once delivery and Scheduler's retries may), on
one local stack. Each tick is one run whatever its deliveries; one stock push runs at a time, the other runs are
reported as skipped, and every key reaches Le New Black exactly once."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from connector.state import LockStore
from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack
from tests.integration.test_api import call, event
from tests.integration.test_stock import expected_quantities, lnb_stock

PRESSES = 20
TICKS = 10
DELIVERIES = 2  # of each tick


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at once (a barrier), wait for all; what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # reported below, not lost in a thread
            results[index] = error

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def stock_runs(stack: LocalStack) -> list[dict[str, Any]]:
    items = stack.table.scan(ConsistentRead=True)["Items"]
    return [item for item in items if str(item["pk"]).startswith("RUN#") and item.get("flow") == "stock"]


def stock_lock_tenures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """Each time the stock lock was held, as (taken, released): taken once the lock's write landed, released
    before its delete, so two tenures that overlap here overlapped for real."""
    taken: dict[str, float] = {}
    tenures: list[tuple[float, float]] = []
    acquire, release = LockStore.acquire, LockStore.release

    def acquiring(self: LockStore, name: str, holder: str, **options: Any) -> bool:
        held = acquire(self, name, holder, **options)
        if held and name == "stock":
            taken[holder] = time.monotonic()
        return held

    def releasing(self: LockStore, name: str, holder: str) -> None:
        if name == "stock" and holder in taken:
            tenures.append((taken.pop(holder), time.monotonic()))
        release(self, name, holder)

    monkeypatch.setattr(LockStore, "acquire", acquiring)
    monkeypatch.setattr(LockStore, "release", releasing)
    return tenures


def test_overlapping_starts_and_duplicated_ticks_push_one_at_a_time_and_send_each_key_once(
    api: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = api
    tenures = stock_lock_tenures(monkeypatch)
    stack.lnb.latency_seconds = 0.02  # a push lasts long enough for the others to find it running

    def press() -> Any:
        return call(stack, event(stack, "api_export_start", path="/exports/stock", params={"flow": "stock"}, body={}))

    def tick(number: int, delivery: int) -> Callable[[], Any]:
        event = stack.event(
            "schedule_stock",
            scheduled_time=f"2026-11-27T08:{number:02d}:00Z",
            execution_id=f"load-tick-{number}-{delivery}",
            attempt=str(delivery + 1),
        )
        return lambda: stack.invoke("push_stock", event)

    deliveries = [tick(number, delivery) for number in range(TICKS) for delivery in range(DELIVERIES)]
    answers = in_threads([press] * PRESSES + deliveries)
    LocalInvoker.wait()

    assert [answer for answer in answers if isinstance(answer, Exception)] == []
    assert [answer[0] for answer in answers[:PRESSES]] == [202] * PRESSES
    # Every delivery of a tick answered the same run; one run record per tick.
    tick_answers = answers[PRESSES:]
    for number in range(TICKS):
        copies = tick_answers[number * DELIVERIES : (number + 1) * DELIVERIES]
        assert len({answer["run_id"] for answer in copies}) == 1, copies
    runs = stock_runs(stack)
    assert len(runs) == PRESSES + TICKS
    # A run record is written by the delivery that started it only: every finished record names its holder.
    assert all(run["holder"] and run["status"] != "running" for run in runs)
    pushed = [run for run in runs if run["status"] != "skipped"]
    skipped = [run for run in runs if run["status"] == "skipped"]
    assert pushed, [run["message"] for run in runs]
    assert len(pushed) + len(skipped) == PRESSES + TICKS
    assert all("in progress" in run["message"] for run in skipped)
    # One push at a time: each run that pushed held the lock, and no two held it at once. (A run's record is
    # written before it asks for the lock, so record times may overlap by that much without two pushes at once.)
    assert len(tenures) == len(pushed)
    spans = sorted(tenures)
    assert all(previous_end <= start for (_, previous_end), (start, _) in itertools.pairwise(spans))
    # Nothing pushed twice: a push after the first found every key unchanged.
    expected = expected_quantities(stack.seed)
    assert stack.lnb.items_sent("/multi/inventory/ean") == len(expected)
    assert lnb_stock(stack) == expected
