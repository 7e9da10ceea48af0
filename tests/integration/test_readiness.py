"""Readiness through ReadinessFunction's real handler, on a sandbox synchronised by the other flows: one problem
of every kind arranged here, each found once under its check with its reason; a clean seed finds none."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.flows.catalogue import fabric_code
from connector.flows.prices import unknown_price_list
from connector.flows.readiness_report import BY_NAME, Item, ReportStore
from connector.ledger import LedgerStatus, OrderLedger
from sandbox.seed import Seed, build_seed, named_seed, take_seed_option
from sandbox.stack import LocalStack
from tests.integration.conftest import NO_WAIT
from tests.integration.flows import run_flow
from tests.integration.test_api import call, event

SYNC = ("customers", "products", "prices", "images", "stock", "orders")
LEGACY_MODEL = "LEGACY-001"


def small_clean_seed() -> Seed:
    return build_seed(models=24, retailers=10, bad_rows=False)


def synchronise(stack: LocalStack) -> None:
    for flow in SYNC:
        assert run_flow(stack, flow)["status"] in {"succeeded", "partial"}, flow


def readiness(stack: LocalStack) -> tuple[dict[str, Any], list[Item]]:
    result = run_flow(stack, "readiness")
    assert result["status"] == "succeeded", result
    return result, list(ReportStore(stack.s3, stack.names["STAGING_BUCKET"]).read(result["run_id"]))


def test_a_synchronised_clean_sandbox_has_no_problem_in_any_check() -> None:
    with LocalStack(small_clean_seed(), settings_document=NO_WAIT) as stack:
        synchronise(stack)
        stack.lnb.clear_requests()
        result, items = readiness(stack)
        assert result["checks"] == dict.fromkeys(BY_NAME, 0)
        assert items == []
        assert stack.run_record(result["run_id"])["checks"] == dict.fromkeys(BY_NAME, 0)
        # Read-only: every call to Le New Black was a read.
        assert {call.method for call in stack.lnb.data_calls()} == {"GET"}


def test_the_seed_option_is_taken_out_of_the_command_line() -> None:
    assert take_seed_option(["run", "readiness", "--seed", "clean"]) == (["run", "readiness"], "clean")
    assert take_seed_option(["run", "stock", "--seed=default", "--full"]) == (["run", "stock", "--full"], "default")
    assert take_seed_option(["check"]) == (["check"], "default")
    with pytest.raises(SystemExit, match="--seed takes one of default, clean"):
        take_seed_option(["run", "stock", "--seed", "dirty"])
    clean, default = named_seed("clean").anomalies, named_seed("default").anomalies
    assert (clean.invalid_ean, clean.zero_price, clean.missing_colour) == ([], [], [])
    assert default.invalid_ean and default.zero_price


# --- one problem of every kind -----------------------------------------------------------------------------------


def _without_ean(seed: Seed) -> str:
    """Blank the EAN13 of a variant in stock in a configured store; returns its label. Orders leave it out."""
    stocked = next(row for row in seed.stock if row.codemag in {"CENTRAL", "WEB"} and row.stock > 0)
    position, variant = next(
        (n, v)
        for n, v in enumerate(seed.variants)
        if (v.barcode, v.couleur, v.taille) == (stocked.barcode, stocked.couleur, stocked.taille)
    )
    seed.anomalies.invalid_ean.append("")  # lnb_orders takes no variant listed there
    seed.variants[position] = variant._replace(gencod="")
    return f"{variant.barcode}/{variant.couleur}/{variant.taille}"


def _legacy_product() -> dict[str, Any]:
    return {
        "model": LEGACY_MODEL,
        "name": "Robe d'archive",
        "category_name": "Archives",
        "collection_code": "OLD-SEASON",
        "collection_name": "Old season",
        "sizing_name": "TU",
        "sizing_sizes": ["TU"],
        "variants": [{"fabric_code": "OLD-FABRIC", "fabric_name": "Old fabric", "reference": LEGACY_MODEL}],
    }


@pytest.fixture
def troubled() -> Iterator[tuple[LocalStack, dict[str, str]]]:
    seed = small_clean_seed()
    keys = {"ean": _without_ean(seed)}
    with LocalStack(seed, settings_document=NO_WAIT) as stack:
        lnb = stack.lnb
        lnb.seed(
            "retailers",
            [
                {
                    "reference": "LEGACY-42",
                    "name": "Boutique d'avant",
                    "price_list_code": "WHOLESALE-EUR",
                    "store_address": {"reference": "MAIN", "company": "Boutique d'avant", "country": "FR"},
                }
            ],
        )
        lnb.seed("products", [_legacy_product()])
        product = seed.products[2]
        colour = next(v.couleur for v in seed.variants if v.barcode == product.barcode)
        stack.fastmag.remove_photo(product.barcode, colour, 1)  # photos are read 1.. until the first missing
        keys["colour"] = f"{product.barcode}/{fabric_code(colour, product.matiere)}"
        stack.configure({"tariff_price_lists": {"GROS": "WHOLESALE-EUR", "PVC": "RETAIL-EUR", "SOLDES": "SALE-EUR"}})
        synchronise(stack)
        lnb.add_order({"reference": 7001, "status": "blocked", "create_time": "2026-01-05T09:00:00+01:00", "items": []})
        lnb.add_order({"reference": 7000, "status": "blocked", "create_time": "2025-12-01T09:00:00+01:00", "items": []})
        ledger = OrderLedger(stack.table)
        entry = ledger.open("7002", "orders-test")
        sent_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="milliseconds")
        assert ledger.transition(entry, LedgerStatus.SENT, "claimed", sent_at=sent_at, write_may_exist=True)
        yield stack, keys


def test_every_kind_of_problem_appears_once_under_its_check_with_its_reason(
    troubled: tuple[LocalStack, dict[str, str]],
) -> None:
    stack, keys = troubled
    result, items = readiness(stack)
    found = {(item.check, item.key): item for item in items}
    assert len(found) == len(items), "an item is listed twice"

    assert "will block" in found["retailer_unknown", "LEGACY-42"].problem
    assert "no EAN13 in Fastmag" in found["ean_invalid", keys["ean"]].problem
    assert unknown_price_list("SALE-EUR") in found["price_list_unknown", "SALE-EUR"].problem
    assert "no photo" in found["image_missing", keys["colour"]].problem
    assert "no Fastmag reference is model" in found["product_unmatched", LEGACY_MODEL].problem
    assert ("collection_unmatched", "OLD-SEASON") in found
    assert ("fabric_unmatched", "OLD-FABRIC") in found
    assert "Archives" in found["category_unmapped", "Archives"].problem
    assert "outcome unknown" in found["order_stuck", "7002"].problem
    blocked = [item.key for item in items if item.check == "order_blocked"]
    assert blocked == ["7000", "7001"]  # oldest first
    assert "not by the connector" in found["order_blocked", "7000"].problem

    # Each arranged problem once, and nothing else in the checks that the arrangement alone feeds.
    per_check = Counter(item.check for item in items)
    for check in ("retailer_unknown", "ean_invalid", "price_list_unknown", "product_unmatched", "order_stuck"):
        assert per_check[check] == 1, check
    assert per_check["image_missing"] == 1
    assert per_check["customer_missing"] == per_check["ean_shared"] == 0
    assert result["checks"] == {name: per_check[name] for name in BY_NAME}
    assert all(item.action for item in items)


def test_the_report_page_pages_by_check_and_downloads_a_csv_safe_for_spreadsheets(
    troubled: tuple[LocalStack, dict[str, str]],
) -> None:
    stack, _ = troubled
    hostile = ["=HYPERLINK(1)", "-2+3", "<script>alert(1)</script>"]
    stack.lnb.seed("retailers", [_retailer(reference) for reference in hostile])
    result, items = readiness(stack)
    run_id = result["run_id"]
    path = f"/readiness/{run_id}"

    status, body, _ = call(
        stack,
        event(stack, "api_run", path=path, params={"run_id": run_id}, query={"check": "order_blocked", "limit": "1"}),
    )
    assert status == 200, body
    assert [item["key"] for item in body["items"]] == ["7000"]
    assert (body["total"], body["next_offset"]) == (2, 1)
    assert body["checks"]["retailer_unknown"] == 4

    status, page, headers = call(
        stack,
        event(stack, "api_run", path=path, params={"run_id": run_id}, headers={"Accept": "text/html"}),
    )
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="count-retailer_unknown"' in page and "LEGACY-42" in page

    status, text, headers = call(
        stack, event(stack, "api_run", path=path, params={"run_id": run_id}, query={"format": "csv"})
    )
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["check", "key", "problem", "action"]
    assert len(rows) == len(items) + 1
    keys = {row[1] for row in rows if row[0] == "retailer_unknown"}
    assert keys == {"LEGACY-42", "'=HYPERLINK(1)", "'-2+3", "<script>alert(1)</script>"}

    status, body, _ = call(stack, event(stack, "api_run", path="/readiness/nope", params={"run_id": "nope"}))
    assert status == 404


def _retailer(reference: str) -> dict[str, Any]:
    return {
        "reference": reference,
        "name": "Hostile",
        "price_list_code": "WHOLESALE-EUR",
        "store_address": {"reference": "MAIN", "company": "Hostile", "country": "FR"},
    }
