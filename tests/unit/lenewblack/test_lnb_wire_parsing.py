"""Le New Black's answers read without I/O (lenewblack/wire.py), and its request models: no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from connector.lenewblack.models import (
    BATCH_KEYS,
    InventoryByEan,
    ItemOutcome,
    Order,
    Price,
    Product,
    Retailer,
)
from connector.lenewblack.wire import (
    normalize_errors,
    parse_batch_response,
    parse_error_body,
    parse_token_expiry,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


# --- error bodies ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "errors"),
    [
        ({"message": "Not found"}, "Not found", {}),
        ({"message": ["first problem", "second problem"]}, "first problem; second problem", {}),
        ({"error": {"message": "Validation failed"}}, "Validation failed", {}),
        ({"error": "invalid_client"}, "invalid_client", {}),
        (
            {"message": "Validation failed", "errors": {"price_list_code": ["price list X does not exist"]}},
            "Validation failed",
            {"price_list_code": ["price list X does not exist"]},
        ),
        (
            {"error": {"message": "Invalid", "errors": {"country": "must be ISO-2"}}},
            "Invalid",
            {"country": ["must be ISO-2"]},
        ),
        (
            {"errors": {"in_stock": ["must be an integer"], "ean13": ["is required", "bad"]}},
            "in_stock: must be an integer; ean13: is required; ean13: bad",
            {"in_stock": ["must be an integer"], "ean13": ["is required", "bad"]},
        ),
        ({"errors": "something went wrong"}, "something went wrong", {"": ["something went wrong"]}),
        ("<html>Bad gateway</html>", "<html>Bad gateway</html>", {}),
        (None, None, {}),
        ([1, 2], None, {}),
        ({"message": "", "error": {"message": "nested wins when top is empty"}}, "nested wins when top is empty", {}),
    ],
)
def test_error_body_shapes(body: object, message: str | None, errors: dict[str, list[str]]) -> None:
    assert parse_error_body(body) == (message, errors)


def test_nested_error_maps_are_flattened_into_readable_lines() -> None:
    assert normalize_errors({"variants": {"0": {"fabric_code": ["is required"]}}}) == {
        "variants": ["0: fabric_code: is required"]
    }
    assert normalize_errors(["a", "", None, "b"]) == {"": ["a", "b"]}
    assert normalize_errors({"ean13": []}) == {}


# --- token expiry ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"expire_on": "2026-03-01 13:00:00"}, datetime(2026, 3, 1, 13, tzinfo=UTC)),
        ({"expire_on": "2026-03-01T13:00:00"}, datetime(2026, 3, 1, 13, tzinfo=UTC)),
        ({"expire_on": "2026-03-01T13:00:00Z"}, datetime(2026, 3, 1, 13, tzinfo=UTC)),
        ({"expire_on": "2026-03-01T15:00:00+02:00"}, datetime(2026, 3, 1, 13, tzinfo=UTC)),
        ({"expire_on": int(datetime(2026, 3, 1, 13, tzinfo=UTC).timestamp())}, datetime(2026, 3, 1, 13, tzinfo=UTC)),
        (
            {"expire_on": str(int(datetime(2026, 3, 1, 13, tzinfo=UTC).timestamp()))},
            datetime(2026, 3, 1, 13, tzinfo=UTC),
        ),
        ({"expires_in": 1800}, NOW + timedelta(seconds=1800)),
        ({"expires_in": "900"}, NOW + timedelta(seconds=900)),
        ({"expire_on": "next tuesday", "expires_in": 60}, NOW + timedelta(seconds=60)),
        ({"expire_on": "next tuesday"}, None),
        ({}, None),
        ({"expire_on": True}, None),
    ],
)
def test_token_expiry_forms(body: dict[str, object], expected: datetime | None) -> None:
    assert parse_token_expiry(body, NOW) == expected


# --- batch answers -----------------------------------------------------------------------------------------------


def fabrics(*codes: str) -> list[dict[str, str]]:
    return [{"code": code, "name": code} for code in codes]


def test_batch_status_form_mixed_results() -> None:
    body = {
        "metadata": {"total_requests": 3, "total_successes": 1, "total_errors": 2},
        "data": [
            {"status": "success", "errors": [], "result": {"ean13": "3700000000001"}},
            {"status": "error", "errors": {"price_list_code": ["price list X does not exist"]}, "result": None},
            {"status": "error", "errors": "in_stock: must be an integer"},
        ],
    }
    items = [{"ean13": f"370000000000{n}", "in_stock": 1} for n in (1, 2, 3)]
    first, second, third = parse_batch_response(body, items, 200, BATCH_KEYS["inventory/ean"])
    assert (first.accepted, first.result) == (True, {"ean13": "3700000000001"})
    assert not second.accepted
    assert second.reason == "price_list_code: price list X does not exist"
    assert not third.accepted
    assert third.errors == {"": ["in_stock: must be an integer"]}
    assert third.reason == "in_stock: must be an integer"


def test_batch_success_form_mixed_results() -> None:
    body = {"data": [{"success": True, "result": {"sku": "A"}}, {"success": False, "errors": {"sku": ["is required"]}}]}
    outcomes = parse_batch_response(body, [{"sku": "A"}, {"sku": "B"}], 200, BATCH_KEYS["inventory/sku"])
    assert [o.accepted for o in outcomes] == [True, False]
    assert outcomes[1].errors == {"sku": ["is required"]}


def test_batch_never_assumes_success() -> None:
    body = {"data": [{"result": {"code": "A"}}, {"status": "pending"}, "garbage", {"success": "yes"}]}
    outcomes = parse_batch_response(body, fabrics("A", "B", "C", "D"), 200, BATCH_KEYS["fabrics"])
    assert [o.accepted for o in outcomes] == [False, False, False, False]
    assert "neither `status` nor `success`" in outcomes[0].reason
    assert "'pending'" in outcomes[1].reason
    assert "unreadable" in outcomes[2].reason


def test_batch_answer_shorter_than_the_request_accepts_only_what_it_names() -> None:
    body = {"data": [{"status": "success", "result": {"code": "A"}}]}
    outcomes = parse_batch_response(body, fabrics("A", "B", "C"), 200, BATCH_KEYS["fabrics"])
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert [(o.accepted, o.attributable) for o in outcomes] == [(True, True), (False, False), (False, False)]
    assert "outcome not attributable: the batch answer has 1 result(s) for 3 item(s)" in outcomes[2].reason


def test_batch_answer_without_data_rejects_everything() -> None:
    outcomes = parse_batch_response({"metadata": {}}, fabrics("A", "B"), 200, BATCH_KEYS["fabrics"])
    assert [o.accepted for o in outcomes] == [False, False]
    assert "no `data` list" in outcomes[0].reason


def test_outcome_reason_falls_back_to_message_then_status() -> None:
    assert ItemOutcome(index=0, accepted=False, message="HTTP 503 on POST /multi/x").reason == (
        "HTTP 503 on POST /multi/x"
    )
    assert "HTTP 500" in ItemOutcome(index=0, accepted=False, http_status=500).reason
    assert ItemOutcome(index=0, accepted=True).reason == "accepted"


# --- models ------------------------------------------------------------------------------------------------------


def test_inventory_refuses_a_bad_ean13_checksum_and_negative_stock() -> None:
    with pytest.raises(ValidationError, match="not a valid EAN13"):
        InventoryByEan(ean13="3700000000001", in_stock=1)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        InventoryByEan(ean13="3700000000006", in_stock=-1)


def test_payloads_leave_out_unset_fields_and_send_money_as_numbers() -> None:
    price = Price(product_model="M1", fabric_code="RED", price_list_code="WHOLESALE-EUR", wholesale_price="12.50")
    assert price.payload() == {
        "product_model": "M1",
        "fabric_code": "RED",
        "price_list_code": "WHOLESALE-EUR",
        "wholesale_price": 12.5,
    }
    assert price.model_dump(exclude_none=True)["wholesale_price"] == 12.5
    with pytest.raises(ValidationError):
        Price(product_model="M1", fabric_code="RED", price_list_code="W", wholesale_price=Decimal(0))


def test_request_models_refuse_unknown_fields_and_normalise_country() -> None:
    retailer = Retailer(
        reference="C1",
        name="Boutique",
        price_list_code="WHOLESALE-EUR",
        store_address={"reference": "C1", "company": "Boutique", "country": "fr"},
    )
    assert retailer.payload()["store_address"]["country"] == "FR"
    with pytest.raises(ValidationError, match="price_list"):
        Retailer.model_validate({**retailer.payload(), "price_list": "typo"})


def test_product_sizes_must_belong_to_its_sizing() -> None:
    product = {
        "model": "M1",
        "name": "Robe",
        "category_name": "Robes",
        "collection_code": "SS26",
        "collection_name": "Été 2026",
        "sizing_name": "S-M-L",
        "sizing_sizes": ["S", "M", "L"],
        "variants": [
            {"fabric_code": "RED", "fabric_name": "Rouge", "reference": "M1-RED", "skus": [{"size_name": "XL"}]}
        ],
    }
    with pytest.raises(ValidationError, match=r"\['XL'\] are not in sizing"):
        Product.model_validate(product)


def test_orders_are_parsed_tolerantly() -> None:
    order = Order.model_validate(
        {
            "reference": 12345,
            "status": "invoicing",
            "something_new": {"x": 1},
            "items": None,
            "delivery_address": {"country": "FR", "floor": 3},
        }
    )
    assert order.reference == "12345"
    assert order.items == []
    assert order.model_extra == {"something_new": {"x": 1}}
    assert order.delivery_address is not None and order.delivery_address.country == "FR"
    with pytest.raises(ValidationError):
        Order.model_validate({"status": "invoicing"})
