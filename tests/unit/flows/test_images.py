"""The images export's pure parts: stale slots and the exported colours."""

from __future__ import annotations

from connector.flows.catalogue import fabric_code
from connector.flows.images import exported_colours, stale_slots
from connector.flows.products import map_products
from connector.settings import Settings
from connector.staging import Staged


def _staged(sha: str, etag: str, key: str) -> str:
    return Staged(sha, etag, key).encode()


def test_stale_slots_only_for_colours_read_in_full() -> None:
    manifest = {slot: _staged("s", "e", f"images/{slot}.jpg") for slot in ("M/F/1", "M/F/2", "M/F/3", "N/G/1")}
    # M/F now has photos 1 and 2 only; N/G could not be read this run, so it keeps what it had.
    assert stale_slots(manifest, {"M/F": {"M/F/1", "M/F/2"}}) == ["M/F/3"]
    assert stale_slots(manifest, {}) == []


def test_exported_colours_are_exactly_the_product_exports_variants() -> None:
    base = {"designation": "Robe", "family": "ROBES", "season": "AH25", "active": "1", "ean13": ""}
    rows = [
        {**base, "reference": "RO1", "colour": "ROSE POUDRÉ", "material": "soie", "size": "S"},
        {**base, "reference": "RO1", "colour": "NOIR", "material": "soie", "size": "S"},
        {**base, "reference": "RO2", "colour": "NOIR", "material": "", "size": "M", "family": ""},  # no category
        {**base, "reference": "RO3", "colour": "NOIR", "material": "", "size": "M", "active": "0"},  # inactive
    ]
    settings = Settings()
    colours = exported_colours(rows, settings)
    assert [(c.model, c.fabric_code, c.colour) for c in colours] == [
        ("RO1", fabric_code("NOIR", "soie"), "NOIR"),
        ("RO1", "ROSE-POUDRE_SOIE", "ROSE POUDRÉ"),
    ]
    variants = {(m, v["fabric_code"]) for m, p in map_products(rows, settings).products.items() for v in p["variants"]}
    assert {(c.model, c.fabric_code) for c in colours} == variants
