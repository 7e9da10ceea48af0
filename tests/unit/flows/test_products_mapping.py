"""Pure mapping of the products flow: Fastmag variant rows → LNB fabrics and products."""

from __future__ import annotations

import zlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.ean import make_ean13
from connector.fastmag.queries import PRODUCTS
from connector.flows import catalogue, products
from connector.flows.catalogue import FABRIC_CODE_MAX, Catalogue, fabric_code
from connector.flows.products import NO_WAY_BACK, ProductExport
from connector.settings import Settings, parse_settings
from tests.unit.flows.as_read import as_read


def map_products(rows: list[dict[str, Any]], settings: Settings) -> ProductExport:
    """The mapping of rows as the catalogue read gives them (`size_rank` parsed)."""
    return products.map_products(as_read(PRODUCTS, rows), settings)


def group_catalogue(rows: list[dict[str, Any]], settings: Settings) -> Catalogue:
    return catalogue.group_catalogue(as_read(PRODUCTS, rows), settings)


SETTINGS = Settings()


def row(reference: str = "CH1", colour: str = "NOIR", size: str = "M", rank: int = 3, **sheet: str) -> dict[str, str]:
    number = zlib.crc32(f"{reference}/{colour}/{size}".encode()) % 10**9
    fields = {
        "reference": reference,
        "designation": "Chemise d'été",
        "brand": "Maison",
        "family": "Hauts",
        "subfamily": "Chemises",
        "section": "Femme",
        "season": "PE26",
        "material": "coton",
        "composition": "100% coton",
        "description": "Coupe droite.",
        "active": "1",
        "variant_id": str(number),
        "colour": colour,
        "size": size,
        "size_rank": str(rank),
        "ean13": make_ean13(f"376{number:09d}"),
    }
    return {**fields, **sheet}


def grid(reference: str = "CH1", colours: tuple[str, ...] = ("NOIR", "ÉCRU"), **sheet: str) -> list[dict[str, str]]:
    sizes = (("S", 2), ("M", 3), ("L", 4))
    return [row(reference, colour, size, rank, **sheet) for colour in colours for size, rank in sizes]


def only_product(rows: list[dict[str, str]], settings: Settings = SETTINGS) -> dict[str, Any]:
    export = map_products(rows, settings)
    (product,) = export.products.values()
    return product


# --- fabric codes ---------------------------------------------------------------------------------------------


def test_fabric_code_is_readable_ascii_of_colour_and_material() -> None:
    assert fabric_code("ROSE POUDRÉ", "soie") == "ROSE-POUDRE_SOIE"
    assert fabric_code("NOIR", "polyester recyclé") == "NOIR_POLYESTER-RECYCLE"
    assert fabric_code("JAUNE D'OR", "") == "JAUNE-D-OR"


def test_fabric_codes_of_long_or_symbol_only_text_stay_short_and_distinct() -> None:
    long_a, long_b = fabric_code("A" * 80, "laine"), fabric_code("A" * 80, "lin")
    assert len(long_a) <= FABRIC_CODE_MAX and len(long_b) <= FABRIC_CODE_MAX
    assert long_a != long_b
    assert fabric_code("★", "") != fabric_code("☆", "")
    assert fabric_code("★", "")


@given(st.text(max_size=120), st.text(max_size=120))
def test_fabric_code_is_deterministic_ascii_and_bounded(colour: str, material: str) -> None:
    code = fabric_code(colour, material)
    assert code == fabric_code(colour, material)
    assert code.isascii() and code
    assert len(code) <= FABRIC_CODE_MAX
    assert all(c.isalnum() or c in "-_" for c in code)


# --- products ---------------------------------------------------------------------------------------------------


def test_a_model_becomes_one_product_with_variants_by_colour_and_skus_by_size() -> None:
    rows = grid()
    export = map_products(rows, SETTINGS)
    product = export.products["CH1"]
    assert product["name"] == "Chemise d'été"
    assert (product["category_name"], product["sub_category_name"], product["sub_sub_category_name"]) == (
        "Hauts",
        "Chemises",
        "Femme",
    )
    assert (product["collection_code"], product["collection_name"]) == ("PE26", "PE26")
    assert product["sizing_sizes"] == ["S", "M", "L"]
    assert product["sizing_name"] == "S / M / L"
    assert [v["fabric_code"] for v in product["variants"]] == ["NOIR_COTON", "ECRU_COTON"]
    ecru = product["variants"][1]
    assert ecru["fabric_name"] == "ÉCRU - coton"
    assert ecru["fabric_color_name"] == "ÉCRU"
    assert (ecru["reference"], ecru["composition"], ecru["description"]) == ("CH1", "100% coton", "Coupe droite.")
    assert ecru["skus"][0] == {"size_name": "S", "ean13": rows[3]["ean13"], "sku": "CH1-ÉCRU-S"}
    assert export.fabrics["ECRU_COTON"] == {
        "code": "ECRU_COTON",
        "name": "ÉCRU - coton",
        "material_code": "COTON",
        "color_code": "ECRU",
        "color_name": "ÉCRU",
    }
    assert export.skipped == [] and export.notices == []


def test_sizes_follow_fastmag_rank_not_row_order() -> None:
    rows = [row(size="L", rank=4), row(size="S", rank=2), row(size="M", rank=3)]
    product = only_product(rows)
    assert product["sizing_sizes"] == ["S", "M", "L"]
    assert [sku["size_name"] for sku in product["variants"][0]["skus"]] == ["S", "M", "L"]


