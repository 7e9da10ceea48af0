"""Stock flow through PushStockFunction's real handler, against the simulators and moto."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pytest

from connector.ean import is_valid_ean13
from connector.runner import RunFailed
from sandbox.seed import Seed
from sandbox.stack import LocalStack
from tests.conftest import TaskLog

STORES = ("CENTRAL", "WEB")


def expected_quantities(seed: Seed) -> dict[str, int]:
    """Independent of the flow's SQL: sum the seed's real stock in the default stores, per valid EAN13."""
    totals: dict[tuple[str, str, str], float] = defaultdict(float)
    for row in seed.stock:
        if row.codemag in STORES and row.AR == 1:
            totals[(row.barcode, row.couleur, row.taille)] += row.stock
    result = {}
    for variant in seed.variants:
        total = totals.get((variant.barcode, variant.couleur, variant.taille))
        if total is not None and is_valid_ean13(variant.gencod):
            result[variant.gencod] = max(int(total), 0)
    return result


def lnb_stock(stack: LocalStack) -> dict[str, int]:
    return {ean: int(row["in_stock"]) for ean, row in stack.lnb.inventory_ean.items()}


def push(stack: LocalStack, **fields: Any) -> dict[str, Any]:
    """One scheduled tick; each call is a new tick (no scheduled time: its own run id) unless the test names one."""
    event = stack.event("schedule_stock", **{"execution_id": None, "scheduled_time": None, **fields})
    result: dict[str, Any] = stack.invoke("push_stock", event)
    return result


def test_first_run_pushes_every_key_then_nothing_then_exactly_the_changes(stack: LocalStack) -> None:
    expected = expected_quantities(stack.seed)
    first = push(stack)
    assert first["status"] == "partial"  # the seed's bad rows are skipped, with reasons
    assert lnb_stock(stack) == expected
    assert first["counters"]["accepted"] == len(expected)

    stack.lnb.clear_requests()
    second = push(stack)
    assert stack.lnb.data_calls() == []
    assert second["counters"]["sent"] == 0
    assert second["counters"]["unchanged"] == len(expected)

    changed = list(expected)[:3]
    for ean in changed:
        stack.fastmag.execute(
            "UPDATE stock SET stock = stock + 7 WHERE codemag = 'CENTRAL' AND AR = 1 AND "
            "(barcode, couleur, taille) IN (SELECT barcode, couleur, taille FROM produits WHERE gencod = ?)",
            (ean,),
        )
    stack.lnb.clear_requests()
    third = push(stack)
    assert stack.lnb.items_sent("/multi/inventory/ean") == 3
    assert third["counters"]["accepted"] == 3
    assert {ean: lnb_stock(stack)[ean] for ean in changed} == {ean: expected[ean] + 7 for ean in changed}


def test_a_full_push_logs_only_what_changed_line_by_line_and_sums_up_the_rest(
    stack: LocalStack, task_log: TaskLog
) -> None:
    expected = expected_quantities(stack.seed)
    push(stack)
    changed = list(expected)[:2]
    for ean in changed:
        stack.fastmag.execute(
            "UPDATE stock SET stock = stock + 3 WHERE codemag = 'CENTRAL' AND AR = 1 AND "
            "(barcode, couleur, taille) IN (SELECT barcode, couleur, taille FROM produits WHERE gencod = ?)",
            (ean,),
        )
    task_log.stream.truncate(0)
    task_log.stream.seek(0)
    stack.lnb.clear_requests()
    result = push(stack, full=True)

    # Every key is sent and accepted; only the two that changed get their own `record.sent` line.
    assert stack.lnb.items_sent("/multi/inventory/ean") == len(expected)
    assert result["counters"]["accepted"] == len(expected)
    assert sorted(line["key"] for line in task_log.events("record.sent")) == sorted(changed)
    (summary,) = task_log.events("records.resent_unchanged")
    assert summary["count"] == len(expected) - 2
    # One `remote.call` line per path for the run's successful calls, with how many it stands for.
    calls = {(line["remote"], line["path"]): line for line in task_log.events("remote.call")}
    batches = calls[("lenewblack", "/multi/inventory/ean")]
    assert batches["count"] == len(stack.lnb.data_calls()) > 1
    assert batches["p50_ms"] <= batches["p95_ms"] <= batches["duration_ms"]
    assert len(task_log.events("remote.call")) == len(calls)


def test_bad_rows_are_skipped_with_reasons_and_never_sent(stack: LocalStack, task_log: TaskLog) -> None:
    result = push(stack)
    reasons = [line["reason"] for line in task_log.events("record.skipped")]
    assert any(reason.startswith("invalid EAN13 checksum") for reason in reasons)
    assert any(reason.startswith("unknown variant") for reason in reasons)
    assert result["counters"]["skipped"] == len(reasons)
    sent = set(stack.lnb.inventory_ean)
    assert all(is_valid_ean13(ean) for ean in sent)
    assert not set(stack.seed.anomalies.invalid_ean) & sent
    assert all(line["flow"] == "stock" and line["run_id"] == result["run_id"] for line in task_log.lines)


def of_run(task_log: TaskLog, event: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in task_log.events(event) if line["run_id"] == result["run_id"]]


def variant_of(stack: LocalStack, ean: str) -> tuple[str, str, str]:
    ((barcode, colour, size),) = stack.fastmag.execute(
        "SELECT barcode, couleur, taille FROM produits WHERE gencod = ?", (ean,)
    )
    return str(barcode), str(colour), str(size)


def set_stock(stack: LocalStack, ean: str, quantity: int) -> None:
    """The variant's whole stock becomes `quantity`, held in its central store."""
    variant = variant_of(stack, ean)
    stack.fastmag.execute("DELETE FROM stock WHERE barcode = ? AND couleur = ? AND taille = ?", variant)
    stack.fastmag.execute(
        "INSERT INTO stock (barcode, couleur, taille, codemag, stock, AR) VALUES (?, ?, ?, 'CENTRAL', ?, 1)",
        (*variant, quantity),
    )


