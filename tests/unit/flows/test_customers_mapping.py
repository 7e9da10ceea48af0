from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import countries
from connector.countries import KNOWN_CODES, iso_country
from connector.errors import SettingsError
from connector.flows.customers import Retailers, is_valid_email, map_retailers, refused_buyers, retailer_from
from connector.lenewblack.models import ItemOutcome, Retailer
from connector.settings import Settings, parse_settings


def reasons(result: Retailers) -> dict[str, str]:
    """The customers skipped, by key, with their reason."""
    return {skip.key: skip.reason for skip in result.skipped}


def customer(**changes: str) -> dict[str, str]:
    row = {
        "customer_id": "2001",
        "company": "Maison Héloïse",
        "last_name": "Benoît",
        "first_name": "Maëlle",
        "email": "maelle.benoit@maison-heloise.example",
        "gender": "F",
        "phone": "04 29 43 18 93",
        "address_1": "94 place Bellecour",
        "address_2": "",
        "zipcode": "5000",
        "city": "Namur",
        "country": "Belgique",
        "tariff": "GROS",
        "vat_number": "BE0990814655",
        "family": "REVENDEUR",
        "modified_at": "2025-01-06 10:00:00",
    }
    return {**row, **changes}


def address(name: str, **changes: str) -> dict[str, str]:
    row = {
        "customer_id": "2001",
        "name": name,
        "company": "Maison Héloïse",
        "contact_name": "Maëlle Benoît",
        "address_1": "24 chaussée d'Ixelles",
        "address_2": "Cour intérieure",
        "zipcode": "4000",
        "city": "Liège",
        "country": "BE",
    }
    return {**row, **changes}


def buyer(email: str, first: str = "Noël", last: str = "Mercier") -> dict[str, str]:
    return {"customer_id": "2001", "email": email, "first_name": first, "last_name": last}


def mapped(
    row: dict[str, str],
    addresses: list[dict[str, str]] | None = None,
    extra: list[dict[str, str]] | None = None,
    config: Settings | None = None,
) -> Retailer:
    result = retailer_from(row, addresses or [], extra or [], config or Settings())
    assert isinstance(result, Retailer), result
    return result


def problems(
    row: dict[str, str],
    addresses: list[dict[str, str]] | None = None,
    extra: list[dict[str, str]] | None = None,
    config: Settings | None = None,
) -> list[str]:
    result = retailer_from(row, addresses or [], extra or [], config or Settings())
    assert isinstance(result, list), result
    return result


# --- countries -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("FRANCE", "FR"),
        ("France", "FR"),
        ("fr", "FR"),
        (" FRA ", "FR"),
        ("Belgique", "BE"),
        ("BELGIUM", "BE"),
        ("BE", "BE"),
        ("Suisse", "CH"),
        ("Deutschland", "DE"),
        ("Allemagne", "DE"),
        ("España", "ES"),
        ("ESPAGNE", "ES"),
        ("espana", "ES"),
        ("Italie", "IT"),
        ("Pays-Bas", "NL"),
        ("pays bas", "NL"),
        ("Royaume-Uni", "GB"),
        ("UK", "GB"),
        ("Norvège", "NO"),
        ("NORVEGE", "NO"),
        ("États-Unis", "US"),
        ("Etats Unis", "US"),
        ("Canada", "CA"),
        ("Japon", "JP"),
        ("Österreich", "AT"),
        ("République Tchèque", "CZ"),
    ],
)
def test_country_spellings_become_iso2(spelling: str, code: str) -> None:
    assert iso_country(spelling) == code


@pytest.mark.parametrize("spelling", ["", "  ", "Atlantide", "ZZ", "EU", "Europe", "-"])
def test_unknown_countries_are_not_guessed(spelling: str) -> None:
    assert iso_country(spelling) is None


