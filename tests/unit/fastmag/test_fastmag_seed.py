from __future__ import annotations

from connector.ean import is_valid_ean13
from sandbox.seed import ORPHAN_REFERENCE, build_seed, iter_catalogue, lnb_orders


def test_the_seed_is_deterministic() -> None:
    assert build_seed(models=30) == build_seed(models=30)
    assert build_seed(models=30, seed=8).variants != build_seed(models=30).variants


def test_streaming_gives_the_same_rows() -> None:
    seed = build_seed(models=40)
    streamed = [variant for rows in iter_catalogue(models=40) for variant in rows.variants]
    assert streamed == seed.variants


def test_catalogue_shape() -> None:
    seed = build_seed()
    assert len(seed.products) == 150
    assert len({v.produit for v in seed.variants}) == len(seed.variants)
    assert any(len(p.designation) > 120 for p in seed.products)
    assert any("'" in p.designation for p in seed.products)
    assert {row.codemag for row in seed.stock} == {"CENTRAL", "WEB", "PARIS", "LYON"}
    assert {row.AR for row in seed.stock} == {0, 1}
    assert {row.tarif for row in seed.prices} == {"GROS", "PVC", "SOLDES"}
    assert any(row.couleur or row.taille for row in seed.prices)
    per_model: dict[str, set[str]] = {}
    for variant in seed.variants:
        if variant.couleur:
            per_model.setdefault(variant.barcode, set()).add(variant.couleur)
    assert all(2 <= len(colours) <= 4 for colours in per_model.values())


def test_every_anomaly_is_present_and_only_those() -> None:
    seed = build_seed()
    anomalies = seed.anomalies
    bad_eans = [v.gencod for v in seed.variants if not is_valid_ean13(v.gencod)]
    assert sorted(bad_eans) == sorted(anomalies.invalid_ean)
    assert len(bad_eans) == 3
    assert [(r.barcode, r.couleur, r.taille, r.codemag) for r in seed.stock if r.stock < 0] == anomalies.negative_stock
    assert [(p.barcode, p.tarif) for p in seed.prices if p.prix == 0] == anomalies.zero_price
    assert [v.produit for v in seed.variants if not v.couleur] == anomalies.missing_colour
    assert [r for r in seed.stock if r.barcode == ORPHAN_REFERENCE]
    assert ORPHAN_REFERENCE not in {p.barcode for p in seed.products}


def test_clean_seed_has_no_anomaly() -> None:
    seed = build_seed(bad_rows=False)
    assert all(is_valid_ean13(v.gencod) and v.couleur for v in seed.variants)
    assert all(row.stock >= 0 for row in seed.stock)
    assert all(p.prix > 0 for p in seed.prices)


def test_retailers_and_their_addresses() -> None:
    seed = build_seed()
    retailers = seed.retailers()
    assert len(retailers) == 40
    assert any("'" in r.Societe for r in retailers)
    assert {"FRANCE", "FR"} & {r.Pays for r in retailers}
    assert len({r.Pays for r in retailers}) > 3
    named = {(a.Client, a.AdrLivraison) for a in seed.addresses}
    assert len(named) == len(seed.addresses)
    assert {a.Client for a in seed.addresses} == {r.Client for r in retailers}


def test_lnb_orders_use_real_customers_and_sendable_variants() -> None:
    seed = build_seed()
    orders = lnb_orders(seed)
    good = {v.gencod for v in seed.good_variants()}
    addresses = {(str(a.Client), a.AdrLivraison) for a in seed.addresses}
    assert [o["reference"] for o in orders] == list(range(1001, 1007))
    for placed in orders:
        assert (placed["retailer_reference"], placed["delivery_address"]["reference"]) in addresses
        assert placed["items"]
        assert all(item["ean13"] in good and item["unit_price"] > 0 for item in placed["items"])
        assert len(placed["billing_address"]["country"]) == 2
    assert any("|" in o["comment"] and "\n" in o["comment"] for o in orders)
    assert lnb_orders(seed) == orders
