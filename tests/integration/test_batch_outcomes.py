"""Batch answers that do not follow the request (a result missing in the middle, results reordered) through the
real handlers of every batch flow: an item is either accepted and in its snapshot, or reported and sent again by
the next run; a refused item is never recorded as accepted."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from connector.state import SnapshotStore
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.flows import run_flow

Item = Mapping[str, Any]


def price_key(item: Item) -> str:
    key = f"{item['price_list_code']}|{item['product_model']}|{item['fabric_code']}"
    return f"{key}|{item['size_name']}" if item.get("size_name") else key


@dataclass(frozen=True)
class BatchFlow:
    resources: tuple[str, ...]  # the resources whose items LNB refuses in the test
    snapshot: str
    key: Callable[[Item], str]  # an item's snapshot key, from its payload (or what LNB stored of it)
    held: Callable[[LocalStack], Iterable[Item]]  # what LNB holds of those resources


FLOWS = {
    "stock": BatchFlow(
        ("inventory/ean",), "stock-ean13", lambda item: str(item["ean13"]), lambda s: s.lnb.inventory_ean.values()
    ),
    "products": BatchFlow(
        ("products",), "products", lambda item: str(item["model"]), lambda s: s.lnb.products.values()
    ),
    "customers": BatchFlow(
        ("retailers",), "customers", lambda item: str(item["reference"]), lambda s: s.lnb.retailers.values()
    ),
    "prices": BatchFlow(
        ("prices", "prices_by_size"),
        "prices",
        price_key,
        lambda s: [*s.lnb.prices.values(), *s.lnb.prices_by_size.values()],
    ),
}
SHAPES = {
    "middle result missing": "batch_middle_result_dropped",
    "results reordered": "batch_results_reversed",
}


def snapshot(stack: LocalStack, name: str) -> dict[str, str]:
    return dict(SnapshotStore(stack.s3, stack.names["STAGING_BUCKET"]).load(name).entries)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_every_item_ends_accepted_or_reported_and_resent(
    stack: LocalStack, task_log: TaskLog, flow: str, shape: str
) -> None:
    spec = FLOWS[flow]
    # Small batches, so the catalogue spans several answers each shaped by the switch.
    stack.configure({"lenewblack": {"batch_size": 7, "concurrency": 2}})
    if flow == "prices":
        run_flow(stack, "products")
    refused: set[str] = set()

    def refuse(item: Item) -> bool:
        key = spec.key(item)
        if zlib.crc32(key.encode()) % 4 == 0:
            refused.add(key)
            return True
        return False

    for resource in spec.resources:
        stack.lnb.reject_items(resource, refuse, "refused by the test")
    setattr(stack.lnb, SHAPES[shape], True)

    first = run_flow(stack, flow)
    recorded = snapshot(stack, spec.snapshot)
    held = {spec.key(item) for item in spec.held(stack)}
    counters = first["counters"]
    assert refused, "the test must refuse some items"
    assert not refused & recorded.keys(), "a refused item was recorded as accepted"
    assert recorded.keys() <= held, "an item was recorded that LNB does not hold"
    assert counters["sent"] == counters["accepted"] + counters["rejected"]
    not_attributable = [
        line for line in task_log.events("record.rejected") if line["reason"].startswith("outcome not attributable")
    ]
    assert not_attributable, "the shaped answers must leave some outcomes unattributable"
    assert counters["accepted"] > 0

    # Faults gone: exactly what was not recorded is sent again, then everything is recorded, then nothing moves.
    setattr(stack.lnb, SHAPES[shape], False)
    stack.lnb.clear_rejections()
    stack.lnb.clear_requests()
    second = run_flow(stack, flow)
    assert second["counters"]["sent"] == counters["sent"] - counters["accepted"]
    assert second["counters"]["accepted"] == second["counters"]["sent"]
    after = snapshot(stack, spec.snapshot)
    assert refused <= after.keys()
    assert {key: after[key] for key in recorded} == recorded
    third = run_flow(stack, flow)
    assert third["counters"]["sent"] == 0
