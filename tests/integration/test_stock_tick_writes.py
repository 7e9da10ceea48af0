"""What one incremental stock tick writes to AWS, and what a crash between its writes leaves for the next tick.

The watermark travels in the one snapshot save of what LNB accepted (never a second PUT for the marks); a tick whose
read brought nothing new writes no S3 object; a tick whose rows were touched without their sums changing leaves the
watermark (and the snapshot) alone until the rows it would spare are worth a rewrite. A crash is the process killed
at one write: nothing after it runs (not even the lock release); the next tick, once the lease ran out, repairs it.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from unittest.mock import patch

import pytest
from botocore.endpoint import Endpoint

from connector import runs
from connector.flows.stock import WATERMARK, WATERMARK_ALONE_SHARE
from connector.state import LockStore, SnapshotStore
from connector.task_log import TaskLogStore
from sandbox.stack import LocalStack
from tests.integration.test_stock_incremental import incremental_stack, push, sendable_variants

SNAPSHOT = SnapshotStore.key("stock-ean13")


class Killed(BaseException):
    """The process ended at this point (a Lambda timeout, an out-of-memory kill): no handler runs after it."""


@contextmanager
def s3_puts() -> Iterator[Counter[str]]:
    """The S3 objects written meanwhile, by the folder of their key (`snapshots`, `runs`…), as botocore sends them."""
    puts: Counter[str] = Counter()
    send = Endpoint.make_request

    def counted(endpoint: Endpoint, operation_model: Any, request_dict: Any) -> Any:
        if operation_model.name == "PutObject":
            folders = [part for part in request_dict["url_path"].split("/") if part and "." not in part]
            puts[folders[-1] if folders else ""] += 1
        return send(endpoint, operation_model, request_dict)

    with patch.object(Endpoint, "make_request", counted):
        yield puts


@contextmanager
def killed_at(target: Any, method: str) -> Iterator[None]:
    """`target.method` kills the process when called, and the lock is left as a killed process leaves it."""

    def kill(*args: Any, **kwargs: Any) -> None:
        raise Killed(f"killed at {target.__name__}.{method}")

    with patch.object(target, method, kill), patch.object(LockStore, "release", lambda *args, **kwargs: None):
        yield


def snapshot(stack: LocalStack) -> dict[str, Any]:
    body = stack.s3.get_object(Bucket=stack.names["STAGING_BUCKET"], Key=SNAPSHOT)["Body"].read()
    document: dict[str, Any] = json.loads(gzip.decompress(body))
    return document


def change(stack: LocalStack, count: int, by: int = 3) -> dict[str, int]:
    """`count` variants LNB holds with stock changed by `by` in Fastmag: ean → the quantity LNB must end with."""
    changed = sendable_variants(stack, count)
    expected = {}
    for ean, barcode, colour, size in changed:
        expected[ean] = int(stack.lnb.inventory_ean[ean]["in_stock"]) + by
        stack.fastmag.execute(
            "UPDATE stock SET stock = stock + ? WHERE rowid = (SELECT rowid FROM stock WHERE barcode = ? AND "
            "couleur = ? AND taille = ? AND codemag = 'CENTRAL' AND AR = 1 LIMIT 1)",
            (by, barcode, colour, size),
        )
    return expected


def held(stack: LocalStack, eans: Any) -> dict[str, int]:
    return {ean: int(stack.lnb.inventory_ean[ean]["in_stock"]) for ean in eans}


@pytest.fixture
def ticking() -> Iterator[LocalStack]:
    """An incremental stack past its first two ticks: the first full read, then every variant once (the watermark)."""
    with incremental_stack() as stack:
        push(stack)
        push(stack)
        yield stack


def after_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next tick comes once the killed run's lease has run out."""
    shift = runs.timing.lease_seconds + 60
    monkeypatch.setattr(runs, "timing", replace(runs.timing, clock=lambda: time.time() + shift))


def test_a_tick_that_sends_writes_one_snapshot_object_with_the_entries_and_the_watermark(
    ticking: LocalStack,
) -> None:
    before = snapshot(ticking)["marks"][WATERMARK]
    expected = change(ticking, 3)
    with s3_puts() as puts:
        tick = push(ticking)
    assert tick["counters"]["accepted"] == 3
    assert puts["snapshots"] == 1  # not one more for the marks
    saved = snapshot(ticking)
    assert saved["marks"][WATERMARK] > before
    assert {ean: int(saved["entries"][ean].split(" ")[0]) for ean in expected} == expected
    assert push(ticking)["counters"]["read"] == 0  # the watermark it saved is past the change


def test_an_idle_incremental_tick_writes_no_s3_object(ticking: LocalStack) -> None:
    with s3_puts() as puts:
        idle = push(ticking)
    assert idle["status"] == "succeeded" and idle["counters"]["read"] == 0
    assert sum(puts.values()) == 0
    assert "task_log_key" not in idle


