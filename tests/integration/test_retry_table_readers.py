"""Every reader of the retry table follows it: change a row in a copy, and the Le New Black transport, its 401
rule, its batch sender and the image upload change with it (against the simulators)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from connector import retry
from connector.errors import LeNewBlackError
from connector.lenewblack.client import LeNewBlackClient
from connector.lenewblack.models import InventoryByEan
from connector.settings import LeNewBlackSettings
from sandbox.credentials import SANDBOX_SECRET
from sandbox.lnb_sim import LeNewBlackSimulator
from sandbox.s3_events import object_event
from sandbox.seed import build_seed
from sandbox.stack import LocalStack
from tests.integration.conftest import NO_WAIT
from tests.integration.lenewblack.test_lnb_client_against_sim import ean
from tests.integration.test_products import export

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[LeNewBlackSimulator]:
    with LeNewBlackSimulator() as simulator:
        yield simulator


def client(sim: LeNewBlackSimulator, sleeps: list[float]) -> LeNewBlackClient:
    settings = LeNewBlackSettings(base_url=sim.url)
    secret = SANDBOX_SECRET["lnb_client_secret"]
    return LeNewBlackClient(settings, SANDBOX_SECRET["lnb_client_id"], secret, sleep=sleeps.append)


def with_row(monkeypatch: pytest.MonkeyPatch, failure: retry.Failure, **changes: Any) -> None:
    key: tuple[retry.Remote, retry.Failure] = ("lenewblack", failure)
    row = retry.rule(*key)
    monkeypatch.setattr(retry, "POLICY", {**retry.POLICY, key: replace(row, **changes)})


def stock(count: int) -> list[dict[str, Any]]:
    return [InventoryByEan(ean13=ean(i), in_stock=i).payload() for i in range(count)]


def test_a_500_the_table_calls_transient_is_sent_again(
    sim: LeNewBlackSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_row(monkeypatch, 500, here="backoff")
    sleeps: list[float] = []
    sim.fail_next("/multi/", 500, times=1)
    outcomes = client(sim, sleeps).multi("fabrics", [{"code": "RED", "name": "Rouge"}])
    assert [outcome.accepted for outcome in outcomes] == [True]
    assert len(sim.data_calls()) == 2
    assert len(sleeps) == 1


def test_a_401_the_table_does_not_refresh_on_fails_at_once(
    sim: LeNewBlackSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_row(monkeypatch, 401, here="no")
    lnb = client(sim, [])
    lnb.get("/inventory")
    sim.expire_tokens()
    with pytest.raises(LeNewBlackError) as caught:
        lnb.get("/inventory")
    assert caught.value.http_status == 401
    assert [r.path for r in sim.requests].count("/auth/token") == 1


@pytest.mark.parametrize("stops", [False, True])
def test_the_batch_sender_stops_only_where_the_table_says(
    sim: LeNewBlackSimulator, monkeypatch: pytest.MonkeyPatch, stops: bool
) -> None:
    with_row(monkeypatch, 503, here="no", stops_batches=stops)
    sim.fail_next("/multi/inventory/ean", 503, times=1)
    results = dict(client(sim, []).send_batches("inventory/ean", stock(5), batch_size=2, concurrency=1))
    assert sorted(results) == [0, 1, 2, 3, 4]
    assert [(results[i].accepted, results[i].http_status) for i in (0, 1)] == [(False, 503)] * 2
    if stops:
        assert len(sim.data_calls()) == 1
        assert all(not results[i].accepted and results[i].http_status == 503 for i in (2, 3, 4))
    else:
        assert len(sim.data_calls()) == 3
        assert all(results[i].accepted for i in (2, 3, 4))


@pytest.fixture
def small() -> Iterator[LocalStack]:
    with LocalStack(build_seed(models=3), settings_document=NO_WAIT) as local:
        export(local, "products")
        export(local, "images")
        yield local


@pytest.mark.parametrize("by_lambda", [True, False])
def test_the_image_upload_leaves_to_lambda_only_what_the_table_says(
    small: LocalStack, monkeypatch: pytest.MonkeyPatch, by_lambda: bool
) -> None:
    with_row(monkeypatch, 429, by_lambda=by_lambda)
    model = next(iter(small.lnb.products))
    code = small.lnb.products[model]["variants"][0]["fabric_code"]
    event = object_event("created", small.names["STAGING_BUCKET"], f"images/{model}/{code}/1.jpg")
    small.lnb.fail_next("/files/products", 429, times=10)
    if by_lambda:
        with pytest.raises(LeNewBlackError, match="429"):
            small.upload(event)
    else:
        answer = small.upload(event)
        assert (answer["event"], answer["http_status"]) == ("record.rejected", 429)
