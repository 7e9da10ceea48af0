"""Prices flow through ExportPricesFunction's real handler, against the simulators and moto."""

from __future__ import annotations

from typing import Any

import pytest

from connector.flows.catalogue import fabric_code
from connector.flows.prices import unknown_price_list, unmapped_tariff
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.test_products import catalogue, export

LISTS = {"GROS": "WHOLESALE-EUR", "PVC": "RETAIL-EUR"}


@pytest.fixture
def catalogued(stack: LocalStack) -> LocalStack:
    """LNB refuses a price for a variant it does not hold: the catalogue goes first, as in real use."""
    export(stack, "products")
    stack.lnb.clear_requests()
    return stack


def expected_prices(stack: LocalStack, lists: dict[str, str] = LISTS) -> dict[str, dict[str, Any]]:
    """Independent of the flow: seed prices per LNB key (variant, or variant and size where sizes differ)."""
    expected: dict[str, dict[str, Any]] = {}
    for reference, (sheet, by_colour) in catalogue(stack.seed).items():
        for colour, variants in by_colour.items():
            code = fabric_code(colour, sheet.matiere)
            for tariff, price_list in lists.items():
                prices = {v.taille: stack.seed.price(reference, colour, v.taille, tariff) for v in variants}
                retail = {v.taille: stack.seed.price(reference, colour, v.taille, "PVC") for v in variants}
                key = f"{reference}|{code}|{price_list}"
                first = variants[0].taille
                if len(set(prices.values())) == 1:
                    if prices[first]:
                        expected[key] = {"wholesale_price": prices[first], "recommended_retail_price": retail[first]}
                    continue
                for size, value in prices.items():
                    if value:
                        expected[f"{key}|{size}"] = {"wholesale_price": value, "recommended_retail_price": retail[size]}
    return expected


def held_prices(stack: LocalStack) -> dict[str, dict[str, Any]]:
    fields = ("wholesale_price", "recommended_retail_price")
    return {
        key: {name: row.get(name) for name in fields}
        for store in (stack.lnb.prices, stack.lnb.prices_by_size)
        for key, row in store.items()
    }


def test_prices_land_in_their_price_lists_and_zero_prices_are_skipped(
    catalogued: LocalStack, task_log: TaskLog
) -> None:
    stack = catalogued
    result = export(stack, "prices")
    expected = expected_prices(stack)
    assert held_prices(stack) == expected
    assert stack.lnb.prices_by_size, "the seed has size-specific prices"
    assert {row["price_list_code"] for row in stack.lnb.prices.values()} == set(LISTS.values())

    ((zero_model, tariff),) = stack.seed.anomalies.zero_price
    assert tariff == "GROS"
    wholesale = [k for k in held_prices(stack) if k.startswith(f"{zero_model}|") and "|WHOLESALE-EUR" in k]
    retail = [k for k in held_prices(stack) if k.startswith(f"{zero_model}|") and "|RETAIL-EUR" in k]
    assert wholesale == [] and retail
    reasons = [line["reason"] for line in task_log.events("record.skipped") if f"|{zero_model}|" in line["key"]]
    assert reasons and all(reason.startswith("zero price in tariff GROS") for reason in reasons)
    assert result["counters"]["accepted"] == len(expected)


def test_unchanged_prices_make_no_call_and_one_change_resends_only_its_variants(catalogued: LocalStack) -> None:
    stack = catalogued
    export(stack, "prices")
    stack.lnb.clear_requests()
    again = export(stack, "prices")
    assert stack.lnb.data_calls() == []
    assert again["counters"]["sent"] == 0

    # A model whose wholesale price is one row for all its variants: the change is one item per colour.
    special = {r.barcode for r in stack.seed.prices if r.tarif == "GROS" and (r.couleur or r.taille or not r.prix)}
    reference, (_, by_colour) = next((r, c) for r, c in catalogue(stack.seed).items() if r not in special)
    stack.fastmag.execute("UPDATE tarifs SET prix = prix + 1 WHERE barcode = ? AND tarif = 'GROS'", (reference,))
    stack.lnb.clear_requests()
    changed = export(stack, "prices")
    assert [(r.path, r.items) for r in stack.lnb.data_calls()] == [("/multi/prices", len(by_colour))]
    assert changed["counters"]["accepted"] == len(by_colour)
    before = stack.seed.price(reference, "", "", "GROS") or 0
    new = {
        row["wholesale_price"]
        for row in stack.lnb.prices.values()
        if row["product_model"] == reference and row["price_list_code"] == "WHOLESALE-EUR"
    }
    assert new == {before + 1}


