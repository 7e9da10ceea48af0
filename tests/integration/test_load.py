"""Load: 20 concurrent button presses (POST /exports/stock through ApiFunction's handler, runs started by the
local invoker as Lambda's asynchronous invoke would) and 10 overlapping scheduled ticks, each delivered twice
(threads calling PushStockFunction's handler, as Lambda's at-least-once delivery and Scheduler's retries may), on
one local stack. Each tick is one run whatever its deliveries; one stock push runs at a time, the other runs are
reported as skipped, and every key reaches Le New Black exactly once."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

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


def test_overlapping_starts_and_duplicated_ticks_push_one_at_a_time_and_send_each_key_once(
    api: LocalStack,
) -> None:
    stack = api
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
    assert pushed and len(pushed) + len(skipped) == PRESSES + TICKS
    assert all("in progress" in run["message"] for run in skipped)
    # One push at a time: the runs that pushed never overlapped.
    spans = sorted(
        (datetime.fromisoformat(run["started_at"]), datetime.fromisoformat(run["finished_at"])) for run in pushed
    )
    assert all(previous_end <= start for (_, previous_end), (start, _) in itertools.pairwise(spans))
    # Nothing pushed twice: a push after the first found every key unchanged.
    expected = expected_quantities(stack.seed)
    assert stack.lnb.items_sent("/multi/inventory/ean") == len(expected)
    assert lnb_stock(stack) == expected
