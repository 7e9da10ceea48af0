"""Lost runs: a run that stopped heartbeating, or was queued and never started, is closed `failed` by whoever reads
it next (the API, the flow's next run), with a conditional write that loses cleanly to the run itself."""

from __future__ import annotations

import time
from typing import Any

from connector.runs import RunRecord, RunStore
from connector.state import iso
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.test_api import call, event, run_of


def record(run_id: str, status: str, **fields: Any) -> RunRecord:
    return RunRecord.model_validate(
        {"run_id": run_id, "flow": "stock", "trigger": "schedule", "status": status, **fields}
    )


def test_the_api_closes_a_run_without_heartbeat_and_one_never_started(api: LocalStack, task_log: TaskLog) -> None:
    now = time.time()
    store = RunStore(api.table)
    store.put(
        record(
            "stock-stalled",
            "running",
            holder="a",
            started_at=iso(now - 600),
            heartbeat_at=iso(now - 300),
            lease_expires_at=int(now - 180),
        )
    )
    store.put(record("stock-alive", "running", holder="b", started_at=iso(now - 60), lease_expires_at=int(now + 60)))
    store.put(record("stock-never", "queued", queued_at=iso(now - 16 * 60)))
    store.put(record("stock-waiting", "queued", queued_at=iso(now - 60)))

    stalled = run_of(api, "stock-stalled")
    assert stalled["status"] == "failed" and stalled["message"] == f"lost: no heartbeat since {iso(now - 300)}"
    assert stalled["finished_at"]
    status, page, _ = call(api, event(api, "api_runs", query={"flow": "stock"}))
    assert status == 200
    statuses = {run["run_id"]: (run["status"], run.get("message")) for run in page["runs"]}
    assert statuses["stock-never"] == ("failed", "lost: never started")
    assert statuses["stock-alive"] == ("running", None)
    assert statuses["stock-waiting"] == ("queued", None)
    assert store.get("stock-never").status == "failed"  # type: ignore[union-attr]
    assert sorted(line["key"] for line in task_log.events("run.lost")) == ["stock-never", "stock-stalled"]
    assert all(line["level"] == "ERROR" for line in task_log.events("run.lost"))


def test_closing_a_lost_run_loses_to_the_run_that_finishes_first(api: LocalStack, task_log: TaskLog) -> None:
    now = time.time()
    store = RunStore(api.table)
    stale = record("stock-late", "running", holder="a", started_at=iso(now - 600), lease_expires_at=int(now - 1))
    store.put(stale)
    # The run itself finished between the reader's read and its close: the close changes nothing.
    finished = stale.model_copy(update={"status": "succeeded", "finished_at": iso(now)})
    assert store.finish(finished)
    closed = store.close_if_lost(stale, now=now)
    assert closed.status == "succeeded"
    assert task_log.events("run.lost") == []
    # And the other way round: once closed as lost, the run's own end does not overwrite it.
    store.put(stale)
    assert store.close_if_lost(stale, now=now).status == "failed"
    assert not store.finish(finished)
    assert store.get("stock-late").status == "failed"  # type: ignore[union-attr]


def test_the_next_run_of_the_flow_closes_a_lost_run(stack: LocalStack, task_log: TaskLog) -> None:
    now = time.time()
    RunStore(stack.table).put(
        record("stock-killed", "running", holder="a", started_at=iso(now - 1000), lease_expires_at=int(now - 10))
    )
    result = stack.invoke("push_stock", stack.event("schedule_stock", scheduled_time=None, execution_id=None))
    assert result["status"] in {"succeeded", "partial"}
    assert stack.run_record("stock-killed")["status"] == "failed"
    assert [line["key"] for line in task_log.events("run.lost")] == ["stock-killed"]
