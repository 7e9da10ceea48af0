"""A product payload built without pydantic validation is exactly the one validation gives, byte for byte, and so
is its digest: the snapshots written before read as unchanged, and LNB receives the same JSON."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from connector.fastmag.queries import PRODUCTS
from connector.flows import products
from connector.lenewblack.models import Product, Sku
from connector.settings import Settings, parse_settings
from connector.state import payload_digest
from tests.properties import examples
from tests.unit.flows.as_read import as_read
from tests.unit.flows.test_hostile_mapping import product_columns
from tests.unit.hostile import odd_text, row_of

# Text validation strips, or refuses: White_Space that Python's strip and pydantic's disagree on, and lone
# surrogates (a JSON answer can carry one escaped).
edgy_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" \t\x1c\x1f\x85\u00a0\u200b\u2028\u3000\ud800\udfff")), st.characters(codec="utf-8")
    ),
    max_size=6,
)
edgy_code = st.one_of(st.sampled_from(["CH1", "CH2", " CH1", "CH1\x1f", "CH1\u3000"]), edgy_text)
rows = st.lists(
    row_of(
        {
            **product_columns,
            "reference": edgy_code,
            "colour": edgy_code,
            "size": edgy_code,
            "designation": st.one_of(odd_text, edgy_text),
            "composition": st.one_of(odd_text, edgy_text),
            "family": st.sampled_from(["Robes", "Vestes", " Robes", ""]),
            "subfamily": st.sampled_from(["Longues", "Courtes", ""]),
            "season": st.sampled_from(["PE26", "AH25", "\ud800"]),
            "active": st.just("1"),
        }
    ),
    max_size=10,
)
settings = st.sampled_from(
    [
        Settings(),
        parse_settings({"sku_format": "{colour}{size}"}),  # a SKU ending in the row's own text, as read
        parse_settings(
            {
                "sku_format": " {reference}/{variant_id} ",
                "products": {
                    "categories": {"names": {"Robes": " Robe ", "Vestes": "\u3000", "Longues": "Longue\x1f"}},
                    "collections": {
                        "PE26": {"code": "SS26 ", "name": "Printemps"},
                        "AH25": {"code": "FW25", "name": ""},
                    },
                },
            }
        ),
    ]
)


def validated_by_pydantic(product: dict[str, Any]) -> tuple[dict[str, Any], str]:
    payload = Product.model_validate(product).payload()
    return payload, payload_digest(payload)


def mapped(source: list[dict[str, Any]], chosen: Settings) -> tuple[list[Any], list[Any], list[Any], dict[str, Any]]:
    export = products.ProductExport()
    catalogue = products.group_catalogue(as_read(PRODUCTS, source), chosen)
    fabrics = products.fabrics_of(catalogue.sheets, chosen)
    made = [
        (model, json.dumps(payload, ensure_ascii=False, default=str), digest)
        for model, payload, digest in products.mapped_products(catalogue.sheets, chosen, export)
    ]
    return made, export.skipped, export.notices, fabrics


@given(rows, settings)
@examples(300)
def test_a_payload_built_without_validation_is_the_one_validation_gives(
    source: list[dict[str, Any]], chosen: Settings
) -> None:
    fast = mapped(source, chosen)
    with mock.patch.object(products, "_validated", validated_by_pydantic):
        general = mapped(source, chosen)
    # The same products in the same order, the same JSON text (keys in the same order), the same digests, skips
    # (with pydantic's reasons) and notices.
    assert fast == general


@given(st.text(alphabet=st.one_of(st.characters(categories=["Zs", "Zl", "Zp", "Cc", "Cf"]), st.sampled_from("ab"))))
@examples(300)
def test_a_sku_is_stripped_of_exactly_what_validation_strips(raw: str) -> None:
    # The SKU is the one text the payload takes unstripped from the row: stripped as validation would strip it.
    assert Sku.model_validate({"size_name": "M", "sku": raw}).sku == raw.strip(products._TRIM)


def test_a_sku_keeps_what_validation_keeps_and_loses_what_it_strips() -> None:
    row = {"reference": "CH1", "designation": "Chemise", "family": "Hauts", "season": "PE26", "active": "1"}
    variants = [{"colour": "NOIR", "size": size, "ean13": ""} for size in ("S\x1f", "M\u3000", "L\xa0\x1c")]
    export = products.map_products(
        as_read(PRODUCTS, [row | variant for variant in variants]), parse_settings({"sku_format": "{size}"})
    )
    [variant] = export.products["CH1"]["variants"]
    assert [sku["sku"] for sku in variant["skus"]] == ["S\x1f", "M", "L\xa0\x1c"]
