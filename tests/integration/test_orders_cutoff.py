"""The go-live cut-off through ImportOrdersFunction's real handler: older orders `ignored` and never written,
newer ones written, and no orders run writes anything until the cut-off is decided."""

from __future__ import annotations

import json
from typing import Any

import boto3

from connector import configure
from connector.ledger import LedgerStatus, OrderLedger
from sandbox.handlers import forget_cached_clients
from sandbox.stack import LocalStack
from tests.integration.flows import run_flow

CUTOFF = "2026-03-01T00:00:00+01:00"


def invoicing(stack: LocalStack) -> list[str]:
    return sorted(reference for reference, order in stack.lnb.orders.items() if order["status"] == "invoicing")


def place(stack: LocalStack, older: list[str], newer: list[str]) -> None:
    """Orders confirmed just before and just after the cut-off (one older order only has a creation time)."""
    for reference in older:
        stack.lnb.orders[reference]["confirmation_time"] = "2026-02-28T23:59:59+01:00"
    stack.lnb.orders[older[0]].pop("confirmation_time")
    stack.lnb.orders[older[0]]["create_time"] = "2026-02-28T22:59:59Z"  # 23:59:59 in Paris: still before
    for reference in newer:
        stack.lnb.orders[reference]["confirmation_time"] = "2026-03-01T00:00:00+01:00"


def written(stack: LocalStack) -> set[str]:
    return {str(order["RefExterne"]) for order in stack.fastmag.orders()}


def unset_cutoff(stack: LocalStack) -> None:
    """The settings document as deployed before anyone decided: `orders.not_before` left out."""
    document = stack.settings_document()
    document["orders"].pop("not_before")
    # Written the only way a document reaches the flows: validated and labelled (an unset cut-off is valid).
    configure.write_settings(boto3.client("ssm"), stack.names["SETTINGS_PARAMETER"], json.dumps(document))
    forget_cached_clients()


def test_orders_before_the_cutoff_are_ignored_once_and_never_written(stack: LocalStack) -> None:
    references = invoicing(stack)
    older, newer = references[:3], references[3:]
    assert newer
    place(stack, older, newer)
    stack.configure({"orders": {"not_before": CUTOFF}})

    first = run_flow(stack, "orders", trigger="schedule")
    assert first["status"] == "succeeded", first
    assert first["counters"]["ignored"] == len(older)
    assert written(stack) == set(newer)
    ledger = OrderLedger(stack.table)
    for reference in older:
        entry = ledger.get(reference)
        assert entry is not None and entry.status == LedgerStatus.IGNORED
        assert entry.reason == "before the go-live cut-off"
        assert stack.lnb.orders[reference]["status"] == "invoicing"  # nothing to tell LNB: the brand handled it
    revisions = {reference: ledger.get(reference).revision for reference in older}  # type: ignore[union-attr]

    # Later runs count them and leave them be, even once the cut-off is moved back: ignored is for good.
    stack.configure({"orders": {"not_before": None}})
    again = run_flow(stack, "orders", trigger="schedule")
    assert again["counters"]["ignored"] == len(older)
    assert again["counters"]["sent"] == 0
    assert written(stack) == set(newer)
    assert {reference: ledger.get(reference).revision for reference in older} == revisions  # type: ignore[union-attr]
    assert all(len(order["lines"]) for order in stack.fastmag.orders())


def test_an_order_without_a_readable_time_is_blocked_while_a_cutoff_is_set(stack: LocalStack) -> None:
    reference = invoicing(stack)[0]
    order: dict[str, Any] = stack.lnb.orders[reference]
    order.pop("confirmation_time", None)
    order["create_time"] = "last tuesday"
    stack.configure({"orders": {"not_before": CUTOFF}})
    result = run_flow(stack, "orders", trigger="schedule")
    assert reference not in written(stack)
    entry = OrderLedger(stack.table).get(reference)
    assert entry is not None and entry.status == LedgerStatus.BLOCKED
    assert "cannot compare it with the go-live cut-off" in (entry.reason or "")
    assert result["status"] == "partial"


def test_unset_cutoff_holds_a_scheduled_run_and_writes_nothing(stack: LocalStack) -> None:
    unset_cutoff(stack)
    result = run_flow(stack, "orders", trigger="schedule")
    assert result["status"] == "held"
    assert result["message"] == "set orders.not_before, or null, before enabling orders"
    assert written(stack) == set()
    assert all(order["status"] == "invoicing" for order in stack.lnb.orders.values())
    assert OrderLedger(stack.table).get(invoicing(stack)[0]) is None
    button = run_flow(stack, "orders", trigger="button")
    assert button["status"] == "held"
    assert written(stack) == set()


def test_preview_shows_exactly_which_orders_would_go_whether_or_not_the_cutoff_is_set(stack: LocalStack) -> None:
    references = invoicing(stack)
    older, newer = references[:2], references[2:]
    place(stack, older, newer)
    unset_cutoff(stack)
    unset = run_flow(stack, "orders", preview=True, trigger="button")
    assert unset["status"] == "succeeded"
    assert {line["key"]: line["change"] for line in stack.preview_lines(unset["run_id"])[1:]} == dict.fromkeys(
        references, "new"
    )

    stack.configure({"orders": {"not_before": CUTOFF}})
    cut = run_flow(stack, "orders", preview=True, trigger="button")
    lines = {line["key"]: line["change"] for line in stack.preview_lines(cut["run_id"])[1:]}
    assert lines == {**dict.fromkeys(older, "ignored"), **dict.fromkeys(newer, "new")}
    assert written(stack) == set()
    assert OrderLedger(stack.table).get(older[0]) is None  # a preview records nothing