def test_an_unknown_price_list_is_reported_once_and_the_other_lists_lose_nothing(
    catalogued: LocalStack, task_log: TaskLog
) -> None:
    stack = catalogued
    stack.configure({"tariff_price_lists": {**LISTS, "SOLDES": "SALE-EUR"}})
    result = export(stack, "prices")
    assert result["status"] == "partial"
    message = unknown_price_list("SALE-EUR")
    assert message == "price list SALE-EUR does not exist in Le New Black: your account manager must create it first"
    assert [reason for reason in result["errors"] if "does not exist" in reason] == [message]
    assert result["counters"]["rejected"] == result["errors"][message]
    (line,) = task_log.events("price_list.unknown")
    assert (line["key"], line["reason"], line["level"]) == ("SALE-EUR", message, "ERROR")
    assert held_prices(stack) == expected_prices(stack)


def test_a_tariff_mapped_to_no_price_list_is_reported_once(catalogued: LocalStack, task_log: TaskLog) -> None:
    stack = catalogued
    stack.configure({"tariff_price_lists": {"PVC": "RETAIL-EUR"}})  # the wholesale tariff GROS lost its list
    result = export(stack, "prices")
    assert result["status"] == "partial"
    message = unmapped_tariff("GROS")
    assert message.startswith("tariff GROS is not mapped to a Le New Black price list")
    assert message in result["errors"]
    (line,) = task_log.events("price_list.unmapped")
    assert (line["key"], line["reason"], line["level"]) == ("GROS", message, "ERROR")
    assert held_prices(stack) == expected_prices(stack, {"PVC": "RETAIL-EUR"})


def test_without_prices_by_size_every_variant_gets_one_price(catalogued: LocalStack) -> None:
    stack = catalogued
    stack.configure({"prices": {"by_size": False}})
    export(stack, "prices")
    assert stack.lnb.prices_by_size == {}
    assert all(r.path == "/multi/prices" for r in stack.lnb.data_calls())
    expected = expected_prices(stack)
    variants = {key.rsplit("|", 1)[0] if key.count("|") == 3 else key for key in expected}
    assert set(stack.lnb.prices) == variants


def test_preview_writes_the_price_payloads_and_sends_nothing(catalogued: LocalStack) -> None:
    stack = catalogued
    result = export(stack, "prices", preview=True)
    assert stack.lnb.data_calls() == []
    assert stack.lnb.prices == {} and stack.lnb.prices_by_size == {}
    lines = stack.preview_lines(result["run_id"])
    payloads = [line for line in lines if line.get("resource") in {"prices", "prices_by_size"}]
    assert len(payloads) == len(expected_prices(stack))
    first = next(line for line in payloads if line["resource"] == "prices")
    assert set(first["payload"]) >= {"product_model", "fabric_code", "price_list_code", "wholesale_price"}
    assert first["payload"]["wholesale_price"] > 0


def test_a_full_export_resends_every_price_but_logs_only_the_changed_ones(
    catalogued: LocalStack, task_log: TaskLog
) -> None:
    stack = catalogued
    first = export(stack, "prices")
    special = {r.barcode for r in stack.seed.prices if r.tarif == "GROS" and (r.couleur or r.taille or not r.prix)}
    reference, (_, by_colour) = next((r, c) for r, c in catalogue(stack.seed).items() if r not in special)
    stack.fastmag.execute("UPDATE tarifs SET prix = prix + 1 WHERE barcode = ? AND tarif = 'GROS'", (reference,))
    task_log.stream.seek(0)
    task_log.stream.truncate()
    stack.lnb.clear_requests()
    again = export(stack, "prices", full=True)

    assert again["counters"]["accepted"] == first["counters"]["accepted"]
    assert stack.lnb.items_sent() == first["counters"]["accepted"]
    sent = [line["key"] for line in task_log.events("record.sent")]
    assert len(sent) == len(by_colour) and all(f"|{reference}|" in key for key in sent)
    summaries = task_log.events("records.resent_unchanged")
    assert sum(line["count"] for line in summaries) == first["counters"]["accepted"] - len(by_colour)
