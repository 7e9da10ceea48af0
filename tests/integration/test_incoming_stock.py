"""Incoming stock through PushStockFunction's real handler: pending receptions in the Fastmag simulator reach
LNB's `incoming_stock` / `incoming_stock_date`; without the query, payloads are what they always were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.stack import LocalStack
from tests.integration.test_stock import push

INCOMING_SQL = (
    "SELECT r.produit AS variant_id, r.quantite AS quantity, r.date_prevue AS expected_date FROM receptions_attente r"
)


def a_variant(stack: LocalStack) -> tuple[int, str]:
    """A variant the stock push sends (its Fastmag id and EAN13)."""
    ean = next(iter(sorted(stack.lnb.inventory_ean)))
    (variant_id,) = stack.fastmag.execute("SELECT produit FROM produits WHERE gencod = ?", (ean,))[0]
    return int(variant_id), ean


def expect(stack: LocalStack, variant_id: int, quantity: float, in_days: int) -> None:
    when = (datetime.now(UTC).date() + timedelta(days=in_days)).isoformat()
    stack.fastmag.execute("INSERT INTO receptions_attente VALUES (?, ?, ?)", (variant_id, quantity, when))


def sent_items(stack: LocalStack) -> list[dict[str, Any]]:
    return [item for r in stack.lnb.requests if r.path == "/multi/inventory/ean" for item in r.body["requests"]]


def test_receptions_within_the_horizon_reach_lnb_summed_less_the_buffer_and_dated_earliest(stack: LocalStack) -> None:
    push(stack)
    variant_id, ean = a_variant(stack)
    expect(stack, variant_id, 10, in_days=20)
    expect(stack, variant_id, 7.9, in_days=5)
    expect(stack, variant_id, 100, in_days=400)  # beyond the horizon: not counted
    stack.configure(
        {"fastmag": {"queries": {"incoming_stock": INCOMING_SQL}}, "stock": {"incoming": {"safety_buffer": 2}}}
    )
    stack.lnb.clear_requests()
    result = push(stack)
    assert result["counters"]["accepted"] == 1  # the only key whose record changed
    held = stack.lnb.inventory_ean[ean]
    soon = datetime.now(UTC).date() + timedelta(days=5)
    assert (held["incoming_stock"], held["incoming_stock_date"]) == (15, soon.isoformat())

    stack.configure({"stock": {"incoming": {"date": "latest"}}})
    stack.lnb.clear_requests()
    push(stack)
    later = datetime.now(UTC).date() + timedelta(days=20)
    assert [item["ean13"] for item in sent_items(stack)] == [ean]
    assert stack.lnb.inventory_ean[ean]["incoming_stock_date"] == later.isoformat()


def test_a_change_of_date_alone_is_sent(stack: LocalStack) -> None:
    stack.configure({"fastmag": {"queries": {"incoming_stock": INCOMING_SQL}}})
    push(stack)
    variant_id, ean = a_variant(stack)
    expect(stack, variant_id, 4, in_days=10)
    push(stack)
    later = (datetime.now(UTC).date() + timedelta(days=12)).isoformat()
    stack.fastmag.execute("UPDATE receptions_attente SET date_prevue = ?", (later,))
    stack.lnb.clear_requests()
    push(stack)
    (item,) = sent_items(stack)
    assert item == {
        "ean13": ean,
        "in_stock": item["in_stock"],
        "incoming_stock": 4,
        "incoming_stock_date": later,
    }


def test_without_the_query_payloads_are_unchanged_and_turning_it_on_resends_nothing(stack: LocalStack) -> None:
    push(stack)
    assert {tuple(sorted(item)) for item in sent_items(stack)} == {("ean13", "in_stock")}
    stack.configure({"fastmag": {"queries": {"incoming_stock": INCOMING_SQL}}})
    stack.lnb.clear_requests()
    result = push(stack)
    assert sent_items(stack) == []
    assert result["counters"]["sent"] == 0


def test_receptions_that_arrived_leave_lnb_as_zero(stack: LocalStack) -> None:
    stack.configure({"fastmag": {"queries": {"incoming_stock": INCOMING_SQL}}})
    push(stack)
    variant_id, ean = a_variant(stack)
    expect(stack, variant_id, 6, in_days=3)
    push(stack)
    stack.fastmag.execute("DELETE FROM receptions_attente")
    stack.lnb.clear_requests()
    push(stack)
    (item,) = sent_items(stack)
    assert (item["ean13"], item["incoming_stock"]) == (ean, 0)
