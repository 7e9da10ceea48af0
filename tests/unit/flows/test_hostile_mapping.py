"""Any Fastmag row, however broken, either maps to a valid Le New Black payload or is skipped with a reason.

The pure mapping function of each flow gets rows whose values are hostile (tests/unit/hostile.py): odd
encodings, separators, huge strings, unreadable numbers and dates. Counts: tests/properties.py.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.ean import is_valid_ean13
from connector.fastmag.queries import PRICES, PRODUCTS, STOCK
from connector.flows import catalogue, prices, products, stock
from connector.flows.customers import map_retailers
from connector.lenewblack.models import Fabric, InventoryByEan, Price, PriceBySize, Product, Retailer
from connector.settings import Settings, parse_settings
from tests.properties import examples
from tests.unit.flows.as_read import as_read
from tests.unit.hostile import codes, dates, eans, numbers, odd_text, row_of

SETTINGS = Settings()
SKU_SETTINGS = parse_settings({"stock": {"key": "sku", "safety_buffer": 2}})

stock_rows = st.lists(
    row_of(
        {"reference": codes, "colour": codes, "size": codes, "variant_id": numbers, "ean13": eans, "quantity": numbers}
    ),
    max_size=12,
)
product_columns = {
    "reference": codes,
    "designation": odd_text,
    "brand": odd_text,
    "family": odd_text,
    "subfamily": odd_text,
    "section": odd_text,
    "season": st.sampled_from(["PE26", "AH25", ""]),
    "material": odd_text,
    "composition": odd_text,
    "description": odd_text,
    "active": st.sampled_from(["1", "0", "", "oui", "N"]),
    "variant_id": numbers,
    "colour": codes,
    "size": codes,
    "size_rank": numbers,
    "ean13": eans,
}
product_rows = st.lists(row_of(product_columns), max_size=10)
price_rows = st.lists(
    row_of(
        {
            "reference": codes,
            "tariff": st.sampled_from(["GROS", "PVC", "SOLDES", ""]),
            "colour": codes,
            "size": codes,
            "price": numbers,
        }
    ),
    max_size=12,
)
customer_rows = st.lists(
    row_of(
        {
            "customer_id": st.sampled_from(["2001", "2002", "", " 2001 "]),
            "company": odd_text,
            "last_name": odd_text,
            "first_name": odd_text,
            "email": st.one_of(st.emails(), odd_text),
            "gender": odd_text,
            "phone": odd_text,
            "address_1": odd_text,
            "address_2": odd_text,
            "zipcode": numbers,
            "city": odd_text,
            "country": st.sampled_from(["FR", "France", "Belgique", "ZZ", "", "fr"]),
            "tariff": st.sampled_from(["GROS", "PVC", "", "INCONNU"]),
            "vat_number": odd_text,
            "family": odd_text,
            "modified_at": dates,
        }
    ),
    max_size=6,
)
address_rows = st.lists(
    row_of(
        {
            "customer_id": st.sampled_from(["2001", "2002", ""]),
            "name": st.sampled_from(["PRINCIPALE", "DEPOT", ""]),
            "company": odd_text,
            "contact_name": odd_text,
            "address_1": odd_text,
            "address_2": odd_text,
            "zipcode": numbers,
            "city": odd_text,
            "country": st.sampled_from(["FR", "Belgique", "ZZ", ""]),
        }
    ),
    max_size=6,
)


@given(stock_rows, st.sampled_from([SETTINGS, SKU_SETTINGS]))
@examples(400)
def test_stock_rows_map_to_a_quantity_or_are_skipped_with_a_reason(
    rows: list[dict[str, str]], settings: Settings
) -> None:
    levels = stock.available_to_sell(as_read(STOCK, rows), settings)
    # Every row is accounted for exactly once: a quantity, or a reason.
    assert len(levels.quantities) + len(levels.skipped) == len(rows)
    assert all(skip.reason.strip() for skip in levels.skipped)
    for key, quantity in levels.quantities.items():
        assert isinstance(quantity, int) and quantity >= 0
        if settings.stock.key == "ean13":
            InventoryByEan(ean13=key, in_stock=quantity)
            assert is_valid_ean13(key)


@given(product_rows)
@examples(200)
def test_catalogue_rows_group_into_sheets_or_are_skipped_with_a_reason(rows: list[dict[str, str]]) -> None:
    grouped_catalogue = catalogue.group_catalogue(as_read(PRODUCTS, rows), SETTINGS)
    grouped = sum(len(lines) for sheet in grouped_catalogue.sheets for lines in sheet.colours.values())
    left_out = {sheet_row["reference"].strip() for sheet_row in rows} - {
        sheet.reference for sheet in grouped_catalogue.sheets
    }
    # Every row is grouped, skipped with a reason, or belongs to a model the settings leave out.
    assert grouped + len(grouped_catalogue.skipped) <= len(rows)
    if not left_out:
        assert grouped + len(grouped_catalogue.skipped) == len(rows)
    assert all(skip.reason.strip() for skip in grouped_catalogue.skipped)


@given(product_rows)
@examples(200)
def test_product_rows_map_to_valid_payloads_or_are_skipped_with_a_reason(rows: list[dict[str, str]]) -> None:
    export = products.map_products(as_read(PRODUCTS, rows), SETTINGS)
    sheets = {sheet.reference for sheet in catalogue.group_catalogue(as_read(PRODUCTS, rows), SETTINGS).sheets}
    skipped = {skip.key for skip in export.skipped}
    # Each grouped model is sent or skipped (with its reason), never silently dropped.
    assert sheets <= set(export.products) | skipped
    assert all(skip.reason.strip() for skip in export.skipped)
    for payload in export.products.values():
        Product.model_validate(payload)
    for payload in export.fabrics.values():
        Fabric.model_validate(payload)


@given(product_rows, price_rows)
@examples(200)
def test_price_rows_map_to_positive_prices_or_are_skipped_with_a_reason(
    product_rows: list[dict[str, str]], price_rows: list[dict[str, str]]
) -> None:
    export = prices.map_prices(as_read(PRODUCTS, product_rows), as_read(PRICES, price_rows), SETTINGS)
    assert all(skip.reason.strip() for skip in export.skipped)
    for payload in export.prices.values():
        price = Price.model_validate(payload)
        assert price.wholesale_price > Decimal(0)
    for payload in export.prices_by_size.values():
        assert PriceBySize.model_validate(payload).wholesale_price > Decimal(0)


@given(customer_rows, address_rows)
@examples(200)
def test_customer_rows_map_to_retailers_or_are_skipped_with_a_reason(
    customers: list[dict[str, str]], addresses: list[dict[str, str]]
) -> None:
    result = map_retailers(customers, addresses, [], SETTINGS)
    assert result.read == len(customers)
    skipped = {skip.key: skip.reason for skip in result.skipped}
    assert all(reason.strip() for reason in skipped.values())
    assert not set(result.items) & set(skipped)
    for number, customer in enumerate(customers, start=1):
        reference = customer["customer_id"].strip()
        assert reference in result.items or (reference or f"customer row {number}") in skipped
    for retailer in result.items.values():
        Retailer.model_validate(retailer.payload())