def test_the_country_table_covers_the_eu_and_the_usual_others_without_ambiguity() -> None:
    eu = [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
    assert set(eu) | {"GB", "CH", "NO", "US", "CA", "JP"} <= KNOWN_CODES
    seen: dict[str, str] = {}
    for code, spellings in countries._NAMES.items():
        for spelling in (code, *spellings):
            folded = countries._fold(spelling)
            assert seen.setdefault(folded, code) == code, f"{spelling!r} is both {seen[folded]} and {code}"


def test_default_country_setting_is_normalised_and_checked() -> None:
    assert parse_settings({"customers": {"default_country": "France"}}).customers.default_country == "FR"
    with pytest.raises(SettingsError, match=r"customers\.default_country"):
        parse_settings({"customers": {"default_country": "Atlantide"}})


# --- one customer ----------------------------------------------------------------------------------------------


def test_a_customer_maps_field_by_field() -> None:
    retailer = mapped(customer(), [address("PRINCIPALE"), address("SHOWROOM", country="France")])
    assert retailer.payload() == {
        "reference": "2001",
        "name": "Maison Héloïse",
        "company": "Maison Héloïse",
        "price_list_code": "WHOLESALE-EUR",
        "store_address": {
            "reference": "PRINCIPALE",
            "company": "Maison Héloïse",
            "country": "BE",
            "contact_name": "Maëlle Benoît",
            "contact_email": "maelle.benoit@maison-heloise.example",
            "tel": "04 29 43 18 93",
            "address_1": "94 place Bellecour",
            "zipcode": "5000",
            "city": "Namur",
            "vat_number": "BE0990814655",
        },
        "billing_address": {
            "reference": "FACTURATION",
            "company": "Maison Héloïse",
            "country": "BE",
            "contact_name": "Maëlle Benoît",
            "contact_email": "maelle.benoit@maison-heloise.example",
            "tel": "04 29 43 18 93",
            "address_1": "94 place Bellecour",
            "zipcode": "5000",
            "city": "Namur",
            "vat_number": "BE0990814655",
        },
        "delivery_addresses": [
            {
                "reference": name,
                "company": "Maison Héloïse",
                "country": country,
                "contact_name": "Maëlle Benoît",
                "address_1": "24 chaussée d'Ixelles",
                "address_2": "Cour intérieure",
                "zipcode": "4000",
                "city": "Liège",
            }
            for name, country in (("PRINCIPALE", "BE"), ("SHOWROOM", "FR"))
        ],
        "buyers": [{"email": "maelle.benoit@maison-heloise.example", "first_name": "Maëlle", "last_name": "Benoît"}],
    }


def test_delivery_addresses_come_main_first_then_by_name_whatever_the_query_order() -> None:
    retailer = mapped(customer(), [address("SHOWROOM"), address("PRINCIPALE"), address("DÉPÔT SUD")])
    assert [a.reference for a in retailer.delivery_addresses or []] == ["PRINCIPALE", "DÉPÔT SUD", "SHOWROOM"]


def test_without_a_delivery_address_goods_go_to_the_main_address() -> None:
    retailer = mapped(customer())
    assert retailer.delivery_addresses == [retailer.store_address]


def test_a_delivery_address_without_company_takes_the_customers() -> None:
    retailer = mapped(customer(), [address("SHOWROOM", company="")])
    assert (retailer.delivery_addresses or [])[0].company == "Maison Héloïse"


def test_extra_buyers_follow_the_contact_once_per_email() -> None:
    extra = [
        buyer("noel.mercier@maison-heloise.example"),
        buyer("MAELLE.BENOIT@maison-heloise.example", "Autre", "Nom"),
        buyer("noel.mercier@maison-heloise.example", "Doublon", "Doublon"),
    ]
    retailer = mapped(customer(), extra=extra)
    assert [(b.email, b.first_name, b.last_name) for b in retailer.buyers or []] == [
        ("maelle.benoit@maison-heloise.example", "Maëlle", "Benoît"),
        ("noel.mercier@maison-heloise.example", "Noël", "Mercier"),
    ]


def test_defaults_fill_an_empty_country_and_tariff() -> None:
    config = parse_settings({"customers": {"default_country": "FR", "default_tariff": "PVC"}})
    retailer = mapped(customer(country="", tariff=""), [address("SHOWROOM", country="")], config=config)
    assert retailer.store_address.country == "FR"
    assert (retailer.delivery_addresses or [])[0].country == "FR"
    assert retailer.price_list_code == "RETAIL-EUR"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"email": "maelle.benoit@maison-heloise"}, "the customer's email is not a valid email address"),
        ({"email": "maelle benoit@example.fr"}, "the customer's email is not a valid email address"),
        ({"country": "Atlantide"}, "unknown country 'Atlantide' on the customer's main address"),
        ({"country": ""}, "no country on the customer's main address"),
        ({"tariff": "VIP"}, "tariff 'VIP' maps to no price list: add it to tariff_price_lists"),
        ({"tariff": ""}, "no tariff on the customer (and no customers.default_tariff)"),
        ({"company": " "}, "no company name on the customer"),
    ],
)
def test_a_failing_customer_gives_its_exact_reason(changes: dict[str, str], reason: str) -> None:
    (found,) = problems(customer(**changes))
    assert found.startswith(reason)