def test_variants_that_disagree_on_sizes_share_the_union_and_are_logged() -> None:
    rows = [row(colour="NOIR", size="S", rank=2), row(colour="NOIR", size="M", rank=3)]
    rows += [row(colour="BLANC", size="M", rank=3), row(colour="BLANC", size="XL", rank=5)]
    export = map_products(rows, SETTINGS)
    assert export.products["CH1"]["sizing_sizes"] == ["S", "M", "XL"]
    (notice,) = export.notices
    assert notice.event == "product.sizing_merged" and "BLANC, NOIR" in notice.reason
    assert notice.summary is None


def test_a_bad_ean13_sends_the_sku_without_it_and_says_orders_cannot_come_back() -> None:
    rows = grid(colours=("NOIR",))
    good = rows[0]["ean13"]
    rows[1]["ean13"] = rows[1]["ean13"][:12] + str((int(rows[1]["ean13"][12]) + 1) % 10)
    rows[2]["ean13"] = good  # the same code twice: LNB keys stock and orders by it
    export = map_products(rows, SETTINGS)
    skus = export.products["CH1"]["variants"][0]["skus"]
    assert [sku.get("ean13") for sku in skus] == [good, None, None]
    assert all(sku["sku"] for sku in skus)
    reasons = [notice.reason for notice in export.notices]
    assert any(reason.startswith("invalid EAN13 checksum") and NO_WAY_BACK in reason for reason in reasons)
    assert any("already on another variant" in reason for reason in reasons)


def test_a_variant_without_any_valid_ean13_is_still_exported_and_logged() -> None:
    rows = grid(colours=("NOIR", "BLANC"))
    for line in rows[3:]:
        line["ean13"] = ""
    export = map_products(rows, SETTINGS)
    assert len(export.products["CH1"]["variants"]) == 2
    variant_notices = [n for n in export.notices if n.key == "CH1/BLANC_COTON"]
    assert variant_notices and NO_WAY_BACK in variant_notices[0].reason
    assert variant_notices[0].summary


def test_rows_without_colour_or_twice_the_same_size_are_skipped_with_a_reason() -> None:
    rows = [*grid(colours=("NOIR",)), row(colour="", size="M"), row(colour="NOIR", size="M")]
    export = map_products(rows, SETTINGS)
    reasons = sorted(skip.reason for skip in export.skipped)
    assert reasons == ["variant appears twice in Fastmag", "variant has no colour in Fastmag"]
    assert len(export.products["CH1"]["variants"][0]["skus"]) == 3


def test_settings_filter_inactive_products_and_seasons() -> None:
    rows = grid("A1") + grid("B1", active="0") + grid("C1", season="AH24")
    assert set(map_products(rows, SETTINGS).products) == {"A1", "C1"}
    seasons = parse_settings({"products": {"seasons": ["PE26"]}})
    export = map_products(rows, seasons)
    assert set(export.products) == {"A1"}
    assert export.left_out == 2
    everything = parse_settings({"products": {"active_only": False}})
    assert set(map_products(rows, everything).products) == {"A1", "B1", "C1"}


def test_categories_and_collections_follow_the_mapping_settings() -> None:
    settings = parse_settings(
        {
            "products": {
                "categories": {
                    "category_field": "section",
                    "sub_category_field": "family",
                    "sub_sub_category_field": None,
                    "names": {"Femme": "Women"},
                },
                "collections": {"PE26": {"code": "SS26", "name": "Printemps-été 2026"}},
            },
            "sku_format": "{variant_id}",
        }
    )
    rows = grid()
    product = only_product(rows, settings)
    assert (product["category_name"], product["sub_category_name"]) == ("Women", "Hauts")
    assert "sub_sub_category_name" not in product
    assert (product["collection_code"], product["collection_name"]) == ("SS26", "Printemps-été 2026")
    assert product["variants"][0]["skus"][0]["sku"] == rows[0]["variant_id"]


def test_a_product_missing_what_lnb_requires_is_skipped_with_the_reason() -> None:
    rows = grid("A1", designation="") + grid("B1", family="") + grid("C1", season="")
    export = map_products(rows, SETTINGS)
    assert export.products == {}
    assert {skip.key: skip.reason for skip in export.skipped} == {
        "A1": "no designation in Fastmag",
        "B1": "no category: Fastmag field 'family' is empty",
        "C1": "no season in Fastmag: the collection comes from it",
    }


def test_grouping_does_not_depend_on_the_queries_row_order() -> None:
    rows = grid("A1") + grid("B1")
    shuffled = rows[::-1]
    assert map_products(shuffled, SETTINGS).products == map_products(rows, SETTINGS).products
    assert [sheet.reference for sheet in group_catalogue(rows, SETTINGS).sheets] == ["A1", "B1"]


@given(st.text(alphabet=st.characters(codec="cp1252", exclude_characters='"\t\r\n'), min_size=1, max_size=300))
def test_any_designation_fastmag_can_carry_reaches_the_payload_unchanged(designation: str) -> None:
    export = map_products(grid(designation=designation), SETTINGS)
    if designation.strip():
        assert export.products["CH1"]["name"] == designation.strip()
    else:
        assert export.skipped[0].reason == "no designation in Fastmag"
