"""Customers flow through ExportCustomersFunction's real handler, against the simulators and moto."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from sandbox.seed import COUNTRIES, Customer, DeliveryAddress, Seed
from sandbox.stack import LocalStack
from tests.conftest import TaskLog

_runs = itertools.count(1)
# The seed's own spelling table, so the expected countries do not come from the code under test.
ISO = {spelling: iso for iso, spellings, _ in COUNTRIES for spelling in spellings}

# Customers broken on purpose, added to this stack's Fastmag only: (id, column, value, reason's start).
BROKEN = (
    (3001, "email", "pas-un-email", "the customer's email is not a valid email address"),
    (3002, "Pays", "Atlantide", "unknown country 'Atlantide' on the customer's main address"),
    (3003, "TarifVente", "VIP", "tariff 'VIP' maps to no price list"),
)


def export(stack: LocalStack, **fields: Any) -> dict[str, Any]:
    """One press of the export button (a fresh run id each time, as the API gives)."""
    event = stack.event("export_customers", run_id=f"customers-test-{next(_runs)}", **fields)
    result: dict[str, Any] = stack.invoke("export_customers", event)
    return result


def add_broken_customers(stack: LocalStack) -> None:
    template = stack.seed.retailers()[0]
    for client, column, value, _ in BROKEN:
        row = template._replace(Client=client, email=f"broken.{client}@boutique.example", Societe=f"Boutique {client}")
        row = row._replace(**{column: value})
        stack.fastmag.execute(f"INSERT INTO clients VALUES ({', '.join('?' * len(row))})", tuple(row))


def expected_retailer(seed: Seed, customer: Customer) -> dict[str, Any]:
    """What LNB should hold for a seed customer, written from the seed's columns."""
    iso = ISO[customer.Pays]
    main = {
        "company": customer.Societe,
        "country": iso,
        "contact_name": f"{customer.Prenom} {customer.Nom}",
        "contact_email": customer.email,
        "tel": customer.Telephone,
        "address_1": customer.Adresse1,
        "address_2": customer.Adresse2 or None,
        "zipcode": customer.codepostal,
        "city": customer.Ville,
        "vat_number": customer.TVAIntra,
    }
    own: list[DeliveryAddress] = [a for a in seed.addresses if a.Client == customer.Client]
    own.sort(key=lambda a: (a.AdrLivraison != "PRINCIPALE", a.AdrLivraison))
    delivery = [
        {
            "reference": a.AdrLivraison,
            "company": a.Societe,
            "country": ISO[a.Pays],
            "contact_name": a.Nom,
            "address_1": a.Adresse1,
            "address_2": a.Adresse2 or None,
            "zipcode": a.codepostal,
            "city": a.Ville,
        }
        for a in own
    ]
    return _without_none(
        {
            "reference": str(customer.Client),
            "name": customer.Societe,
            "company": customer.Societe,
            "price_list_code": "WHOLESALE-EUR",
            "store_address": {"reference": "PRINCIPALE", **main},
            "billing_address": {"reference": "FACTURATION", **main},
            "delivery_addresses": delivery,
            "buyers": [{"email": customer.email, "first_name": customer.Prenom, "last_name": customer.Nom}],
        }
    )


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def held(stack: LocalStack, reference: str) -> dict[str, Any]:
    """LNB's copy of a retailer without the timestamps LNB adds."""
    return {k: v for k, v in stack.lnb.retailers[reference].items() if k not in {"create_time", "update_time"}}


def test_the_40_seed_retailers_arrive_with_buyers_and_addresses(stack: LocalStack) -> None:
    retailers = stack.seed.retailers()
    assert len(retailers) == 40
    result = export(stack)
    assert result["status"] == "succeeded"
    assert result["counters"]["accepted"] == 40
    assert set(stack.lnb.retailers) == {str(c.Client) for c in retailers}  # web shoppers are left out
    for customer in retailers:
        sent = stack.lnb.retailers[str(customer.Client)]
        assert [b["email"] for b in sent["buyers"]] == [customer.email]
        names = {a.AdrLivraison for a in stack.seed.addresses if a.Client == customer.Client}
        assert {a["reference"] for a in sent["delivery_addresses"]} == names
        assert sent["store_address"]["country"] == ISO[customer.Pays]

    # Three compared field by field: the most delivery addresses, a non-French one, and the first.
    by_addresses = max(retailers, key=lambda c: sum(a.Client == c.Client for a in stack.seed.addresses))
    abroad = next(c for c in retailers if ISO[c.Pays] != "FR")
    for customer in {by_addresses, abroad, retailers[0]}:
        assert held(stack, str(customer.Client)) == expected_retailer(stack.seed, customer)


