"""The typed reads (`fastmag/reads.py`): each renders its configured SQL, passes its contract (with the columns
a setting makes required) and parses its numbers with the configured separator; an unreadable number is a
value the flow skips, never a failed read."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.ean import make_ean13
from connector.errors import FastmagError
from connector.fastmag.client import FastmagClient
from connector.fastmag.queries import PRODUCTS, REAL_STOCK_FILTER, STOCK, Query
from connector.fastmag.reads import FastmagReads, Unreadable, parse_number, typed_rows
from connector.fastmag.wire import read_tsv
from connector.settings import Settings, parse_settings


class AnsweringClient:
    """Answers every query with one tab-separated body, read as the client reads it (contract included)."""

    def __init__(self, header: list[str], *rows: list[str]) -> None:
        self.body = "\r\n".join("\t".join(line) for line in [header, *rows]).encode()
        self.calls: list[tuple[str, Query | None]] = []

    def query(self, sql: str, *, contract: Query | None = None) -> list[dict[str, str]]:
        self.calls.append((sql, contract))
        return read_tsv(self.body, required_columns=contract.required if contract else ())

    def pages(self, sql: str, *, contract: Query) -> Iterator[list[dict[str, str]]]:
        yield self.query(sql, contract=contract)  # one page, as without `fastmag.page_rows`


def reads(client: AnsweringClient, settings: Settings | None = None) -> FastmagReads:
    return FastmagReads(cast(FastmagClient, client), settings or Settings())


STOCK_HEADER = ["reference", "colour", "size", "variant_id", "ean13", "quantity"]


@pytest.mark.parametrize(
    ("separator", "text", "expected"),
    [
        ("auto", "12,50", Decimal("12.50")),
        ("auto", "12.50", Decimal("12.50")),
        (",", "12,50", Decimal("12.50")),
        (".", "12.50", Decimal("12.50")),
        (",", "-3", Decimal(-3)),
        ("auto", "7", Decimal(7)),
        (",", "", None),
        (".", "  ", None),
    ],
)
def test_stock_quantities_are_parsed_with_the_configured_separator(
    separator: str, text: str, expected: Decimal | None
) -> None:
    settings = parse_settings({"fastmag": {"wire": {"decimal_separator": separator}}})
    client = AnsweringClient(STOCK_HEADER, ["CH1", "NOIR", "M", "17", "3760000000011", text])
    (row,) = reads(client, settings).stock_rows(["CENTRAL"], real_stock_only=True)
    assert row["quantity"] == expected
    assert row["reference"] == "CH1"


@pytest.mark.parametrize(("separator", "text"), [(",", "12.50"), (".", "12,50"), ("auto", "1,2.5"), ("auto", "abc")])
def test_an_unreadable_number_is_kept_as_its_text_and_the_read_still_succeeds(separator: str, text: str) -> None:
    settings = parse_settings({"fastmag": {"wire": {"decimal_separator": separator}}})
    client = AnsweringClient(
        STOCK_HEADER,
        ["CH1", "NOIR", "M", "17", "3760000000011", text],
        ["CH1", "NOIR", "L", "18", "3760000000028", "4"],
    )
    first, second = reads(client, settings).stock_rows(["CENTRAL"], real_stock_only=False)
    assert first["quantity"] == Unreadable(text)
    assert second["quantity"] == Decimal(4)


def test_an_unreadable_quantity_becomes_a_skip_with_todays_reason() -> None:
    from connector.flows.stock import available_to_sell

    ean = make_ean13("376000000001")
    client = AnsweringClient(STOCK_HEADER, ["CH1", "NOIR", "M", "17", ean, "beaucoup"])
    levels = available_to_sell(reads(client).stock_rows(["CENTRAL"], real_stock_only=True), Settings())
    (skip,) = levels.skipped
    assert (skip.key, skip.reason) == (ean, "unreadable quantity")
    assert skip.detail == {"variant": "CH1/NOIR/M", "quantity": "beaucoup"}


def test_an_unreadable_price_becomes_a_skip_with_todays_reason() -> None:
    from connector.flows.prices import map_prices

    client = AnsweringClient(["reference", "tariff", "colour", "size", "price"], ["A1", "GROS", "", "", "12,5.0"])
    export = map_prices([], reads(client).price_rows(["GROS"]), Settings())
    assert [(skip.key, skip.reason) for skip in export.skipped] == [
        ("GROS|A1||", "unreadable price '12,5.0' in tariff GROS")
    ]


def test_integers_are_whole_numbers_written_either_way_and_a_fraction_is_unreadable() -> None:
    assert parse_number("12", ",", whole=True) == 12
    assert parse_number("12,00", ",", whole=True) == 12
    assert parse_number("12.0", "auto", whole=True) == 12
    assert parse_number("12.5", "auto", whole=True) == Unreadable("12.5")
    assert parse_number("9" * 5000, "auto", whole=True) == Unreadable("9" * 5000)  # int() refuses it: no crash


# Digits of every kind: ASCII, others `str.isdigit` accepts (superscripts, Arabic-Indic, full-width), long runs.
_NUMBER_TEXTS = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[0-9]{1,40}", fullmatch=True),
    st.text(alphabet="0123456789²٣０-,. ", max_size=25),
)


@given(_NUMBER_TEXTS, st.sampled_from([",", ".", "auto"]), st.booleans())
def test_every_number_cell_is_read_as_parse_number_reads_it(text: str, separator: Any, int_when_whole: bool) -> None:
    (stock,) = typed_rows([{"quantity": text}], STOCK, separator, int_when_whole=int_when_whole)
    expected = parse_number(text, separator, int_when_whole=int_when_whole)
    assert stock["quantity"] == expected and type(stock["quantity"]) is type(expected)
    (product,) = typed_rows([{"size_rank": text}], PRODUCTS, separator)
    whole = parse_number(text, separator, whole=True)
    assert product["size_rank"] == whole and type(product["size_rank"]) is type(whole)


def test_the_stock_read_renders_its_stores_and_the_real_stock_filter() -> None:
    client = AnsweringClient(STOCK_HEADER)
    reads(client).stock_rows(["CENTRAL", "O'NEIL"], real_stock_only=True)
    reads(client).stock_rows(["CENTRAL"], real_stock_only=False)
    (with_filter, contract), (without_filter, _) = client.calls
    assert "IN ('CENTRAL', 'O''NEIL')" in with_filter and REAL_STOCK_FILTER in with_filter
    assert REAL_STOCK_FILTER not in without_filter
    assert contract is not None and contract.name == "stock"


@pytest.mark.parametrize(
    ("read", "missing"),
    [
        (lambda r: r.stock_rows(["CENTRAL"], real_stock_only=True), "quantity"),
        (lambda r: r.catalogue_rows(), "season"),
        (lambda r: r.price_rows(["GROS"]), "price"),
        (lambda r: r.customers(), "tariff"),
        (lambda r: r.addresses(), "name"),
        (lambda r: r.variants_by_ean(["3760000000011"]), "reference"),
        (lambda r: r.customers_by_id(["C1"]), "customer_id"),
        (lambda r: r.orders_by_reference(["LNB-1"]), "external_reference"),
    ],
)
def test_each_read_enforces_its_contract(read: Any, missing: str) -> None:
    client = AnsweringClient(["something_else"], ["x"])
    with pytest.raises(FastmagError, match=rf"lacks column\(s\) \[.*'{missing}'"):
        read(reads(client))


def test_customers_need_the_family_only_when_the_setting_filters_on_it() -> None:
    header = ["customer_id", "company", "email", "country", "tariff"]
    client = AnsweringClient(header, ["C1", "Boutique", "a@b.fr", "FR", "GROS"])
    assert [row["customer_id"] for row in reads(client).customers()] == ["C1"]
    families = parse_settings({"customers": {"families": ["REVENDEUR"]}})
    with pytest.raises(FastmagError, match=r"lacks column\(s\) \['family'\]"):
        reads(client, families).customers()


def test_the_order_lookup_needs_line_count_only_with_one_transaction_per_call() -> None:
    client = AnsweringClient(["external_reference", "fastmag_number"], ["LNB-1", "F9"])
    (row,) = reads(client).orders_by_reference(["LNB-1"])
    assert row == {"external_reference": "LNB-1", "fastmag_number": "F9"}
    # The default SQL names line_count (settings check that); an answer without it fails the read.
    one = parse_settings({"fastmag": {"wire": {"transactions_per_call": "one"}}})
    with pytest.raises(FastmagError, match=r"lacks column\(s\) \['line_count'\]"):
        reads(client, one).orders_by_reference(["LNB-1"])


def test_line_counts_are_integers_and_blank_is_none() -> None:
    client = AnsweringClient(["external_reference", "line_count"], ["LNB-1", "3"], ["LNB-2", ""], ["LNB-3", "2,0"])
    rows = reads(client).orders_by_reference(["LNB-1", "LNB-2", "LNB-3"])
    assert [row.get("line_count") for row in rows] == [3, None, 2]


def test_reads_of_nothing_ask_fastmag_nothing_and_extra_buyers_are_off_until_configured() -> None:
    client = AnsweringClient(["customer_id", "email"], ["C1", "a@b.fr"])
    assert reads(client).variants_by_ean([]) == []
    assert reads(client).customers_by_id([]) == []
    assert reads(client).orders_by_reference([]) == []
    assert reads(client).extra_buyers() == []
    assert client.calls == []
    sql = "SELECT b.Client AS customer_id, b.email AS email FROM acheteurs b"
    configured = parse_settings({"fastmag": {"queries": {"extra_buyers": sql}}})
    assert reads(client, configured).extra_buyers() == [{"customer_id": "C1", "email": "a@b.fr"}]
