"""A preview can be reviewed before it is applied: counts per resource, and each changed item's old → new,
read through `previews.read_preview`. Applying it still sends exactly what it showed."""

from __future__ import annotations

import gzip
import json

import pytest

from connector.previews import PreviewStore, SentValues, read_preview
from connector.state import SnapshotStore
from sandbox.stack import LocalStack
from tests.integration.test_prices import catalogued, expected_prices  # noqa: F401  (fixture)
from tests.integration.test_products import catalogue, export


def previews(stack: LocalStack) -> PreviewStore:
    return PreviewStore(stack.s3, stack.names["STAGING_BUCKET"])


def one_price_model(stack: LocalStack) -> str:
    """A model whose wholesale price is one row for all its variants (so the change is one item per colour)."""
    special = {r.barcode for r in stack.seed.prices if r.tarif == "GROS" and (r.couleur or r.taille or not r.prix)}
    return next(r for r in catalogue(stack.seed) if r not in special)


def test_a_changed_price_is_previewed_old_to_new_and_applied_exactly(catalogued: LocalStack) -> None:  # noqa: F811
    stack = catalogued
    export(stack, "prices")
    reference = one_price_model(stack)
    before = stack.seed.price(reference, "", "", "GROS") or 0
    stack.fastmag.execute("UPDATE tarifs SET prix = prix + 1.5 WHERE barcode = ? AND tarif = 'GROS'", (reference,))
    stack.lnb.clear_requests()

    preview = export(stack, "prices", preview=True)
    content = read_preview(previews(stack), preview["run_id"])
    colours = len(catalogue(stack.seed)[reference][1])
    assert content.summary.resources["prices"].changed == colours
    assert content.summary.resources["prices"].new == 0
    assert content.summary.resources["prices"].unchanged + colours == sum(
        1 for key in expected_prices(stack) if key.count("|") == 2
    )
    assert content.summary.would_send == colours
    changed = content.page(change="changed")
    assert changed.total == colours
    for item in changed.items:
        assert item.key.startswith(f"WHOLESALE-EUR|{reference}|")
        assert [(c.field, c.old, c.new) for c in item.changes or []] == [("wholesale_price", before, before + 1.5)]
    searched = content.page(q=reference.lower())
    assert {item.key for item in searched.items} == {item.key for item in changed.items}
    assert content.page(change="new").total == 0

    # Applying the reviewed preview sends exactly those items.
    applied = export(stack, "prices", trigger="apply", apply_run_id=preview["run_id"])
    assert applied["counters"]["accepted"] == colours, applied.get("message")
    assert [(r.path, r.items) for r in stack.lnb.data_calls()] == [("/multi/prices", colours)]


def test_snapshots_from_before_the_old_values_show_no_old_value_and_nothing_looks_changed(
    catalogued: LocalStack,  # noqa: F811
) -> None:
    stack = catalogued
    export(stack, "prices")
    bucket = stack.names["STAGING_BUCKET"]
    # The release before kept only digests: no file of sent values beside the snapshot.
    stack.s3.delete_object(Bucket=bucket, Key=SentValues.key("prices"))
    unchanged = export(stack, "prices", preview=True)
    content = read_preview(previews(stack), unchanged["run_id"])
    assert content.summary.would_send == 0  # the upgrade changed no digest
    reference = one_price_model(stack)
    stack.fastmag.execute("UPDATE tarifs SET prix = prix + 1 WHERE barcode = ? AND tarif = 'GROS'", (reference,))
    changed = read_preview(previews(stack), export(stack, "prices", preview=True)["run_id"]).page(change="changed")
    assert changed.total > 0
    assert all(item.changes is None for item in changed.items)  # old value unknown, not invented


def test_an_old_value_the_snapshot_moved_past_is_never_shown(catalogued: LocalStack) -> None:  # noqa: F811
    stack = catalogued
    export(stack, "prices")
    bucket = stack.names["STAGING_BUCKET"]
    reference = one_price_model(stack)
    # Another run moved the snapshot without this file following (a lost write): its values no longer match.
    key = SentValues.key("prices")
    document = json.loads(gzip.decompress(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    for item_key, value in document["values"].items():
        if f"|{reference}|" in item_key:
            value["digest"] = "not-the-snapshots"
    stack.s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps(document).encode()))
    stack.fastmag.execute("UPDATE tarifs SET prix = prix + 1 WHERE barcode = ? AND tarif = 'GROS'", (reference,))
    changed = read_preview(previews(stack), export(stack, "prices", preview=True)["run_id"]).page(change="changed")
    assert changed.total > 0 and all(item.changes is None for item in changed.items)
    assert SnapshotStore(stack.s3, bucket).load("prices").entries  # the snapshot itself is untouched


@pytest.mark.parametrize("flow", ["products", "customers"])
def test_new_records_are_counted_per_resource(stack: LocalStack, flow: str) -> None:
    preview = export(stack, flow, preview=True)
    content = read_preview(previews(stack), preview["run_id"])
    lines = stack.preview_lines(preview["run_id"])
    for resource, counts in content.summary.resources.items():
        assert counts.new == sum(1 for line in lines if line.get("resource") == resource and line["change"] == "new")
    assert content.summary.skipped == preview["counters"]["skipped"]
    assert content.summary.warnings == preview["counters"]["warnings"]
    assert content.page(change="skipped").total == preview["counters"]["skipped"]