def test_broken_customers_are_skipped_each_with_its_own_reason(stack: LocalStack, task_log: TaskLog) -> None:
    add_broken_customers(stack)
    result = export(stack)
    assert result["status"] == "partial"
    assert result["counters"]["skipped"] == 3
    assert result["counters"]["accepted"] == 40
    assert len(stack.lnb.retailers) == 40
    assert stack.lnb.items_sent("/multi/retailers") == 40  # never sent half-filled
    skipped = {line["key"]: line["reason"] for line in task_log.events("record.skipped")}
    record = stack.run_record(result["run_id"])
    for client, _, _, reason in BROKEN:
        assert str(client) not in stack.lnb.retailers
        assert skipped[str(client)].startswith(reason)
        assert any(error.startswith(reason) for error in record["errors"])
    assert len(record["errors"]) == 3


def test_a_re_export_without_change_makes_no_call_and_a_buyer_rename_resends_only_that(stack: LocalStack) -> None:
    export(stack)
    stack.lnb.clear_requests()
    again = export(stack)
    assert stack.lnb.data_calls() == []
    assert again["counters"]["unchanged"] == 40
    assert again["counters"]["sent"] == 0

    renamed = stack.seed.retailers()[4]
    stack.fastmag.execute("UPDATE clients SET Prenom = ? WHERE Client = ?", ("Zélie", renamed.Client))
    stack.lnb.clear_requests()
    third = export(stack)
    (call,) = stack.lnb.data_calls()
    assert [item["reference"] for item in call.body["requests"]] == [str(renamed.Client)]
    assert third["counters"]["accepted"] == 1
    assert stack.lnb.retailers[str(renamed.Client)]["buyers"][0]["first_name"] == "Zélie"

    stack.lnb.clear_requests()
    full = export(stack, full=True)
    assert stack.lnb.items_sent("/multi/retailers") == 40
    assert full["counters"]["accepted"] == 40


def test_lnb_rejecting_one_retailer_records_why_and_the_others_go_through(stack: LocalStack, task_log: TaskLog) -> None:
    refused = stack.seed.retailers()[7]
    reference = str(refused.Client)
    stack.lnb.reject_items("retailers", [reference], {"price_list_code": ["price list WHOLESALE-EUR is closed"]})
    result = export(stack)
    assert result["status"] == "partial"
    assert result["counters"]["rejected"] == 1
    assert result["counters"]["accepted"] == 39
    assert reference not in stack.lnb.retailers
    assert len(stack.lnb.retailers) == 39
    (line,) = task_log.events("record.rejected")
    assert line["key"] == reference
    assert line["reason"] == "price_list_code: price list WHOLESALE-EUR is closed"
    assert list(stack.run_record(result["run_id"])["errors"]) == [line["reason"]]

    stack.lnb.clear_rejections()
    stack.lnb.clear_requests()
    export(stack)
    assert stack.lnb.items_sent("/multi/retailers") == 1
    assert reference in stack.lnb.retailers


def test_a_customer_without_email_is_a_retailer_without_buyers_unless_a_buyer_is_required(
    stack: LocalStack, task_log: TaskLog
) -> None:
    template = stack.seed.retailers()[0]
    row = template._replace(Client=3101, email="", Societe="Boutique sans courriel")
    stack.fastmag.execute(f"INSERT INTO clients VALUES ({', '.join('?' * len(row))})", tuple(row))
    stack.configure({"customers": {"require_buyer": True}})
    strict = export(stack)
    assert "3101" not in stack.lnb.retailers
    (skip,) = task_log.events("record.skipped")
    assert (skip["key"], skip["reason"]) == (
        "3101",
        "no buyer email: the customer has no email address (customers.require_buyer)",
    )
    assert strict["counters"]["accepted"] == 40

    stack.configure({"customers": {"require_buyer": False}})
    lenient = export(stack)
    assert lenient["counters"]["accepted"] == 1
    sent = held(stack, "3101")
    assert "buyers" not in sent
    assert sent["name"] == "Boutique sans courriel"
    (warning,) = task_log.events("record.warning")
    assert (warning["key"], warning["level"]) == ("3101", "WARNING")
    assert warning["reason"] == "no buyer email: the customer has no email address; sent without buyers"