def test_every_problem_of_a_customer_is_reported_at_once() -> None:
    found = problems(
        customer(email="", tariff="VIP"),
        [address("SHOWROOM", country="Mars"), address("SHOWROOM"), address("")],
        [buyer("pas-un-email")],
    )
    assert found == [
        "tariff 'VIP' maps to no price list: add it to tariff_price_lists (the price list must exist in Le New Black)",
        "unknown country 'Mars' on the delivery address 'SHOWROOM': use an ISO-2 code or a known country name",
        "a delivery address has no name",
        "extra buyer 1's email is not a valid email address",
    ]


def test_a_customer_without_email_is_a_retailer_without_buyers_with_a_warning() -> None:
    result = map_retailers([customer(email="")], [], [], Settings())
    payload = result.items["2001"].payload()
    assert "buyers" not in payload
    assert "contact_email" not in payload["store_address"]
    assert result.warnings == {"2001": "no buyer email: the customer has no email address; sent without buyers"}
    assert reasons(result) == {}


def test_a_customer_without_email_keeps_its_extra_buyers_and_needs_no_warning() -> None:
    result = map_retailers([customer(email="")], [], [buyer("noel.mercier@maison-heloise.example")], Settings())
    assert [b.email for b in result.items["2001"].buyers or []] == ["noel.mercier@maison-heloise.example"]
    assert result.warnings == {}


def test_require_buyer_skips_a_customer_without_email_with_its_reason() -> None:
    config = parse_settings({"customers": {"require_buyer": True}})
    result = map_retailers([customer(email="")], [], [], config)
    assert result.items == {}
    assert result.warnings == {}
    assert reasons(result) == {"2001": "no buyer email: the customer has no email address (customers.require_buyer)"}


def outcome(errors: dict[str, list[str]]) -> ItemOutcome:
    return ItemOutcome(index=0, accepted=False, errors=errors, http_status=200)


@pytest.mark.parametrize(
    ("errors", "refused"),
    [
        ({"buyers.1.email": ["x@y.fr is taken"]}, {1: "buyers.1.email: x@y.fr is taken"}),
        ({"buyers[0].email": ["taken"], "buyers.2": ["bad"]}, {0: "buyers[0].email: taken", 2: "buyers.2: bad"}),
        ({"buyers": ["too many"]}, {0: "buyers: too many", 1: "buyers: too many", 2: "buyers: too many"}),
        ({"buyers.0.email": ["taken"], "price_list_code": ["unknown"]}, None),  # not only buyers: whole refusal
        ({"buyersfoo": ["?"]}, None),
        ({"buyers.email": ["?"]}, {0: "buyers.email: ?", 1: "buyers.email: ?", 2: "buyers.email: ?"}),
        ({"buyers.7.email": ["no such buyer"]}, None),  # a position the payload does not have
        ({"": ["buyers.0.email: taken"]}, None),  # a bare message: which field is not known for sure
        ({}, None),
    ],
)
def test_a_refusal_is_about_buyers_only_when_every_field_error_names_one(
    errors: dict[str, list[str]], refused: dict[int, str] | None
) -> None:
    assert refused_buyers(outcome(errors), 3) == refused


def test_two_delivery_addresses_with_one_name_are_not_guessed_between() -> None:
    assert problems(customer(), [address("SHOWROOM"), address("SHOWROOM", city="Paris")]) == [
        "two delivery addresses are named 'SHOWROOM'"
    ]


