"""The stock push reading Fastmag in keyset pages (`fastmag.page_rows`), through PushStockFunction's handler."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from connector.ean import is_valid_ean13
from connector.runner import RunFailed
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.test_stock import expected_quantities, lnb_stock, of_run, push, variant_of

PAGE_ROWS = 37


def fastmag_quantities(stack: LocalStack) -> dict[str, int]:
    """What Fastmag holds now, summed per valid EAN13 without the flow's SQL (real stock of the default stores)."""
    rows = stack.fastmag.execute(
        "SELECT p.gencod, SUM(s.stock) FROM stock s JOIN produits p ON p.barcode = s.barcode "
        "AND p.couleur = s.couleur AND p.taille = s.taille WHERE s.codemag IN ('CENTRAL', 'WEB') AND s.AR = 1 "
        "GROUP BY s.barcode, s.couleur, s.taille, p.gencod"
    )
    return {str(ean): max(int(total), 0) for ean, total in rows if is_valid_ean13(str(ean or ""))}


def stock_queries(stack: LocalStack) -> int:
    return sum(1 for request in stack.fastmag.requests if "FROM stock" in request.params.get("data", ""))


def test_a_paged_push_sends_what_one_query_sends(stack: LocalStack) -> None:
    stack.configure({"fastmag": {"page_rows": PAGE_ROWS}})
    stack.fastmag.requests.clear()
    first = push(stack)
    assert lnb_stock(stack) == expected_quantities(stack.seed)
    variants = stack.fastmag.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM stock WHERE codemag IN ('CENTRAL', 'WEB') AND AR = 1 "
        "GROUP BY barcode, couleur, taille)"
    )[0][0]
    assert first["counters"]["read"] == variants
    assert stock_queries(stack) == variants // PAGE_ROWS + 1
    stack.lnb.clear_requests()
    second = push(stack)
    assert stack.lnb.data_calls() == []
    assert second["counters"]["unchanged"] == first["counters"]["accepted"]


def test_page_rows_unset_reads_the_stock_in_one_query(stack: LocalStack) -> None:
    stack.fastmag.requests.clear()
    push(stack)
    assert stock_queries(stack) == 1
    assert lnb_stock(stack) == expected_quantities(stack.seed)


def test_stock_moving_between_pages_is_pushed_once_per_key_and_zeroes_nothing(
    stack: LocalStack, task_log: TaskLog
) -> None:
    """Before every page, stock moves (quantities, rows deleted and inserted again, a row in another store):
    a variant read twice would look like two variants sharing an EAN13 (skipped, then zeroed), one read never
    would be zeroed as vanished. Neither happens; the next push brings LNB to what Fastmag holds."""
    push(stack)
    stack.configure({"fastmag": {"page_rows": PAGE_ROWS}, "stock": {"zero_guard_share": 1}})
    stack.fastmag.faults.churn_stock = 10_000
    moved = push(stack, full=True)
    stack.fastmag.faults.churn_stock = 0
    assert len(stack.fastmag.churned) > 3 * 10
    assert of_run(task_log, "stock.zeroed", moved) == []
    skipped = Counter(line["reason"] for line in of_run(task_log, "record.skipped", moved))
    assert not [reason for reason in skipped if "shared" in reason]
    assert moved["counters"]["accepted"] == len(lnb_stock(stack)) == len(expected_quantities(stack.seed))
    push(stack)
    assert lnb_stock(stack) == fastmag_quantities(stack)


def test_a_page_failing_mid_read_zeroes_nothing_and_the_next_run_completes(
    stack: LocalStack, task_log: TaskLog
) -> None:
    push(stack)
    held = lnb_stock(stack)
    # The last variant in key order vanishes from Fastmag: only a read that reaches the last page may zero it.
    vanished = max((ean for ean, quantity in held.items() if quantity > 0), key=lambda ean: variant_of(stack, ean))
    stack.fastmag.execute(
        "DELETE FROM stock WHERE barcode = ? AND couleur = ? AND taille = ?", variant_of(stack, vanished)
    )
    # The guard off: a read taken as complete after two pages would zero nearly every key.
    stack.configure(
        {"fastmag": {"page_rows": PAGE_ROWS, "wire": {"read_retries": 0}}, "stock": {"zero_guard_share": 1}}
    )
    queries = Counter[str]()

    def third_page_breaks() -> None:
        queries["stock"] += 1
        if queries["stock"] == 3:
            stack.fastmag.faults.malformed_next_query = True

    stack.fastmag.before_query = third_page_breaks
    stack.lnb.clear_requests()
    with pytest.raises(RunFailed):
        push(stack, run_id="stock-page-fails")
    assert stack.run_record("stock-page-fails")["status"] == "failed"
    assert stack.lnb.data_calls() == []
    assert lnb_stock(stack) == held
    assert [line for line in task_log.events("stock.zeroed") if line["run_id"] == "stock-page-fails"] == []

    stack.fastmag.before_query = None
    retried: dict[str, Any] = push(stack)
    assert [line["key"] for line in of_run(task_log, "stock.zeroed", retried)] == [vanished]
    assert lnb_stock(stack) == {**fastmag_quantities(stack), vanished: 0}