def test_a_retailer_refused_only_for_a_buyer_arrives_without_it_and_the_buyer_is_tried_when_it_changes(
    stack: LocalStack, task_log: TaskLog
) -> None:
    stack.fastmag.execute("CREATE TABLE contacts (Client INTEGER, email TEXT, Prenom TEXT, Nom TEXT)")
    first = stack.seed.retailers()[0]
    reference = str(first.Client)
    stack.fastmag.execute(
        "INSERT INTO contacts VALUES (?, ?, ?, ?)", (first.Client, "acheteuse@boutique.example", "Inès", "Roux")
    )
    stack.configure(
        {
            "fastmag": {
                "queries": {
                    "extra_buyers": "SELECT k.Client AS customer_id, k.email AS email, k.Prenom AS first_name, "
                    "k.Nom AS last_name FROM contacts k"
                }
            }
        }
    )
    stack.lnb.buyer_emails_taken = {"acheteuse@boutique.example"}
    result = export(stack)
    assert result["status"] == "partial"
    assert (result["counters"]["accepted"], result["counters"]["rejected"]) == (40, 0)
    assert stack.lnb.retailers[reference]["buyers"] == [
        {"email": first.email, "first_name": first.Prenom, "last_name": first.Nom}
    ]
    (report,) = task_log.events("buyer.refused")
    assert (report["key"], report["buyer"], report["level"]) == (reference, "a***@boutique.example", "WARNING")
    assert report["reason"] == (
        "buyer refused by Le New Black, retailer sent without it: "
        "buyers.1.email: a***@boutique.example already belongs to another retailer"
    )
    assert "acheteuse@boutique.example" not in task_log.text()
    assert list(stack.run_record(result["run_id"])["errors"]) == [
        "buyer refused by Le New Black: buyers.email: a***@boutique.example already belongs to another retailer"
    ]

    stack.lnb.clear_requests()
    again = export(stack)
    assert stack.lnb.data_calls() == []
    assert (again["status"], again["counters"]["unchanged"]) == ("succeeded", 40)

    stack.lnb.buyer_emails_taken = set()
    stack.fastmag.execute("UPDATE contacts SET Prenom = 'Inès-Marie'")
    stack.lnb.clear_requests()
    changed = export(stack)
    (call,) = stack.lnb.data_calls()
    assert [item["reference"] for item in call.body["requests"]] == [reference]
    assert changed["counters"]["accepted"] == 1
    assert [buyer["email"] for buyer in stack.lnb.retailers[reference]["buyers"]] == [
        first.email,
        "acheteuse@boutique.example",
    ]


def test_preview_stores_the_payloads_and_the_skips_and_sends_nothing(stack: LocalStack) -> None:
    add_broken_customers(stack)
    result = export(stack, preview=True)
    assert stack.lnb.data_calls() == []
    assert stack.lnb.retailers == {}
    lines = stack.preview_lines(result["run_id"])
    assert lines[0]["summary"]["new"] == 40
    assert lines[0]["summary"]["skipped"] == 3
    assert {line["key"] for line in lines if line.get("change") == "skipped"} == {str(c) for c, *_ in BROKEN}
    sample = next(line for line in lines if line.get("change") == "new")
    assert sample["resource"] == "retailers"
    assert sample["payload"]["buyers"][0]["email"].count("***@") == 1


def test_no_email_address_appears_unmasked_in_any_log_line(stack: LocalStack, task_log: TaskLog) -> None:
    add_broken_customers(stack)
    refused = stack.seed.retailers()[2]
    stack.lnb.reject_items("retailers", [str(refused.Client)], {"buyers.0.email": [f"{refused.email} is taken"]})
    export(stack)
    preview = export(stack, preview=True, full=True)
    emails = [c.email for c in stack.seed.customers if c.email]
    emails += [f"broken.{client}@boutique.example" for client, *_ in BROKEN]
    assert task_log.events("record.sent")  # the scan reads a real run's lines, rejection and skips included
    assert task_log.events("record.rejected")
    assert task_log.events("record.skipped")
    logged = task_log.text().lower()
    assert [email for email in emails if email.lower() in logged] == []
    stored = json.dumps(stack.preview_lines(preview["run_id"]), ensure_ascii=False).lower()
    assert [email for email in emails if email.lower() in stored] == []


def test_extra_contacts_become_buyers_when_the_settings_name_their_source(stack: LocalStack) -> None:
    stack.fastmag.execute("CREATE TABLE contacts (Client INTEGER, email TEXT, Prenom TEXT, Nom TEXT)")
    first = stack.seed.retailers()[0]
    stack.fastmag.execute(
        "INSERT INTO contacts VALUES (?, ?, ?, ?)", (first.Client, "acheteuse@boutique.example", "Inès", "Roux")
    )
    stack.configure(
        {
            "fastmag": {
                "queries": {
                    "extra_buyers": "SELECT k.Client AS customer_id, k.email AS email, k.Prenom AS first_name, "
                    "k.Nom AS last_name FROM contacts k"
                }
            }
        }
    )
    export(stack)
    buyers = stack.lnb.retailers[str(first.Client)]["buyers"]
    assert buyers == [
        {"email": first.email, "first_name": first.Prenom, "last_name": first.Nom},
        {"email": "acheteuse@boutique.example", "first_name": "Inès", "last_name": "Roux"},
    ]


@pytest.mark.parametrize("families", [["REVENDEUR"], ["AUTRE"]])
def test_the_family_setting_selects_the_b2b_accounts(stack: LocalStack, families: list[str]) -> None:
    moved = stack.seed.retailers()[3]
    stack.fastmag.execute("UPDATE clients SET Famille = 'AUTRE' WHERE Client = ?", (moved.Client,))
    stack.configure({"customers": {"families": families}})
    result = export(stack)
    expected = {str(c.Client) for c in stack.seed.retailers()}
    expected = expected - {str(moved.Client)} if families == ["REVENDEUR"] else {str(moved.Client)}
    assert set(stack.lnb.retailers) == expected
    assert result["counters"]["read"] == len(expected)
    assert result["counters"]["skipped"] == 0
