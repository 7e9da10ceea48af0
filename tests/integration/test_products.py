"""Products flow through ExportProductsFunction's real handler, against the simulators and moto."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from connector.ean import is_valid_ean13
from connector.flows.catalogue import fabric_code
from connector.flows.products import NO_WAY_BACK
from sandbox.seed import Product, Seed, Variant
from sandbox.stack import LocalStack
from tests.conftest import TaskLog

STAMPS = ("create_time", "update_time")


def export(stack: LocalStack, flow: str = "products", **fields: Any) -> dict[str, Any]:
    """Press the export button once: the event the API sends, with a fresh run id."""
    event = stack.event(f"export_{flow}", run_id=f"{flow}-{uuid.uuid4().hex[:12]}", **fields)
    result: dict[str, Any] = stack.invoke(f"export_{flow}", event)
    return result


def catalogue(seed: Seed) -> dict[str, tuple[Product, dict[str, list[Variant]]]]:
    """Independent of the flow: active models → their sheet and their coloured variants in size order."""
    active = {p.barcode: p for p in seed.products if p.actif == 1}
    colours: dict[str, dict[str, list[Variant]]] = defaultdict(lambda: defaultdict(list))
    for variant in seed.variants:
        if variant.barcode in active and variant.couleur:
            colours[variant.barcode][variant.couleur].append(variant)
    for by_colour in colours.values():
        for variants in by_colour.values():
            variants.sort(key=lambda v: v.ordretaille)
    return {reference: (active[reference], dict(colours[reference])) for reference in active}


def without_stamps(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in STAMPS and not k.startswith("image_")}


def assert_product_matches_fastmag(held: dict[str, Any], sheet: Product, by_colour: dict[str, list[Variant]]) -> None:
    assert held["model"] == sheet.barcode
    assert held["name"] == sheet.designation
    assert held["category_name"] == sheet.famille
    assert held["sub_category_name"] == sheet.sousfamille
    assert held["sub_sub_category_name"] == sheet.rayon
    assert held["collection_code"] == held["collection_name"] == sheet.saison
    sizes = sorted({v.taille: v.ordretaille for vs in by_colour.values() for v in vs}.items(), key=lambda s: s[1])
    assert held["sizing_sizes"] == [size for size, _ in sizes]
    variants = {v["fabric_code"]: v for v in held["variants"]}
    assert set(variants) == {fabric_code(colour, sheet.matiere) for colour in by_colour}
    for colour, rows in by_colour.items():
        variant = variants[fabric_code(colour, sheet.matiere)]
        assert variant["fabric_name"] == f"{colour} - {sheet.matiere}"
        assert variant["fabric_color_name"] == colour
        assert variant["reference"] == sheet.barcode
        assert variant["composition"] == sheet.composition
        assert variant["description"] == sheet.description
        expected_skus = [
            {"size_name": v.taille, "sku": f"{v.barcode}-{colour}-{v.taille}"}
            | ({"ean13": v.gencod} if is_valid_ean13(v.gencod) else {})
            for v in rows
        ]
        assert [without_stamps(sku) for sku in variant["skus"]] == expected_skus


def test_the_seed_catalogue_arrives_whole_and_matches_fastmag_field_by_field(stack: LocalStack) -> None:
    expected = catalogue(stack.seed)
    result = export(stack)
    assert result["status"] == "partial"  # the seed's variant without colour is skipped, bad EAN13s reported
    assert set(stack.lnb.products) == set(expected)
    fabrics = {fabric_code(c, sheet.matiere) for sheet, by_colour in expected.values() for c in by_colour}
    assert set(stack.lnb.fabrics) == fabrics
    assert result["counters"]["accepted"] == len(expected) + len(fabrics)
    for reference, (sheet, by_colour) in expected.items():
        held = stack.lnb.products[reference]
        assert {v["fabric_code"] for v in held["variants"]} == {fabric_code(c, sheet.matiere) for c in by_colour}
        assert sum(len(v["skus"]) for v in held["variants"]) == sum(len(vs) for vs in by_colour.values())

    bad_ean = {v.barcode for v in stack.seed.variants if v.gencod in stack.seed.anomalies.invalid_ean}
    long_name = [r for r, (p, _) in expected.items() if len(p.designation) > 100]
    apostrophe = [r for r, (p, _) in expected.items() if "'" in p.designation]
    accessory = [r for r, (p, _) in expected.items() if p.famille == "Accessoires"]
    wanted = [*sorted(bad_ean & set(expected))[:2], long_name[0], apostrophe[0], accessory[0], *sorted(expected)]
    sample = list(dict.fromkeys(wanted))[:5]
    for reference in sample:
        assert_product_matches_fastmag(stack.lnb.products[reference], *expected[reference])

    sheet, colour = next((p, c) for p, by_colour in expected.values() for c in by_colour if not c.isascii())
    fabric = stack.lnb.fabrics[fabric_code(colour, sheet.matiere)]
    assert fabric["code"].isascii()
    assert (fabric["name"], fabric["color_name"]) == (f"{colour} - {sheet.matiere}", colour)
    assert fabric["material_code"] == sheet.matiere.upper().replace(" ", "-").replace("É", "E")


def test_an_unchanged_catalogue_makes_no_call_and_one_edit_resends_exactly_that_product(stack: LocalStack) -> None:
    first = export(stack)
    stack.lnb.clear_requests()
    second = export(stack)
    assert stack.lnb.data_calls() == []
    assert second["counters"]["sent"] == 0
    assert second["counters"]["unchanged"] == first["counters"]["accepted"]

    reference = next(iter(catalogue(stack.seed)))
    stack.fastmag.execute(
        "UPDATE produitsfiches SET designation = ? WHERE barcode = ?", ("Chemise renommée", reference)
    )
    stack.lnb.clear_requests()
    third = export(stack)
    assert [(r.path, r.items) for r in stack.lnb.data_calls()] == [("/multi/products", 1)]
    assert stack.lnb.data_calls()[0].body["requests"][0]["model"] == reference
    assert stack.lnb.products[reference]["name"] == "Chemise renommée"
    assert third["counters"]["accepted"] == 1


def test_accents_apostrophes_and_long_designations_survive_byte_for_byte(stack: LocalStack) -> None:
    reference = next(iter(catalogue(stack.seed)))
    designation = (
        "Veste « L'Été à Paris » — œillets dorés, façon ‘workwear’ n°3 : 100 % laine mérinos… "
        + "coupe ajustée, finitions main, doublure en crêpe de Chine, boutons en corozo, " * 4
    ).strip()
    composition = "52 % laine d'agneau, 48 % coton égyptien — doublure : 100 % cupro"
    stack.fastmag.execute(
        "UPDATE produitsfiches SET designation = ?, composition = ? WHERE barcode = ?",
        (designation, composition, reference),
    )
    export(stack)
    held = stack.lnb.products[reference]
    assert held["name"].encode() == designation.encode()
    assert len(held["name"]) > 300
    assert {v["composition"].encode() for v in held["variants"]} == {composition.encode()}


def test_preview_stores_the_exact_payloads_and_leaves_le_new_black_untouched(stack: LocalStack) -> None:
    expected = catalogue(stack.seed)
    preview = export(stack, preview=True)
    assert stack.lnb.data_calls() == []
    assert stack.lnb.products == {} and stack.lnb.fabrics == {}
    lines = stack.preview_lines(preview["run_id"])
    products = {line["key"]: line for line in lines if line.get("resource") == "products"}
    fabrics = {line["key"] for line in lines if line.get("resource") == "fabrics"}
    assert set(products) == set(expected)
    assert lines[0]["summary"]["new"] == len(products) + len(fabrics)
    assert any(line.get("change") == "skipped" and "has no colour" in line["reason"] for line in lines)

    export(stack)
    for reference, line in products.items():
        held = without_stamps(stack.lnb.products[reference])
        held["variants"] = [
            without_stamps(v) | {"skus": [without_stamps(s) for s in v["skus"]]} for v in held["variants"]
        ]
        assert held == line["payload"]


def test_bad_rows_are_reported_and_settings_filter_what_is_exported(stack: LocalStack, task_log: TaskLog) -> None:
    stack.configure({"products": {"seasons": ["PE25", "AH25"]}})
    result = export(stack)
    expected = {r for r, (p, _) in catalogue(stack.seed).items() if p.saison in ("PE25", "AH25")}
    assert set(stack.lnb.products) == expected
    inactive = {p.barcode for p in stack.seed.products if p.actif == 0}
    assert not inactive & set(stack.lnb.products)

    skipped = task_log.events("record.skipped")
    assert all(line["run_id"] == result["run_id"] and line["flow"] == "products" for line in skipped)
    incomplete = [line for line in task_log.events("record.incomplete") if "checksum" in line["reason"]]
    sent_eans = {sku.get("ean13") for p in stack.lnb.products.values() for v in p["variants"] for sku in v["skus"]}
    assert not set(stack.seed.anomalies.invalid_ean) & sent_eans
    bad_in_scope = [
        v for v in stack.seed.variants if v.gencod in stack.seed.anomalies.invalid_ean and v.barcode in expected
    ]
    assert len(incomplete) == len(bad_in_scope)
    assert all(NO_WAY_BACK in line["reason"] for line in incomplete)
    assert any(key.startswith("SKU sent without a valid EAN13") for key in result["errors"]) == bool(bad_in_scope)


def test_variants_that_disagree_on_sizes_get_the_union_and_a_log_line(stack: LocalStack, task_log: TaskLog) -> None:
    reference, (_, by_colour) = next((r, c) for r, c in catalogue(stack.seed).items() if len(c[1]) > 1)
    colour, rows = next(iter(by_colour.items()))
    dropped = rows[1]
    stack.fastmag.execute("DELETE FROM produits WHERE produit = ?", (dropped.produit,))
    export(stack)
    held = stack.lnb.products[reference]
    assert dropped.taille in held["sizing_sizes"]
    variant = next(v for v in held["variants"] if v["fabric_color_name"] == colour)
    assert dropped.taille not in [sku["size_name"] for sku in variant["skus"]]
    (line,) = [line for line in task_log.events("product.sizing_merged") if line["key"] == reference]
    assert colour in line["reason"]