def break_checksum(stack: LocalStack, ean: str) -> str:
    broken = ean[:-1] + str((int(ean[-1]) + 1) % 10)
    stack.fastmag.execute("UPDATE produits SET gencod = ? WHERE gencod = ?", (broken, ean))
    return broken


def drop_stock_rows(stack: LocalStack, ean: str) -> None:
    stack.fastmag.execute("DELETE FROM stock WHERE barcode = ? AND couleur = ? AND taille = ?", variant_of(stack, ean))


def test_what_fastmag_no_longer_vouches_for_goes_to_zero_in_lnb_with_its_reason(
    stack: LocalStack, task_log: TaskLog
) -> None:
    push(stack)
    negative, unreadable, vanished = [ean for ean, quantity in lnb_stock(stack).items() if quantity > 0][:3]
    set_stock(stack, negative, -1)
    broken = break_checksum(stack, unreadable)
    drop_stock_rows(stack, vanished)
    stack.lnb.clear_requests()
    result = push(stack)
    assert stack.lnb.items_sent("/multi/inventory/ean") == 3
    assert {ean: lnb_stock(stack)[ean] for ean in (negative, unreadable, vanished)} == dict.fromkeys(
        (negative, unreadable, vanished), 0
    )
    assert broken not in stack.lnb.inventory_ean
    warned = {line["key"]: line for line in of_run(task_log, "stock.zeroed", result)}
    assert {key: line["reason"] for key, line in warned.items()} == {
        negative: "negative stock in Fastmag (-1): pushed as 0",
        unreadable: "invalid EAN13 checksum: pushed as 0",
        vanished: "no longer in Fastmag's stock read: pushed as 0",
    }
    assert all(line["level"] == "WARNING" for line in warned.values())
    assert warned[negative]["variant"] == "/".join(variant_of(stack, negative))
    sent = {line["key"]: line for line in of_run(task_log, "record.sent", result)}
    assert sent[unreadable]["zero_reason"] == "invalid EAN13 checksum: pushed as 0"
    assert (sent[unreadable]["old"], sent[unreadable]["new"]) == (expected_quantities(stack.seed)[unreadable], 0)
    # A negative sum pushed as 0 is a warning (the item was sent), listed apart from the errors.
    record = stack.run_record(result["run_id"])
    assert record["warnings"]["negative stock in Fastmag: pushed as 0"] == 1
    assert "negative stock in Fastmag: pushed as 0" not in record["errors"]
    assert record["counters"]["warnings"] == 1

    # Once at 0 in LNB, nothing is sent again; Fastmag's negative sum is still reported each run.
    stack.lnb.clear_requests()
    again = push(stack)
    assert stack.lnb.data_calls() == []
    assert [line["key"] for line in of_run(task_log, "stock.zeroed", again)] == [negative]


def test_sku_mode_pushes_by_sku(stack: LocalStack) -> None:
    stack.configure({"stock": {"key": "sku"}, "sku_format": "{reference}-{colour}-{size}"})
    push(stack)
    variant = stack.seed.good_variants()[0]
    sku = f"{variant.barcode}-{variant.couleur}-{variant.taille}"
    assert sku in stack.lnb.inventory_sku
    assert stack.lnb.inventory_ean == {}


def test_rejected_items_are_recorded_and_sent_again_next_run(stack: LocalStack, task_log: TaskLog) -> None:
    rejected = list(expected_quantities(stack.seed))[5:8]
    stack.lnb.reject_items("inventory/ean", rejected, {"ean13": ["unknown EAN13"]})
    first = push(stack)
    assert first["status"] == "partial"
    assert first["counters"]["rejected"] == 3
    assert {line["key"] for line in task_log.events("record.rejected")} == set(rejected)
    assert "ean13: unknown EAN13" in task_log.events("record.rejected")[0]["reason"]
    assert not set(rejected) & set(stack.lnb.inventory_ean)

    stack.lnb.clear_rejections()
    stack.lnb.clear_requests()
    push(stack)
    assert stack.lnb.items_sent("/multi/inventory/ean") == 3
    assert set(rejected) <= set(stack.lnb.inventory_ean)


