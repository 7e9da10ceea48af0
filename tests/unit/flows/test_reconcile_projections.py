"""The comparison projections: a difference of meaning counts, a difference of form (LNB's rendering) never."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.flows.reconcile import Resource, compare
from connector.flows.reconcile_projections import PRICES, PRODUCTS, RETAILERS, STOCK
from connector.flows.sync import Outgoing
from sandbox.lnb_normalise import normalised

PRODUCT: dict[str, Any] = {
    "model": "CH2301",
    "name": "Chemise",
    "category_name": "Chemises",
    "collection_code": "AH25",
    "collection_name": "AH25",
    "sizing_name": "S / M / L",
    "sizing_sizes": ["S", "M", "L"],
    "variants": [
        {
            "fabric_code": "NOIR_COTON",
            "fabric_name": "NOIR - coton",
            "reference": "CH2301",
            "skus": [
                {"size_name": size, "ean13": f"376000010000{n}", "sku": f"CH2301-NOIR-{size}"}
                for n, size in enumerate(["S", "M", "L"])
            ],
        },
        {"fabric_code": "BLANC_COTON", "fabric_name": "BLANC - coton", "reference": "CH2301", "skus": []},
    ],
}
RETAILER: dict[str, Any] = {
    "reference": "2001",
    "name": "Boutique",
    "price_list_code": "WHOLESALE-EUR",
    "discount_rate": 12.5,
    "store_address": {"reference": "PRINCIPALE", "company": "Boutique", "country": "FR", "city": "Lyon"},
    "delivery_addresses": [
        {"reference": "DEPOT", "company": "Boutique", "country": "BE", "city": "Liège"},
        {"reference": "PRINCIPALE", "company": "Boutique", "country": "FR", "city": "Lyon"},
    ],
    "buyers": [{"email": "Anne@Example.com", "first_name": "Anne"}, {"email": "bob@example.com"}],
}


def test_a_normalised_rendering_of_what_was_sent_is_equal() -> None:
    assert PRODUCTS.differences(PRODUCT, normalised(PRODUCT)) == {}
    assert RETAILERS.differences(RETAILER, normalised(RETAILER)) == {}
    price = {"price_list_code": "W", "product_model": "M", "fabric_code": "F", "wholesale_price": 40.5}
    assert PRICES.differences(price, normalised(price)) == {}
    assert STOCK.differences({"ean13": "1", "in_stock": 7}, normalised({"ean13": "1", "in_stock": 7})) == {}


@given(st.decimals(min_value=0, max_value=10**6, places=2), st.integers(min_value=0, max_value=10**6))
def test_numbers_compare_by_value_whatever_their_form(price: Decimal, quantity: int) -> None:
    assert PRICES.differences({"wholesale_price": float(price)}, {"wholesale_price": f"{price:.4f}"}) == {}
    assert STOCK.differences({"in_stock": quantity}, {"in_stock": f" {quantity} "}) == {}
    assert STOCK.differences({"in_stock": quantity}, {"in_stock": str(quantity + 1)}) == {
        "in_stock": (quantity + 1, quantity)
    }


def test_a_deleted_sku_is_one_change_and_an_edited_field_names_its_path() -> None:
    held = normalised(PRODUCT)
    noir = next(variant for variant in held["variants"] if variant["fabric_code"] == "NOIR_COTON")
    noir["skus"] = [sku for sku in noir["skus"] if sku["size_name"] != "M"]
    held["name"] = "  Chemise  "  # trimmed: not a change
    changes = PRODUCTS.differences(PRODUCT, held)
    assert changes == {"variants[NOIR_COTON].skus[M]": (None, {"ean13": "3760000100001", "sku": "CH2301-NOIR-M"})}


def test_sizes_keep_their_order_and_case_counts_except_for_countries() -> None:
    held = {**PRODUCT, "sizing_sizes": ["L", "M", "S"], "collection_name": "ah25"}
    assert set(PRODUCTS.differences(PRODUCT, held)) == {"sizing_sizes", "collection_name"}
    moved = normalised(RETAILER)
    moved["store_address"]["country"] = "fr"
    moved["buyers"] = [{"email": "anne@example.com", "first_name": "Anne"}, {"email": "BOB@example.com"}]
    assert RETAILERS.differences(RETAILER, moved) == {}


def test_an_address_edit_and_an_extra_buyer_in_lnb_are_reported_field_by_field() -> None:
    held = normalised(RETAILER)
    depot = next(a for a in held["delivery_addresses"] if a["reference"] == "DEPOT")
    depot["city"] = "Namur"
    held["buyers"].append({"email": "carl@example.com", "id": 9})
    held["discount_rate"] = "12.50"
    assert RETAILERS.differences(RETAILER, held) == {
        "delivery_addresses[DEPOT].city": ("Namur", "Liège"),
        "buyers[carl@example.com]": ({"email": "carl@example.com"}, None),
    }


def test_a_field_the_connector_does_not_send_is_lnbs_to_keep() -> None:
    held = {**normalised(PRODUCT), "sub_category_name": "Set by hand", "is_top": True}
    assert PRODUCTS.differences(PRODUCT, held) == {}


def test_compare_sorts_records_into_missing_different_unknown_and_equal() -> None:
    resource = Resource("stock", "stock", "stock-ean13", "inventory/ean", STOCK)
    expected = {key: Outgoing(key, {"ean13": key, "in_stock": n}) for key, n in (("A", 1), ("B", 2), ("C", 3))}
    held = {"A": {"ean13": "A", "in_stock": "1"}, "B": {"ean13": "B", "in_stock": "5"}, "Z": {"ean13": "Z"}}
    findings = compare(resource, expected, held)
    assert (findings.missing, findings.unknown, findings.equal) == (["C"], ["Z"], ["A"])
    assert findings.different == {"B": {"in_stock": (5, 2)}}
    assert findings.drift == 3
    assert [item.key for item in findings.to_send()] == ["C", "B"]
