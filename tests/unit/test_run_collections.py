"""A run relaxes the cycle collector's thresholds while its flow works (run_log.fewer_collections), and puts back
what it found, however runs overlap in one process."""

from __future__ import annotations

import gc
import threading

from connector.run_log import RUN_GC_THRESHOLDS, fewer_collections


def test_thresholds_are_relaxed_within_a_run_and_restored_after() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == RUN_GC_THRESHOLDS
    assert gc.get_threshold() == before


def test_overlapping_runs_restore_the_original_thresholds_when_the_last_ends() -> None:
    before = gc.get_threshold()
    first_in, first_may_leave = threading.Event(), threading.Event()
    seen: list[tuple[int, ...]] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            first_may_leave.wait(5)
        seen.append(gc.get_threshold())  # the second run is still going

    worker = threading.Thread(target=first)
    worker.start()
    first_in.wait(5)
    with fewer_collections():
        first_may_leave.set()
        worker.join(5)
        assert gc.get_threshold() == RUN_GC_THRESHOLDS
    assert seen == [RUN_GC_THRESHOLDS]
    assert gc.get_threshold() == before


def test_a_failing_flow_still_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise RuntimeError("the flow failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