def test_429_and_5xx_mid_run_are_retried_to_the_end(stack: LocalStack) -> None:
    stack.lnb.fail_next("/multi/inventory", 429, times=2, retry_after=0)
    stack.lnb.fail_next("/multi/inventory", 503, times=2)
    push(stack)
    assert lnb_stock(stack) == expected_quantities(stack.seed)


def test_persistent_5xx_ends_partial_and_loses_nothing(stack: LocalStack) -> None:
    stack.configure({"lenewblack": {"max_retries": 1, "batch_size": 50, "concurrency": 1}})
    stack.lnb.fail_next("/multi/inventory", 503, times=2)  # the first batch fails twice: out of retries
    first = push(stack)
    assert first["status"] == "partial"
    assert first["counters"]["rejected"] == 50
    push(stack)
    assert lnb_stock(stack) == expected_quantities(stack.seed)


def test_guard_holds_a_push_zeroing_half_the_skus_until_forced(stack: LocalStack, task_log: TaskLog) -> None:
    push(stack)
    stack.fastmag.execute(
        "UPDATE stock SET stock = 0 WHERE barcode IN (SELECT barcode FROM produitsfiches ORDER BY barcode LIMIT 75)"
    )
    stack.lnb.clear_requests()
    held = push(stack)
    assert held["status"] == "held"
    assert stack.lnb.data_calls() == []
    (alarm,) = task_log.events("stock.guard.held")
    assert alarm["level"] == "ERROR"
    assert "check Fastmag" in alarm["reason"]

    forced = push(stack, force=True)
    assert forced["status"] in {"succeeded", "partial"}
    assert lnb_stock(stack) == expected_quantities_now(stack)


def expected_quantities_now(stack: LocalStack) -> dict[str, int]:
    rows = stack.fastmag.execute(
        "SELECT p.gencod, SUM(s.stock) FROM stock s JOIN produits p USING (barcode, couleur, taille) "
        "WHERE s.codemag IN ('CENTRAL', 'WEB') AND s.AR = 1 GROUP BY p.gencod"
    )
    return {ean: int(total) for ean, total in rows if is_valid_ean13(ean) and total >= 0}


def test_guard_holds_a_push_zeroing_one_sku_more_than_its_share_and_counts_every_kind_of_zeroing(
    stack: LocalStack, task_log: TaskLog
) -> None:
    push(stack)
    positive = sorted(ean for ean, quantity in lnb_stock(stack).items() if quantity > 0)
    # Exactly `allowed` SKUs may go to 0: the threshold is that share of the positive SKUs, to the SKU.
    allowed = len(positive) * 2 // 5
    stack.configure({"stock": {"zero_guard_share": allowed / len(positive)}})
    negative, unreadable, vanished, *emptied = positive[: allowed + 1]
    set_stock(stack, negative, -1)
    break_checksum(stack, unreadable)
    drop_stock_rows(stack, vanished)
    for ean in emptied:
        set_stock(stack, ean, 0)

    stack.lnb.clear_requests()
    held = push(stack)
    assert held["status"] == "held"
    assert stack.lnb.data_calls() == []
    (alarm,) = task_log.events("stock.guard.held")
    assert (alarm["new"], alarm["old"]) == (allowed + 1, len(positive))

    set_stock(stack, emptied[-1], 5)  # one SKU fewer to zero: exactly the share, which goes through
    through = push(stack)
    assert through["status"] == "partial"
    now = lnb_stock(stack)
    assert [ean for ean in positive if now[ean] == 0] == positive[:allowed]
    assert now[emptied[-1]] == 5


def test_overlapping_runs_one_is_skipped_and_nothing_is_pushed_twice(stack: LocalStack) -> None:
    stack.lnb.latency_seconds = 0.05
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run(execution_id: str) -> None:
        try:
            results.append(push(stack, execution_id=execution_id))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(f"tick-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r["status"] for r in results) == ["partial", "skipped"]
    skipped = next(r for r in results if r["status"] == "skipped")
    assert "in progress" in skipped["message"]
    assert stack.lnb.items_sent("/multi/inventory/ean") == len(expected_quantities(stack.seed))


def test_preview_writes_key_old_new_and_sends_nothing(stack: LocalStack) -> None:
    result = push(stack, preview=True)
    assert stack.lnb.data_calls() == []
    assert stack.lnb.inventory_ean == {}
    preview = list(stack.preview_lines(result["run_id"]))
    summary, changes = preview[0], [line for line in preview[1:] if line.get("change") == "new"]
    assert summary["summary"]["new"] == len(expected_quantities(stack.seed))
    first = changes[0]
    assert first["old"] is None and first["new"] == first["payload"]["in_stock"]
    assert any(line.get("change") == "skipped" and line["reason"] for line in preview)


def test_a_failed_run_is_recorded_and_raised_for_the_failure_destination(stack: LocalStack) -> None:
    stack.configure({"fastmag": {"wire": {"read_retries": 0}}})
    stack.fastmag.fail_next(500, times=1)
    with pytest.raises(RunFailed):
        push(stack, run_id="stock-failing")
    record = stack.run_record("stock-failing")
    assert record["status"] == "failed"
    assert record["errors"]
