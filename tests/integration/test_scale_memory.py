"""Memory that does not grow with the catalogue: a full push sends what changed a chunk at a time, never holding
every changed item (a first push of a million keys held a million), with the very batches one list makes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from connector.flows import stock, sync
from connector.flows.sync import Outgoing
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.test_stock import expected_quantities, lnb_stock, push

BATCH = 10
CHUNK_BATCHES = 3


class Alive:
    """How many items exist at once."""

    now = 0
    most = 0


class CountedOutgoing(Outgoing):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        Alive.now += 1
        Alive.most = max(Alive.most, Alive.now)

    def __del__(self) -> None:
        Alive.now -= 1


def test_a_full_push_holds_a_chunk_of_items_not_the_catalogue(
    stack: LocalStack, task_log: TaskLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure({"lenewblack": {"batch_size": BATCH}})
    monkeypatch.setattr(sync, "SEND_CHUNK_BATCHES", CHUNK_BATCHES)
    monkeypatch.setattr(stock, "Outgoing", CountedOutgoing)
    chunk = BATCH * CHUNK_BATCHES
    expected = expected_quantities(stack.seed)
    assert len(expected) > 30 * chunk

    first = push(stack)
    assert lnb_stock(stack) == expected
    assert first["counters"]["accepted"] == len(expected)
    # The chunk being sent and, while the next is made, the one before: never the catalogue.
    assert Alive.most <= 2 * chunk, Alive.most
    # Every batch full but the last: the calls one list of every item makes.
    assert len(stack.lnb.data_calls()) == math.ceil(len(expected) / BATCH)

    stack.lnb.clear_requests()
    Alive.most = 0
    nightly = push(stack, full=True)
    assert nightly["counters"]["accepted"] == len(expected)
    assert Alive.most <= 2 * chunk, Alive.most
    # What LNB held already is summarised in one line for the whole push, not one per chunk.
    [resent] = [line for line in task_log.events("records.resent_unchanged") if line["run_id"] == nightly["run_id"]]
    assert resent["count"] == len(expected)
    assert task_log.events("record.sent") == [
        line for line in task_log.events("record.sent") if line["run_id"] == first["run_id"]
    ]
