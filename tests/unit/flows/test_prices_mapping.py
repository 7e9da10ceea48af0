"""Pure mapping of the prices flow: Fastmag tariff rows → LNB prices per price list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.fastmag.queries import PRICES
from connector.fastmag.queries import PRODUCTS as PRODUCTS_QUERY
from connector.flows import prices
from connector.flows.prices import PriceExport, resolve, tariffs_to_read
from connector.settings import Settings, parse_settings
from tests.unit.flows.as_read import as_read
from tests.unit.flows.test_products_mapping import grid


def map_prices(product_rows: list[dict[str, str]], price_rows: list[dict[str, str]], settings: Settings) -> PriceExport:
    """The mapping of both reads as they come back typed (prices parsed with the configured separator)."""
    separator = settings.fastmag.wire.decimal_separator
    return prices.map_prices(
        as_read(PRODUCTS_QUERY, product_rows, separator), as_read(PRICES, price_rows, separator), settings
    )


SETTINGS = Settings()
PRODUCTS = grid(colours=("NOIR", "BLANC"))  # CH1, sizes S M L, material coton


def price(tariff: str, amount: str, colour: str = "", size: str = "", reference: str = "CH1") -> dict[str, str]:
    return {"reference": reference, "tariff": tariff, "colour": colour, "size": size, "price": amount}


def test_the_most_specific_fastmag_row_wins() -> None:
    table = {("", ""): Decimal(10), ("", "L"): Decimal(12), ("NOIR", ""): Decimal(11), ("NOIR", "L"): Decimal(13)}
    assert resolve(table, "NOIR", "L") == 13
    assert resolve(table, "NOIR", "M") == 11
    assert resolve(table, "BLANC", "L") == 12
    assert resolve(table, "BLANC", "M") == 10
    assert resolve({}, "BLANC", "M") is None


def test_one_price_per_variant_and_list_with_the_retail_tariff_as_recommended_price() -> None:
    export = map_prices(PRODUCTS, [price("GROS", "25,50"), price("PVC", "59.90")], SETTINGS)
    assert export.prices["WHOLESALE-EUR|CH1|NOIR_COTON"] == {
        "product_model": "CH1",
        "fabric_code": "NOIR_COTON",
        "price_list_code": "WHOLESALE-EUR",
        "wholesale_price": 25.5,
        "recommended_retail_price": 59.9,
    }
    assert export.prices["RETAIL-EUR|CH1|BLANC_COTON"]["wholesale_price"] == 59.9
    assert len(export.prices) == 4
    assert export.prices_by_size == {} and export.skipped == [] and not export.unmapped


def test_prices_that_differ_by_size_go_by_size_for_that_variant_only() -> None:
    rows = [price("GROS", "20"), price("GROS", "24", size="L"), price("PVC", "50")]
    export = map_prices(PRODUCTS, rows, SETTINGS)
    by_size = {key: p["wholesale_price"] for key, p in export.prices_by_size.items()}
    assert by_size == {
        f"WHOLESALE-EUR|CH1|{fabric}|{size}": value
        for fabric in ("BLANC_COTON", "NOIR_COTON")
        for size, value in (("S", 20.0), ("M", 20.0), ("L", 24.0))
    }
    assert export.prices_by_size["WHOLESALE-EUR|CH1|NOIR_COTON|L"]["size_name"] == "L"
    assert set(export.prices) == {"RETAIL-EUR|CH1|BLANC_COTON", "RETAIL-EUR|CH1|NOIR_COTON"}


def test_without_prices_by_size_the_variant_gets_its_usual_price_and_the_odd_size_is_reported() -> None:
    settings = parse_settings({"prices": {"by_size": False}})
    rows = [price("GROS", "20"), price("GROS", "24", colour="NOIR", size="L"), price("PVC", "50")]
    export = map_prices(PRODUCTS, rows, settings)
    assert export.prices_by_size == {}
    assert export.prices["WHOLESALE-EUR|CH1|NOIR_COTON"]["wholesale_price"] == 20.0
    (skip,) = export.skipped
    assert skip.key == "WHOLESALE-EUR|CH1|NOIR_COTON|L"
    assert "prices.by_size is off" in skip.reason


def test_zero_and_missing_prices_are_never_sent_and_say_why() -> None:
    rows = [price("GROS", "0"), price("GROS", "30", colour="NOIR", size="S")]
    export = map_prices(PRODUCTS, rows, SETTINGS)
    sent = [*export.prices.values(), *export.prices_by_size.values()]
    assert all(p["wholesale_price"] > 0 for p in sent)
    assert [(p["fabric_code"], p["size_name"]) for p in sent] == [("NOIR_COTON", "S")]
    reasons = {skip.key: skip.reason for skip in export.skipped}
    assert reasons["WHOLESALE-EUR|CH1|BLANC_COTON"].startswith("zero price in tariff GROS")
    assert reasons["WHOLESALE-EUR|CH1|NOIR_COTON|M"].startswith("zero price in tariff GROS")
    assert reasons["RETAIL-EUR|CH1|NOIR_COTON"].startswith("no price in tariff PVC")


def test_a_zero_retail_price_is_left_out_not_sent_as_zero() -> None:
    export = map_prices(PRODUCTS, [price("GROS", "20"), price("PVC", "0")], parse_settings({"tariff_price_lists": {}}))
    assert export.prices == {}
    mapped = parse_settings({"tariff_price_lists": {"GROS": "WHOLESALE-EUR"}})
    export = map_prices(PRODUCTS, [price("GROS", "20"), price("PVC", "0")], mapped)
    assert all("recommended_retail_price" not in p for p in export.prices.values())


def test_an_unreadable_price_is_skipped_with_its_text() -> None:
    export = map_prices(PRODUCTS, [price("GROS", "12,5.0", colour="NOIR"), price("GROS", "20")], SETTINGS)
    assert any("unreadable price '12,5.0'" in skip.reason for skip in export.skipped)
    assert "WHOLESALE-EUR|CH1|NOIR_COTON" not in export.prices
    assert export.prices["WHOLESALE-EUR|CH1|BLANC_COTON"]["wholesale_price"] == 20.0


def test_tariffs_without_a_price_list_are_counted_to_be_reported_once() -> None:
    settings = parse_settings({"prices": {"wholesale_tariff": "SOLDES"}})
    assert tariffs_to_read(settings) == ["GROS", "PVC", "SOLDES"]
    rows = [price("GROS", "20"), price("PVC", "50"), price("SOLDES", "15"), price("SOLDES", "14", reference="X")]
    export = map_prices(PRODUCTS, rows, settings)
    assert dict(export.unmapped) == {"SOLDES": 2}
    assert len(export.prices) == 4  # the mapped lists lose nothing
    unmapped_wholesale = map_prices(PRODUCTS, rows[:2], settings)
    assert dict(unmapped_wholesale.unmapped) == {"SOLDES": 0}


def test_models_the_product_settings_leave_out_get_no_prices() -> None:
    rows = grid("A1") + grid("B1", active="0")
    export = map_prices(rows, [price("GROS", "20", reference="A1"), price("GROS", "20", reference="B1")], SETTINGS)
    assert {p["product_model"] for p in export.prices.values()} == {"A1"}


@given(st.dictionaries(st.sampled_from(["S", "M", "L"]), st.integers(min_value=0, max_value=500), min_size=1))
def test_every_sent_price_is_positive_and_equals_its_fastmag_price(by_size: dict[str, int]) -> None:
    rows = [price("GROS", str(amount), size=size) for size, amount in by_size.items()]
    export = map_prices(PRODUCTS, rows, parse_settings({"tariff_price_lists": {"GROS": "WHOLESALE-EUR"}}))
    for payload in export.prices.values():
        assert payload["wholesale_price"] > 0
        assert all(by_size.get(size) in (None, payload["wholesale_price"]) for size in by_size)
    for payload in export.prices_by_size.values():
        assert payload["wholesale_price"] == by_size[payload["size_name"]] > 0
    sent_sizes = {p["size_name"] for p in export.prices_by_size.values()}
    skipped = {skip.key.rsplit("|", 1)[-1] for skip in export.skipped}
    if export.prices_by_size:
        assert sent_sizes | skipped >= {"S", "M", "L"}


texts = st.text(alphabet=st.sampled_from("AZ09 -\t\u00a0é"), max_size=4)
money = st.decimals(allow_nan=False, allow_infinity=True, places=None) | st.decimals(
    min_value=Decimal("-1"), max_value=Decimal("99999.99999"), places=5
)


@given(texts, texts, texts, money, money | st.none(), texts | st.none())
def test_a_price_payload_is_the_models_payload_or_the_models_refusal(  # noqa: PLR0917 - one per field
    model: str, code: str, price_list: str, wholesale: Decimal, recommended: Decimal | None, size: str | None
) -> None:
    common = {"product_model": model, "fabric_code": code, "price_list_code": price_list}
    expected_model = prices.Price if size is None else prices.PriceBySize
    extra = {} if size is None else {"size_name": size}
    try:
        expected = expected_model(  # type: ignore[call-arg]
            **common, wholesale_price=wholesale, recommended_retail_price=recommended, **extra
        ).payload()
    except ValidationError:
        with pytest.raises(ValidationError):
            prices.price_payload(common, wholesale, recommended, size)
        return
    built = prices.price_payload(common, wholesale, recommended, size)
    assert built == expected
    assert list(built) == list(expected)  # the same key order: the same bytes on the wire


price_keys = st.tuples(st.sampled_from(["", "NOIR", "BLANC"]), st.sampled_from(["", "S", "M", "L"]))
table_prices = st.sampled_from([Decimal(0), Decimal(10), Decimal("12.5"), None])


@given(
    st.dictionaries(price_keys, table_prices),
    st.sampled_from(["", "NOIR", "BLANC"]),
    st.lists(st.sampled_from(["", "S", "M", "L", "XL"])),
)
def test_resolving_a_variants_sizes_at_once_gives_each_sizes_own_resolution(
    table: dict[tuple[str, str], Decimal | None], colour: str, sizes: list[str]
) -> None:
    assert prices.resolve_sizes(table, colour, sizes) == {size: resolve(table, colour, size) for size in sizes}
