"""Reconcile through ReconcileFunction's real handler, against a normalising LNB simulator (numbers as strings,
lists reordered, server fields, upper-case countries): an echo of what was sent cannot pass these."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import replace
from typing import Any

import pytest

from connector import runs
from connector.runner import RunFailed
from connector.state import LockStore
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.flows import run_flow

EXPORTS = ("customers", "products", "prices", "stock")
ALL_PRICES = {"reconcile": {"price_models": 10_000}}


def reconcile(stack: LocalStack, **fields: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One reconcile run; its record and its stored report's lines."""
    run_id = f"reconcile-{uuid.uuid4().hex[:12]}"
    event = stack.event(
        "schedule_reconcile", **{"run_id": run_id, "execution_id": None, "scheduled_time": None, **fields}
    )
    record: dict[str, Any] = stack.invoke("reconcile", event)
    return record, stack.preview_lines(f"{run_id}.reconcile")


def drifted(report: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(line["resource"], line["key"]): line for line in report if "resource" in line}


@pytest.fixture
def exported(stack: LocalStack) -> LocalStack:
    """Every outgoing flow run once, then LNB answering its reads normalised."""
    stack.configure(ALL_PRICES)
    for flow in EXPORTS:
        assert run_flow(stack, flow)["status"] in {"succeeded", "partial"}, flow
    stack.lnb.normalising = True
    stack.lnb.clear_requests()
    return stack


def test_after_a_clean_export_reconcile_reports_zero_drift(exported: LocalStack) -> None:
    record, report = reconcile(exported)
    assert record["status"] == "succeeded", record
    assert record["counters"]["drift"] == 0, drifted(report)
    summary = report[0]["summary"]
    assert set(summary) == {"stock", "fabrics", "products", "retailers", "prices", "prices_by_size"}
    assert all(counts["equal"] > 0 for counts in summary.values()), summary
    assert exported.lnb.items_sent() == 0


def hand_edit(stack: LocalStack) -> dict[tuple[str, str], str]:
    """Someone edits LNB by hand: a price, a stock, a retailer's delivery city, and deletes a SKU. Returns each
    edited record's (resource, key) and the path of the field that now differs."""
    lnb = stack.lnb
    price_key, price = next(iter(sorted(lnb.prices.items())))
    price["wholesale_price"] = float(price["wholesale_price"]) + 1
    ean, row = next(iter(sorted(lnb.inventory_ean.items())))
    row["in_stock"] = int(row["in_stock"]) + 5
    reference, retailer = next((ref, r) for ref, r in sorted(lnb.retailers.items()) if r.get("delivery_addresses"))
    address = retailer["delivery_addresses"][0]
    address["city"] = "Somewhere else"
    model, product = next((m, p) for m, p in sorted(lnb.products.items()) if len(p["variants"][0]["skus"]) > 1)
    variant = product["variants"][0]
    deleted = variant["skus"].pop()
    price_model, price_fabric, price_list = price_key.split("|")  # the simulator keys model|fabric|list
    return {
        ("prices", f"{price_list}|{price_model}|{price_fabric}"): "wholesale_price",
        ("stock", ean): "in_stock",
        ("retailers", reference): f"delivery_addresses[{address['reference']}].city",
        ("products", model): f"variants[{variant['fabric_code']}].skus[{deleted['size_name']}]",
    }


def test_each_hand_edit_is_reported_once_with_old_and_new_then_repaired_exactly(exported: LocalStack) -> None:
    edits = hand_edit(exported)
    record, report = reconcile(exported)
    found = drifted(report)
    assert set(found) == set(edits)
    assert record["counters"]["drift"] == 4
    for where, path in edits.items():
        line = found[where]
        assert line["drift"] == "different"
        assert list(line["changes"]) == [path], line
    stock_change = found[next(w for w in edits if w[0] == "stock")]["changes"]["in_stock"]
    assert stock_change["old"] == stock_change["new"] + 5
    sku_change = found[next(w for w in edits if w[0] == "products")]["changes"]
    assert next(iter(sku_change.values()))["old"] is None
    assert exported.lnb.items_sent() == 0  # a reconcile without repair writes nothing

    repaired, _ = reconcile(exported, repair=True)
    assert repaired["status"] == "succeeded", repaired
    sent = Counter(request.path for request in exported.lnb.data_calls() if request.method == "POST")
    assert sent == {"/multi/prices": 1, "/multi/inventory/ean": 1, "/multi/retailers": 1, "/multi/products": 1}
    assert exported.lnb.items_sent() == 4
    assert repaired["counters"]["accepted"] == 4

    again, report = reconcile(exported)
    assert again["counters"]["drift"] == 0, drifted(report)


