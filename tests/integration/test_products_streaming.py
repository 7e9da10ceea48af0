"""Products are mapped as they are sent: fabrics first, every product answered once, and a failure half way
leaves nothing counted twice and no snapshot claiming what LNB was never sent."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from connector.flows import products
from connector.state import SnapshotStore
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.flows import run_flow
from tests.integration.test_products import catalogue, export


def snapshot(stack: LocalStack, name: str) -> dict[str, str]:
    return dict(SnapshotStore(stack.s3, stack.names["STAGING_BUCKET"]).load(name).entries)


def test_every_fabric_reaches_le_new_black_before_any_product_is_sent(stack: LocalStack) -> None:
    stack.configure({"lenewblack": {"batch_size": 3, "concurrency": 4}})
    arrivals: list[str] = []
    lock = threading.Lock()

    def note(method: str, path: str) -> None:
        with lock:
            arrivals.append(path)

    stack.lnb.before_handling = note
    result = export(stack)
    stack.lnb.before_handling = None
    calls = [path for path in arrivals if path.startswith("/multi/")]
    assert set(calls) == {"/multi/fabrics", "/multi/products"}
    first_product = calls.index("/multi/products")
    # Each fabric call answered before the first product call arrived, not merely sent first.
    fabric_calls = [call for call in stack.lnb.data_calls() if call.path == "/multi/fabrics"]
    assert calls[first_product:].count("/multi/fabrics") == 0
    assert len(fabric_calls) == first_product
    # Accepted, so LNB knew every fabric a variant points to (it refuses an unknown fabric code).
    assert set(stack.lnb.products) == set(catalogue(stack.seed))
    assert result["counters"]["rejected"] == 0


def test_a_mapping_failure_half_way_counts_each_product_once_and_saves_no_products_snapshot(
    stack: LocalStack, task_log: TaskLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure({"lenewblack": {"batch_size": 5, "concurrency": 2}})
    expected = catalogue(stack.seed)
    failing_at = len(expected) // 2
    mapped: list[str] = []
    product_of = products._product

    def failing(sheet: Any, *args: Any) -> Any:
        if len(mapped) == failing_at:
            raise RuntimeError("mapping bug")
        mapped.append(sheet.reference)
        return product_of(sheet, *args)

    monkeypatch.setattr(products, "_product", failing)
    result = run_flow(stack, "products")
    assert result["status"] == "failed" and result["raised"]
    counters = {name: int(value) for name, value in result["counters"].items()}
    fabrics = snapshot(stack, "products-fabrics")
    # What LNB holds is what was answered: whole batches of the models mapped before the failure, each once.
    sent = [line["key"] for line in task_log.events("record.sent") if line["run_id"] == result["run_id"]]
    products_sent = [key for key in sent if key not in fabrics]
    assert len(products_sent) == len(set(products_sent)) == len(stack.lnb.products)
    assert set(stack.lnb.products) <= set(mapped)
    assert 0 < len(stack.lnb.products) < len(expected)
    assert counters["sent"] == counters["accepted"] == len(fabrics) + len(stack.lnb.products)
    # The run failed: no products snapshot, so the next run sends every product again (upserts), none is lost.
    assert snapshot(stack, "products") == {}

    monkeypatch.setattr(products, "_product", product_of)
    again = export(stack)
    assert set(stack.lnb.products) == set(expected)
    assert again["counters"]["unchanged"] == len(fabrics)
    assert set(snapshot(stack, "products")) == set(expected)


def test_a_query_that_interleaves_the_models_rows_exports_the_same_catalogue(stack: LocalStack) -> None:
    # The default query gives each model's rows together, so models are grouped as they are sent; a brand's query
    # ordered by colour first gives them apart, and the whole answer must then be grouped before anything goes.
    default = stack.settings.fastmag.queries.products
    interleaved = default.replace(
        "ORDER BY f.barcode, p.couleur, p.ordretaille", "ORDER BY p.couleur, p.ordretaille, f.barcode"
    )
    assert interleaved != default
    stack.configure({"fastmag": {"queries": {"products": interleaved}}})
    expected = catalogue(stack.seed)
    result = export(stack)
    assert result["status"] == "partial"  # the seed's bad rows, as with the default query
    assert result["counters"]["rejected"] == 0
    assert set(stack.lnb.products) == set(expected)
    for reference, (_, by_colour) in expected.items():
        held = stack.lnb.products[reference]
        assert [sku["size_name"] for variant in held["variants"] for sku in variant["skus"]] == [
            variant.taille for _, variants in sorted(by_colour.items()) for variant in variants
        ]


def test_an_empty_catalogue_exports_nothing_and_fails_nothing(stack: LocalStack) -> None:
    stack.fastmag.execute("DELETE FROM produits")
    stack.fastmag.execute("DELETE FROM produitsfiches")
    result = export(stack)
    assert result["status"] == "succeeded"
    assert result["counters"]["read"] == result["counters"]["sent"] == 0
    assert stack.lnb.products == {} and stack.lnb.fabrics == {}