def test_rows_touched_without_a_change_leave_the_snapshot_until_they_are_worth_a_rewrite(ticking: LocalStack) -> None:
    keys = len(snapshot(ticking)["entries"])
    watermark = snapshot(ticking)["marks"][WATERMARK]
    # A movement and its reverse (a sale cancelled): the rows are modified, their sums are the same.
    few = sendable_variants(ticking, 2)[1:]
    for _, barcode, colour, size in few:
        where = "barcode = ? AND couleur = ? AND taille = ? AND codemag = 'CENTRAL'"
        ticking.fastmag.execute(f"UPDATE stock SET stock = stock + 1 WHERE {where}", (barcode, colour, size))
        ticking.fastmag.execute(f"UPDATE stock SET stock = stock - 1 WHERE {where}", (barcode, colour, size))
    assert len(few) < WATERMARK_ALONE_SHARE * keys
    with s3_puts() as puts:
        touched = push(ticking)
    assert touched["counters"]["read"] == len(few) and touched["counters"]["sent"] == 0
    assert sum(puts.values()) == 0
    assert snapshot(ticking)["marks"][WATERMARK] == watermark
    # Read again (never fewer rows: nothing missed), and a real change then moves the watermark past both.
    expected = change(ticking, 1)
    assert not set(expected) & {ean for ean, *_ in few}
    tick = push(ticking)
    assert tick["counters"]["read"] == len(few) + 1 and tick["counters"]["sent"] == 1
    assert held(ticking, expected) == expected
    assert snapshot(ticking)["marks"][WATERMARK] > watermark
    assert push(ticking)["counters"]["read"] == 0


def test_enough_touched_rows_move_the_watermark_alone(ticking: LocalStack) -> None:
    watermark = snapshot(ticking)["marks"][WATERMARK]
    ticking.fastmag.execute("UPDATE stock SET modified = strftime('%Y-%m-%d %H:%M:%S', 'now')")  # every row touched
    with s3_puts() as puts:
        touched = push(ticking)
    assert touched["counters"]["read"] > 0 and touched["counters"]["sent"] == 0
    assert puts["snapshots"] == 1
    assert snapshot(ticking)["marks"][WATERMARK] > watermark
    assert push(ticking)["counters"]["read"] == 0


def test_killed_after_lnb_accepted_and_before_the_snapshot_save_the_next_tick_sends_again(
    ticking: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(ticking)
    expected = change(ticking, 3)
    with killed_at(SnapshotStore, "save"), pytest.raises(Killed):
        push(ticking, run_id="stock-killed")
    assert held(ticking, expected) == expected  # LNB took them
    assert snapshot(ticking) == before  # neither the entries nor the watermark moved
    assert ticking.run_record("stock-killed")["status"] == "running"

    after_the_lease(monkeypatch)
    ticking.lnb.clear_requests()
    repaired = push(ticking)
    assert repaired["status"] == "succeeded"
    assert ticking.run_record("stock-killed")["status"] == "failed"  # closed as lost by the run that took the lock
    # Read from the watermark the killed run left, and sent again: LNB sets a quantity, so twice is the same.
    assert repaired["counters"]["read"] == 3 and ticking.lnb.items_sent("/multi/inventory/ean") == 3
    assert held(ticking, expected) == expected
    saved = snapshot(ticking)
    assert saved["marks"][WATERMARK] > before["marks"][WATERMARK]
    assert {ean: int(saved["entries"][ean].split(" ")[0]) for ean in expected} == expected
    assert push(ticking)["counters"]["read"] == 0


def test_killed_after_the_snapshot_save_the_next_tick_sends_nothing_again(
    ticking: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(ticking)
    expected = change(ticking, 3)
    with killed_at(TaskLogStore, "write"), pytest.raises(Killed):
        push(ticking, run_id="stock-killed")
    saved = snapshot(ticking)  # entries and watermark landed together
    assert saved["marks"][WATERMARK] > before["marks"][WATERMARK]
    assert {ean: int(saved["entries"][ean].split(" ")[0]) for ean in expected} == expected

    after_the_lease(monkeypatch)
    ticking.lnb.clear_requests()
    with s3_puts() as puts:
        repaired = push(ticking)
    assert repaired["status"] == "succeeded"
    assert ticking.run_record("stock-killed")["status"] == "failed"
    assert repaired["counters"]["read"] == 0 and ticking.lnb.items_sent("/multi/inventory/ean") == 0
    assert sum(puts.values()) == 0
    assert held(ticking, expected) == expected


def test_killed_before_its_record_is_finished_the_run_is_closed_as_lost_and_its_task_log_still_names_each_send(
    ticking: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = change(ticking, 3)
    with killed_at(runs.RunStore, "finish"), pytest.raises(Killed):
        push(ticking, run_id="stock-killed")
    after_the_lease(monkeypatch)
    ticking.lnb.clear_requests()
    repaired = push(ticking)
    assert repaired["counters"]["read"] == 0 and ticking.lnb.items_sent("/multi/inventory/ean") == 0
    assert ticking.run_record("stock-killed")["status"] == "failed"
    # What it did is still found by run id, for the run page and each key's history.
    entries = TaskLogStore(ticking.s3, ticking.names["STAGING_BUCKET"]).read("stock-killed")
    assert {entry.key: entry.new for entry in entries if entry.event == "record.sent"} == expected