def test_a_fabric_and_a_price_by_size_edited_by_hand_are_reported_and_repaired(exported: LocalStack) -> None:
    lnb = exported.lnb
    code, fabric = next(iter(sorted(lnb.fabrics.items())))
    held_name = fabric["color_name"]
    fabric["color_name"] = "Edited by hand"
    size_key, size_price = next(iter(sorted(lnb.prices_by_size.items())))
    size_price["wholesale_price"] = float(size_price["wholesale_price"]) + 2
    record, report = reconcile(exported)
    found = drifted(report)
    assert record["counters"]["drift"] == 2, found
    assert found[("fabrics", code)]["changes"] == {"color_name": {"old": "Edited by hand", "new": held_name}}
    ((where, line),) = [(where, line) for where, line in found.items() if where[0] == "prices_by_size"]
    assert list(line["changes"]) == ["wholesale_price"]
    assert where[1].endswith(f"|{size_price['size_name']}")

    repaired, _ = reconcile(exported, repair=True)
    assert repaired["status"] == "succeeded", repaired
    sent = Counter(request.path for request in lnb.data_calls() if request.method == "POST")
    assert sent == {"/multi/fabrics": 1, "/multi/prices_by_size": 1}
    assert lnb.items_sent() == 2
    assert lnb.fabrics[code]["color_name"] == held_name
    again, report = reconcile(exported)
    assert again["counters"]["drift"] == 0, drifted(report)
    assert size_key in lnb.prices_by_size


def test_after_a_repair_the_delta_runs_send_nothing(exported: LocalStack) -> None:
    hand_edit(exported)
    reconcile(exported, repair=True)
    exported.lnb.clear_requests()
    for flow in EXPORTS:
        run_flow(exported, flow)
    assert exported.lnb.items_sent() == 0


def test_records_unknown_to_fastmag_are_reported_and_never_deleted(exported: LocalStack) -> None:
    lnb = exported.lnb
    lnb.seed("inventory/ean", [{"ean13": "4006381333931", "in_stock": 3}])
    lnb.seed(
        "retailers",
        [
            {
                "reference": "LNB-ONLY",
                "name": "Shop",
                "price_list_code": "WHOLESALE-EUR",
                "store_address": {"reference": "S", "company": "Shop", "country": "FR"},
            }
        ],
    )
    record, report = reconcile(exported, repair=True)
    found = drifted(report)
    assert found[("stock", "4006381333931")]["drift"] == "unknown"
    assert found[("retailers", "LNB-ONLY")]["drift"] == "unknown"
    assert record["counters"]["drift"] == 2
    assert lnb.items_sent() == 0
    assert [r.method for r in lnb.data_calls() if r.method != "GET"] == []
    assert "LNB-ONLY" in lnb.retailers and "4006381333931" in lnb.inventory_ean


def test_a_repair_preview_stores_the_records_it_would_send_and_sends_nothing(exported: LocalStack) -> None:
    edits = hand_edit(exported)
    record, _ = reconcile(exported, repair=True, preview=True)
    lines = [line for line in exported.preview_lines(record["run_id"]) if "key" in line and "payload" in line]
    assert {line["key"] for line in lines} == {key for _, key in edits}
    assert exported.lnb.items_sent() == 0


def test_a_repair_during_a_stock_run_waits_for_the_stock_lock(exported: LocalStack) -> None:
    hand_edit(exported)
    locks = LockStore(exported.table)
    assert locks.acquire("stock", "scheduled-tick", run_id="stock-tick", now=time.time(), lease_seconds=60)
    result: dict[str, Any] = {}
    repair = threading.Thread(target=lambda: result.update(record=reconcile(exported, repair=True)[0]))
    repair.start()
    time.sleep(1.5)
    assert repair.is_alive()
    assert exported.lnb.items_sent() == 0  # nothing sent while the stock run holds its lock
    locks.release("stock", "scheduled-tick")
    repair.join(timeout=30)
    assert result["record"]["status"] == "succeeded", result
    assert exported.lnb.items_sent() == 4


def test_the_nightly_full_stock_push_can_send_only_the_differences(exported: LocalStack) -> None:
    exported.configure({"reconcile": {"nightly_stock": "reconcile"}})
    ean, row = next(iter(sorted(exported.lnb.inventory_ean.items())))
    held = int(row["in_stock"])
    row["in_stock"] = held + 9
    run_id = f"stock-{uuid.uuid4().hex[:12]}"
    event = exported.event("schedule_stock_full", run_id=run_id, execution_id=None, scheduled_time=None)
    record = exported.invoke("push_stock", event)
    assert record["status"] == "succeeded", record
    assert exported.lnb.items_sent() == 1
    assert int(exported.lnb.inventory_ean[ean]["in_stock"]) == held
    assert record["counters"]["drift"] == 1
    assert drifted(exported.preview_lines(f"{run_id}.reconcile"))[("stock", ean)]["changes"]["in_stock"] == {
        "old": held + 9,
        "new": held,
    }