def test_reasons_never_carry_the_email_address() -> None:
    for reason in problems(customer(email="maelle@maison"), extra=[buyer("noel@x")]):
        assert "maelle" not in reason
        assert "noel" not in reason


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("a.b@c-d.example", True),
        ("a+tag@shop.co.uk", True),
        ("a@b", False),
        ("a@b.", False),
        ("a@-b.fr", False),
        ("a b@c.fr", False),
        ("a@b@c.fr", False),
        ("a@b,fr", False),
        ("a@b.fr\n", False),
    ],
)
def test_email_syntax(email: str, valid: bool) -> None:
    assert is_valid_email(email) is valid


# --- many customers --------------------------------------------------------------------------------------------


def test_addresses_and_buyers_go_to_their_own_customer() -> None:
    other = customer(customer_id="2002", company="Chez Zoé", email="zoe@chez-zoe.example", country="FR")
    result = map_retailers(
        [customer(), other],
        [address("PRINCIPALE"), address("QUAI", customer_id="2002")],
        [buyer("extra@chez-zoe.example") | {"customer_id": "2002"}],
        Settings(),
    )
    assert reasons(result) == {}
    assert [a.reference for a in result.items["2002"].delivery_addresses or []] == ["QUAI"]
    assert [b.email for b in result.items["2002"].buyers or []] == ["zoe@chez-zoe.example", "extra@chez-zoe.example"]
    assert [b.email for b in result.items["2001"].buyers or []] == ["maelle.benoit@maison-heloise.example"]


def test_the_family_setting_keeps_only_b2b_accounts() -> None:
    config = parse_settings({"customers": {"families": ["REVENDEUR"]}})
    web = customer(customer_id="9001", family="WEB")
    result = map_retailers([customer(), web], [], [], config)
    assert list(result.items) == ["2001"]
    assert result.read == 1
    assert reasons(result) == {}


def test_a_customer_id_seen_twice_is_skipped_not_guessed() -> None:
    result = map_retailers([customer(), customer(company="Autre")], [], [], Settings())
    assert result.items == {}
    assert reasons(result) == {"2001": "customer 2001 appears more than once in the customers query"}


def test_a_row_without_id_is_skipped_by_its_position() -> None:
    result = map_retailers([customer(customer_id="")], [], [], Settings())
    assert reasons(result) == {"customer row 1": "the customer has no id (Client)"}


# --- hostile input ---------------------------------------------------------------------------------------------

text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "FR", "France", "Atlantide", "GROS", "VIP", "a@b.fr", "x@", "PRINCIPALE", "2001"]),
)
COLUMNS = list(customer())
ADDRESS_COLUMNS = list(address("X"))


def rows(columns: list[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.dictionaries(st.sampled_from(columns), text), max_size=4)


@settings(max_examples=300, deadline=None)
@given(customers=rows(COLUMNS), addresses=rows(ADDRESS_COLUMNS), extra=rows(["customer_id", "email", "first_name"]))
def test_any_customer_row_maps_or_is_skipped_with_a_reason(
    customers: list[dict[str, Any]], addresses: list[dict[str, Any]], extra: list[dict[str, Any]]
) -> None:
    result = map_retailers(customers, addresses, extra, Settings())
    assert not set(result.items) & set(reasons(result))
    assert set(result.warnings) <= set(result.items)
    assert all(reason.strip() for reason in reasons(result).values())
    assert result.read == len(customers)
    for row in customers:
        key = (row.get("customer_id") or "").strip()
        assert key in result.items or key in reasons(result) or key == ""
    for reference, retailer in result.items.items():
        payload = retailer.payload()
        assert payload["reference"] == reference
        assert ("buyers" in payload) is (reference not in result.warnings)
        assert all(is_valid_email(b["email"]) for b in payload.get("buyers", []))
        assert payload["price_list_code"] in Settings().tariff_price_lists.values()
        for place in [payload["store_address"], payload["billing_address"], *payload["delivery_addresses"]]:
            assert place["country"] in KNOWN_CODES
