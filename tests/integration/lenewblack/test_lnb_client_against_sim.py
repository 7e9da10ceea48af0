"""The Le New Black client against the simulator, one test per behaviour the reference leaves uncertain."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.errors import LeNewBlackAuthError, LeNewBlackError
from connector.lenewblack.client import LeNewBlackClient
from connector.lenewblack.models import Fabric, InventoryByEan, Price, Product, Retailer, Sku, Variant
from connector.settings import LeNewBlackSettings
from sandbox.credentials import SANDBOX_SECRET
from sandbox.lnb_sim import LeNewBlackSimulator
from tests.conftest import TaskLog

pytestmark = pytest.mark.integration

MakeClient = Callable[..., LeNewBlackClient]


def ean(number: int) -> str:
    body = f"370{number:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@pytest.fixture
def sim() -> Iterator[LeNewBlackSimulator]:
    with LeNewBlackSimulator() as simulator:
        yield simulator


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sim: LeNewBlackSimulator, sleeps: list[float]) -> MakeClient:
    def make(secret: str = SANDBOX_SECRET["lnb_client_secret"], **overrides: Any) -> LeNewBlackClient:
        kwargs = {k: overrides.pop(k) for k in ("now", "rand") if k in overrides}
        settings = LeNewBlackSettings(base_url=sim.url, **overrides)
        return LeNewBlackClient(settings, SANDBOX_SECRET["lnb_client_id"], secret, sleep=sleeps.append, **kwargs)

    return make


def stock(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [InventoryByEan(ean13=ean(start + i), in_stock=i).payload() for i in range(count)]


def statuses(sim: LeNewBlackSimulator) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in sim.requests]


# --- token -------------------------------------------------------------------------------------------------------


def test_token_is_refreshed_before_expiry_by_the_clock(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    clock = [datetime.now(UTC)]
    client = make_client(now=lambda: clock[0], token_refresh_margin_seconds=60)
    client.get("/inventory")
    clock[0] += timedelta(seconds=3600 - 60 - 5)
    client.get("/inventory")
    assert len(sim.token_calls()) == 1
    clock[0] += timedelta(seconds=10)
    client.get("/inventory")
    assert len(sim.token_calls()) == 2
    assert all(status == 200 for _, status in statuses(sim))
    assert client.token_calls == 2
    assert client.calls == 3


@pytest.mark.parametrize("form", ["datetime", "expires_in"])
def test_a_short_lived_token_is_used_for_most_of_its_life_without_warning(
    sim: LeNewBlackSimulator, make_client: MakeClient, task_log: TaskLog, form: Any
) -> None:
    # A 60 s margin is longer than a 30 s token: the margin is capped at a fifth of its life (6 s).
    sim.token_lifetime_seconds = 30
    sim.expire_on_form = form
    clock = [datetime.now(UTC).replace(microsecond=0)]
    client = make_client(now=lambda: clock[0], token_refresh_margin_seconds=60)
    for _ in range(3):
        client.get("/inventory")
    clock[0] += timedelta(seconds=23)
    client.get("/inventory")
    assert len(sim.token_calls()) == 1
    clock[0] += timedelta(seconds=2)  # 25 s: within the last fifth, refreshed (not kept for an assumed hour)
    client.get("/inventory")
    assert len(sim.token_calls()) == 2
    assert all(status == 200 for _, status in statuses(sim))
    assert [line for line in task_log.lines if line["level"] == "WARNING"] == []


def test_token_is_refreshed_once_on_401(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    client = make_client()
    client.get("/inventory")
    sim.expire_tokens()
    assert client.get("/inventory") == []
    assert statuses(sim) == [
        ("/auth/token", 200),
        ("/inventory", 200),
        ("/inventory", 401),
        ("/auth/token", 200),
        ("/inventory", 200),
    ]


def test_a_fresh_token_refused_again_is_an_auth_error(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.token_lifetime_seconds = 0  # every token is born expired
    client = make_client()
    with pytest.raises(LeNewBlackAuthError) as caught:
        client.get("/inventory")
    assert caught.value.http_status == 401
    assert [path for path, _ in statuses(sim)] == ["/auth/token", "/inventory", "/auth/token", "/inventory"]


def test_bad_credentials_are_an_auth_error(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    client = make_client(secret="wrong")
    with pytest.raises(LeNewBlackAuthError, match="invalid client credentials") as caught:
        client.get("/inventory")
    assert caught.value.http_status == 401
    assert sim.data_calls() == []


def test_token_request_is_retried_and_counted_apart(
    sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]
) -> None:
    sim.fail_next("/auth/token", 503)
    client = make_client()
    client.get("/inventory")
    assert [status for _, status in statuses(sim)] == [503, 200, 200]
    assert (client.token_calls, client.calls) == (2, 1)
    assert len(sleeps) == 1


@pytest.mark.parametrize("form", ["datetime", "iso", "epoch", "expires_in"])
def test_every_expiry_form_keeps_one_token(sim: LeNewBlackSimulator, make_client: MakeClient, form: Any) -> None:
    sim.expire_on_form = form
    client = make_client()
    for _ in range(3):
        client.get("/inventory")
    assert len(sim.token_calls()) == 1


def test_token_travels_as_query_parameter_not_header(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.accept_bearer_header = False
    make_client().get("/inventory")
    assert "access_token" in sim.data_calls()[0].query


# --- pagination --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [True, False], ids=["headers", "no-headers"])
@pytest.mark.parametrize("count", [0, 3, 500, 501, 1000, 1001])
def test_list_all_reads_every_page(
    sim: LeNewBlackSimulator, make_client: MakeClient, headers: bool, count: int
) -> None:
    sim.pagination_headers = headers
    sim.seed("fabrics", ({"code": f"F{i:05d}", "name": f"Fabric {i}"} for i in range(count)))
    rows = make_client().list_all("/fabrics")
    assert [row["code"] for row in rows] == [f"F{i:05d}" for i in range(count)]
    pages = [r.query["page"] for r in sim.data_calls()]
    # With headers the client stops on Has-More=false; without, a full page means one more request.
    expected = max(1, -(-count // 500)) if headers else count // 500 + 1
    assert pages == [str(p) for p in range(1, expected + 1)]


def test_small_pages_follow_the_settings(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.pagination_headers = False
    sim.page_size = 2
    sim.seed("fabrics", ({"code": f"F{i}", "name": "x"} for i in range(5)))
    pages = list(make_client(page_size=2).iter_pages("/fabrics"))
    assert [len(page) for page in pages] == [2, 2, 1]


# --- batches -----------------------------------------------------------------------------------------------------


def retailer(reference: str, price_list: str = "WHOLESALE-EUR") -> dict[str, Any]:
    return Retailer(
        reference=reference,
        name=f"Boutique {reference}",
        price_list_code=price_list,
        store_address={"reference": reference, "company": f"Boutique {reference}", "country": "FR"},
        buyers=[{"email": f"{reference.lower()}@example.fr", "first_name": "Jeanne"}],
    ).payload()


@pytest.mark.parametrize("item_form", ["status", "success"])
@pytest.mark.parametrize("errors_form", ["map", "string"])
def test_batch_with_mixed_item_results(
    sim: LeNewBlackSimulator, make_client: MakeClient, item_form: Any, errors_form: Any
) -> None:
    sim.batch_item_form = item_form
    sim.item_errors_form = errors_form
    sim.reject_items("retailers", ["C3"], {"sales_rep_email": ["unknown sales rep"]})
    items = [retailer("C1"), retailer("C2", price_list="GROS-USD"), retailer("C3")]
    outcomes = make_client().multi("retailers", items)
    assert [o.accepted for o in outcomes] == [True, False, False]
    assert outcomes[0].result is not None and outcomes[0].result["reference"] == "C1"
    assert outcomes[1].reason == "price_list_code: price list GROS-USD does not exist"
    assert outcomes[2].reason == "sales_rep_email: unknown sales rep"
    assert set(sim.retailers) == {"C1"}
    assert sim.items_sent() == 3


def test_partly_failed_batch_answered_422_is_read_item_by_item(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.batch_failure_status = 422
    outcomes = make_client().multi("inventory/ean", [*stock(1), {"ean13": ean(9), "in_stock": -2}])
    assert [(o.accepted, o.http_status) for o in outcomes] == [(True, 422), (False, 422)]
    assert outcomes[1].reason == "in_stock: must be an integer >= 0"
    assert len(sim.data_calls()) == 1


def test_results_missing_from_the_answer_are_not_counted_as_accepted(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.batch_results_dropped = 1
    outcomes = make_client().multi("inventory/ean", stock(3))
    assert [o.accepted for o in outcomes] == [True, True, False]
    assert "2 result(s) for 3 item(s)" in outcomes[2].reason


def test_a_result_missing_in_the_middle_leaves_its_item_and_the_refused_ones_unaccepted(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.batch_middle_result_dropped = True
    sim.reject_items("inventory/ean", lambda item: item["ean13"] == ean(0), "refused")
    outcomes = make_client().multi("inventory/ean", stock(5))
    # The answer lost item 2's result and holds item 0's error, which can no longer be placed.
    assert [o.accepted for o in outcomes] == [False, True, False, True, True]
    assert [o.attributable for o in outcomes] == [False, True, False, True, True]
    assert ean(2) in sim.inventory_ean  # saved, but unproven: sent again by the next run


def test_reordered_results_are_matched_by_key(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.batch_results_reversed = True
    sim.reject_items("inventory/ean", lambda item: item["ean13"] == ean(1), "refused")
    outcomes = make_client().multi("inventory/ean", stock(4))
    assert [o.accepted for o in outcomes] == [True, False, True, True]
    assert [o.result["ean13"] for o in outcomes if o.result] == [ean(0), ean(2), ean(3)]
    assert not outcomes[1].attributable


def test_successes_that_do_not_echo_their_key_follow_the_setting(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.batch_success_echoes_key = False
    sim.reject_items("inventory/ean", lambda item: item["ean13"] == ean(1), "refused")
    resent = make_client().multi("inventory/ean", stock(3))
    assert [(o.accepted, o.attributable) for o in resent] == [(False, False), (False, True), (False, False)]
    assert "batch_success_without_key" in resent[0].reason
    by_position = make_client(batch_success_without_key="by_position").multi("inventory/ean", stock(3))
    assert [o.accepted for o in by_position] == [True, False, True]
    # Why "resend" is the default: a keyless answer out of order cannot be told from one in order, so
    # "by_position" would take the refused item's place for the saved one's.
    sim.clear_rejections()
    sim.reject_items("inventory/ean", lambda item: item["ean13"] == ean(0), "refused")
    sim.batch_results_reversed = True
    misread = make_client(batch_success_without_key="by_position").multi("inventory/ean", stock(2))
    assert [o.accepted for o in misread] == [True, False]
    assert [o.accepted for o in make_client().multi("inventory/ean", stock(2))] == [False, False]


def test_catalogue_models_are_accepted_as_they_are_dumped(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.auto_create_fabrics = False
    client = make_client()
    fabric = Fabric(code="RED-COT", name="Rouge coton", color_code="RED", material_code="COT")
    product = Product(
        model="M1",
        name="Robe d'été",
        category_name="Robes",
        collection_code="SS26",
        collection_name="Été 2026",
        sizing_name="XS-L",
        sizing_sizes=["XS", "S", "M", "L"],
        variants=[
            Variant(
                fabric_code="RED-COT",
                fabric_name="Rouge coton",
                reference="M1-RED",
                skus=[Sku(size_name=s, ean13=ean(i)) for i, s in enumerate(["XS", "S"])],
            )
        ],
    )
    price = Price(product_model="M1", fabric_code="RED-COT", price_list_code="WHOLESALE-EUR", wholesale_price="39.90")
    refused = client.multi("products", [product.payload()])
    assert refused[0].reason == "variants.0.fabric_code: fabric RED-COT does not exist"
    assert client.multi("fabrics", [fabric.payload()])[0].accepted
    assert client.multi("products", [product.payload()])[0].accepted
    assert client.multi("prices", [price.payload()])[0].accepted
    assert sim.prices["M1|RED-COT|WHOLESALE-EUR"]["wholesale_price"] == 39.9
    assert sim.products["M1"]["variants"][0]["skus"][1]["ean13"] == ean(1)


def test_send_batches_gives_every_item_one_outcome_in_concurrent_batches(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.latency_seconds = 0.2
    items = stock(40)
    results = list(make_client(batch_size=10, concurrency=4).send_batches("inventory/ean", items))
    assert sorted(index for index, _ in results) == list(range(40))
    assert all(outcome.accepted for _, outcome in results)
    assert [r.items for r in sim.data_calls()] == [10, 10, 10, 10]
    assert sim.max_in_flight == 4
    assert {int(row["in_stock"]) for row in sim.inventory_ean.values()} == set(range(40))


def test_a_batch_failing_after_retries_does_not_stop_the_others(
    sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]
) -> None:
    sim.fail_next("/multi/inventory/ean", 503, times=3)
    client = make_client(max_retries=2)
    results = dict(client.send_batches("inventory/ean", stock(5), batch_size=2, concurrency=1))
    assert sorted(results) == [0, 1, 2, 3, 4]
    assert [(results[i].accepted, results[i].http_status) for i in (0, 1)] == [(False, 503), (False, 503)]
    assert "HTTP 503 on POST /multi/inventory/ean" in results[0].reason
    assert all(results[i].accepted for i in (2, 3, 4))
    assert set(sim.inventory_ean) == {ean(2), ean(3), ean(4)}
    assert len(sleeps) == 2
    assert client.calls == 5


def test_over_the_maximum_batch_size_every_item_fails_without_retry(
    sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]
) -> None:
    sim.max_batch_size = 2
    results = list(make_client().send_batches("inventory/ean", stock(3), batch_size=3))
    assert [(o.accepted, o.http_status) for _, o in results] == [(False, 422)] * 3
    assert results[0][1].errors == {"requests": ["at most 2 items"]}
    assert len(sim.data_calls()) == 1
    assert sleeps == []


def test_after_an_auth_failure_remaining_batches_are_not_sent(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    client = make_client(secret="wrong")
    results = list(client.send_batches("inventory/ean", stock(6), batch_size=2, concurrency=1))
    assert len(results) == 6
    assert all(not o.accepted and o.http_status == 401 for _, o in results)
    assert len(sim.token_calls()) == 1
    assert sim.data_calls() == []


# --- retries -----------------------------------------------------------------------------------------------------


def test_429_waits_retry_after(sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]) -> None:
    sim.fail_next("/multi/inventory/ean", 429, times=1, retry_after=7)
    client = make_client()
    outcomes = client.multi("inventory/ean", stock(2))
    assert [o.accepted for o in outcomes] == [True, True]
    assert sleeps == [7.0]
    assert [status for _, status in statuses(sim)] == [200, 429, 200]
    assert client.calls == 2


def test_429_without_retry_after_backs_off_with_full_jitter(
    sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]
) -> None:
    sim.fail_next("/multi/inventory/ean", 429, times=3)
    client = make_client(rand=lambda: 1.0, backoff_base_seconds=0.5, backoff_cap_seconds=1.5)
    assert client.multi("inventory/ean", stock(1))[0].accepted
    assert sleeps == [0.5, 1.0, 1.5]


def test_retry_after_longer_than_the_cap_is_capped(
    sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]
) -> None:
    sim.fail_next("/inventory", 429, retry_after=3600)
    make_client(backoff_cap_seconds=30).get("/inventory")
    assert sleeps == [30.0]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_then_succeed(
    sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float], status: int
) -> None:
    sim.fail_next("/multi/", status, times=2)
    client = make_client(rand=lambda: 0.5)
    assert client.multi("fabrics", [{"code": "RED", "name": "Rouge"}])[0].accepted
    assert sleeps == [0.25, 0.5]
    assert [s for p, s in statuses(sim) if p.startswith("/multi/")] == [status, status, 200]
    assert "RED" in sim.fabrics


def test_500_is_not_retried(sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]) -> None:
    sim.fail_next("/multi/", 500, times=1)
    client = make_client()
    with pytest.raises(LeNewBlackError) as caught:
        client.multi("fabrics", [{"code": "RED", "name": "Rouge"}])
    assert caught.value.http_status == 500
    assert len(sim.data_calls()) == 1
    assert sleeps == []
    assert client.calls == 1


def test_404_is_not_retried(sim: LeNewBlackSimulator, make_client: MakeClient, sleeps: list[float]) -> None:
    client = make_client()
    with pytest.raises(LeNewBlackError, match="HTTP 404") as caught:
        client.get("/orders/NOPE")
    assert caught.value.http_status == 404
    assert len(sim.data_calls()) == 1
    assert sleeps == []


def test_dropped_connection_after_commit_is_retried_without_duplicate(
    sim: LeNewBlackSimulator, make_client: MakeClient
) -> None:
    sim.drop_connection_next("/multi/retailers")
    outcomes = make_client().multi("retailers", [retailer("C1")])
    assert outcomes[0].accepted
    assert len([r for r in sim.data_calls() if r.path == "/multi/retailers"]) == 2
    assert list(sim.retailers) == ["C1"]


def test_transport_failure_message_hides_the_token(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.drop_connection_next("/inventory", times=5)
    with pytest.raises(LeNewBlackError, match="could not be reached") as caught:
        make_client(max_retries=1).get("/inventory")
    assert caught.value.http_status is None
    assert sim.tokens
    assert not any(token in str(caught.value) for token in sim.tokens)


# --- error shapes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["message", "array", "nested", "error_string"])
def test_single_upsert_errors_in_every_shape(sim: LeNewBlackSimulator, make_client: MakeClient, shape: Any) -> None:
    sim.error_shape = shape
    with pytest.raises(LeNewBlackError) as caught:
        make_client().post("/retailers", retailer("C9", price_list="UNKNOWN"))
    assert caught.value.http_status == 422
    assert str(caught.value) == "HTTP 422 on POST /retailers: validation failed"
    assert caught.value.field_errors == {"price_list_code": ["price list UNKNOWN does not exist"]}


# --- files -------------------------------------------------------------------------------------------------------


def test_image_upload_round_trip(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    client = make_client()
    sim.seed(
        "products",
        [
            {
                "model": "M1",
                "name": "Robe",
                "category_name": "Robes",
                "collection_code": "SS26",
                "collection_name": "Été 2026",
                "sizing_name": "U",
                "sizing_sizes": ["U"],
                "variants": [{"fabric_code": "RED", "fabric_name": "Rouge", "reference": "M1-RED"}],
            }
        ],
    )
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    answer = client.upload_product_image("M1", "RED", 2, content, "M1-RED-2.png", "image/png")
    stored = sim.images[("M1", "RED", 2)]
    assert stored.content == content
    assert stored.sha256 == hashlib.sha256(content).hexdigest() == answer["sha256"]
    assert (stored.filename, stored.content_type) == ("M1-RED-2.png", "image/png")
    upload = sim.data_calls()[-1]
    assert "access_token" in upload.query
    assert upload.body == {"model": "M1", "fabric_code": "RED", "image_index": "2"}
    variant = client.get("/products/M1")["variants"][0]
    assert variant["image_2_url"] == answer["url"]
    assert variant["image_1_url"] is None
    client.delete_product_image("M1", "RED", 2)
    assert ("M1", "RED", 2) not in sim.images
    assert client.get("/products/M1")["variants"][0]["image_2_url"] is None


def test_image_on_unknown_variant_is_refused(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    with pytest.raises(LeNewBlackError) as caught:
        make_client().upload_product_image("NOPE", "RED", 1, b"x", "x.jpg", "image/jpeg")
    assert caught.value.http_status == 404


# --- orders ------------------------------------------------------------------------------------------------------


def test_orders_listed_by_status_across_pages_and_moved(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.page_size = 2
    for reference in ("1001", "1002", "1003"):
        sim.add_order({"reference": reference, "retailer_reference": "C1", "items": [{"ean13": ean(1), "quantity": 2}]})
    sim.add_order({"reference": "1004", "status": "confirmed"})
    client = make_client(page_size=2)
    orders = client.list_orders("invoicing")
    assert [o["reference"] for o in orders] == ["1001", "1002", "1003"]
    moved = client.set_order_status("1002", "closed")
    assert moved["status"] == "closed"
    assert sim.orders["1002"]["status"] == "closed"
    assert sim.status_changes == [("1002", "invoicing", "closed")]
    assert [o["reference"] for o in client.list_orders("invoicing")] == ["1001", "1003"]
    assert client.get("/orders/1002")["status"] == "closed"


def test_order_filters_pass_through(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.add_order({"reference": "1", "update_time": "2026-01-01 10:00:00"})
    sim.add_order({"reference": "2", "update_time": "2026-02-01 10:00:00"})
    orders = make_client().list_orders("invoicing", update_time_from="2026-01-15 00:00:00")
    assert [o["reference"] for o in orders] == ["2"]
    assert sim.data_calls()[0].query["update_time_from"] == "2026-01-15 00:00:00"


def test_unknown_order_status_is_a_validation_error(sim: LeNewBlackSimulator, make_client: MakeClient) -> None:
    sim.add_order({"reference": "1"})
    with pytest.raises(LeNewBlackError) as caught:
        make_client().set_order_status("1", "exported-to-erp")
    assert caught.value.http_status == 422
    assert caught.value.field_errors == {"status": ["unknown status exported-to-erp"]}
    assert sim.orders["1"]["status"] == "invoicing"