def test_incoming_stock_is_reconciled_with_the_quantity(stack: LocalStack) -> None:
    sql = "SELECT produit AS variant_id, quantite AS quantity, date_prevue AS expected_date FROM receptions_attente"
    stack.configure({"fastmag": {"queries": {"incoming_stock": sql}}, "stock": {"incoming": {"horizon_days": 3660}}})
    run_flow(stack, "stock")
    ean = next(iter(sorted(stack.lnb.inventory_ean)))
    ((variant_id,),) = stack.fastmag.execute("SELECT produit FROM produits WHERE gencod = ?", (ean,))
    stack.fastmag.execute("INSERT INTO receptions_attente VALUES (?, 12, '2030-01-01')", (variant_id,))
    run_flow(stack, "stock")
    assert stack.lnb.inventory_ean[ean]["incoming_stock"] == 12
    stack.lnb.normalising = True
    _, report = reconcile(stack)
    assert [key for (resource, key) in drifted(report) if resource == "stock"] == []
    stack.lnb.inventory_ean[ean]["incoming_stock"] = 0
    _, report = reconcile(stack)
    assert drifted(report)[("stock", ean)]["changes"] == {"incoming_stock": {"old": 0, "new": 12}}


def test_the_report_and_the_log_mask_buyer_emails(exported: LocalStack, task_log: TaskLog) -> None:
    reference, retailer = next((ref, r) for ref, r in sorted(exported.lnb.retailers.items()) if r.get("buyers"))
    email = retailer["buyers"][0]["email"]
    retailer["buyers"][0]["email"] = "someone.else@example.org"
    _, report = reconcile(exported)
    assert drifted(report)[("retailers", reference)]["drift"] == "different"
    stored = json.dumps(report, ensure_ascii=False)
    logged = json.dumps(task_log.lines, ensure_ascii=False)
    for address in (email, "someone.else@example.org"):
        assert address not in stored and address not in logged


def test_an_applied_repair_preview_sends_what_it_showed_and_a_stale_one_sends_nothing(exported: LocalStack) -> None:
    hand_edit(exported)
    preview, _ = reconcile(exported, repair=True, preview=True)
    applied, _ = reconcile(exported, repair=True, trigger="apply", apply_run_id=preview["run_id"])
    assert applied["status"] == "succeeded", applied
    assert exported.lnb.items_sent() == 4

    ean, row = next(iter(sorted(exported.lnb.inventory_ean.items())))
    row["in_stock"] = int(row["in_stock"]) + 1
    stale, _ = reconcile(exported, repair=True, preview=True)
    # Fastmag moved after the preview: the repair would now send something else than it showed.
    exported.fastmag.execute(
        "UPDATE stock SET stock = stock + 3 WHERE codemag = 'CENTRAL' AND AR = 1 AND "
        "(barcode, couleur, taille) IN (SELECT barcode, couleur, taille FROM produits WHERE gencod = ?)",
        (ean,),
    )
    exported.lnb.clear_requests()
    with pytest.raises(RunFailed):
        reconcile(exported, repair=True, trigger="apply", apply_run_id=stale["run_id"])
    assert exported.lnb.items_sent() == 0
    assert ean in exported.lnb.inventory_ean


def test_locks_taken_first_are_renewed_while_a_repair_waits_for_the_next(
    exported: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Customers, prices and products are taken before stock: a long wait for stock must not let them lapse."""
    monkeypatch.setattr(runs, "timing", replace(runs.timing, lease_seconds=5.0, heartbeat_seconds=0.5))
    locks = LockStore(exported.table)
    assert locks.acquire("stock", "scheduled-tick", run_id="stock-tick", now=time.time(), lease_seconds=60)

    def repair() -> None:
        with suppress(RunFailed):  # a 5 s lease cannot hold the 30 s a snapshot save asks for: not the point here
            reconcile(exported, repair=True)

    thread = threading.Thread(target=repair)
    thread.start()
    time.sleep(8)  # longer than the lease: without renewal, the customers lock would have lapsed
    assert not locks.acquire("customers", "someone", run_id="customers-x", now=time.time(), lease_seconds=60)
    locks.release("stock", "scheduled-tick")
    thread.join(timeout=60)
    assert not thread.is_alive()
