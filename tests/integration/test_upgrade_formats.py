"""An upgrade from the previous release's snapshots (the bare-map format 1) sends nothing while Fastmag has not
changed, and a preview records its format."""

from __future__ import annotations

import gzip
import json

from connector.previews import PREVIEW_FORMAT
from connector.state import SnapshotStore
from sandbox.stack import LocalStack
from tests.integration.flows import run_flow


def rewrite_as_format_1(stack: LocalStack, flow: str) -> int:
    """The snapshot as the previous release wrote it: the entries alone, no envelope."""
    key = SnapshotStore.key(flow)
    bucket = stack.names["STAGING_BUCKET"]
    document = json.loads(gzip.decompress(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    entries = document["entries"]
    stack.s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps(entries).encode()))
    return len(entries)


def test_an_upgrade_from_format_1_snapshots_sends_nothing_when_fastmag_has_not_changed(stack: LocalStack) -> None:
    first = run_flow(stack, "customers")
    assert first["status"] == "succeeded" and first["counters"]["sent"] > 0
    kept = rewrite_as_format_1(stack, "customers")
    assert kept == first["counters"]["accepted"]
    stack.lnb.requests.clear()
    again = run_flow(stack, "customers")
    assert again["counters"]["sent"] == 0
    assert again["counters"]["unchanged"] == kept
    assert [request for request in stack.lnb.data_calls() if request.method != "GET"] == []


def test_an_upgrade_from_quantity_only_stock_entries_sends_nothing_then_keeps_the_variant(stack: LocalStack) -> None:
    first = run_flow(stack, "stock")
    assert first["counters"]["accepted"] > 0
    key = SnapshotStore.key("stock-ean13")
    bucket = stack.names["STAGING_BUCKET"]
    document = json.loads(gzip.decompress(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    # The previous release: a bare map of quantities, no variant.
    quantities = {ean: entry.partition(" ")[0] for ean, entry in document["entries"].items()}
    stack.s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps(quantities).encode()))
    stack.lnb.requests.clear()
    again = run_flow(stack, "stock")
    assert again["counters"]["sent"] == 0
    assert [request for request in stack.lnb.data_calls() if request.method != "GET"] == []
    # A change is sent alone, and the save that follows writes every entry in the new form.
    ean, quantity = next((ean, int(q)) for ean, q in quantities.items() if int(q) > 2)
    stack.fastmag.execute(
        "UPDATE stock SET stock = stock - 1 WHERE rowid = (SELECT s.rowid FROM stock s "
        "JOIN produits p ON p.barcode = s.barcode AND p.couleur = s.couleur AND p.taille = s.taille "
        "WHERE p.gencod = ? AND s.stock > 0 LIMIT 1)",
        (ean,),
    )
    third = run_flow(stack, "stock")
    assert third["counters"]["sent"] == 1
    saved = json.loads(gzip.decompress(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))["entries"]
    assert saved[ean].startswith(f"{quantity - 1} ")
    assert all(" " in entry for entry in saved.values())


def test_a_preview_records_its_format(stack: LocalStack) -> None:
    preview = run_flow(stack, "customers", preview=True)
    head = stack.s3.head_object(Bucket=stack.names["STAGING_BUCKET"], Key=preview["preview_key"])
    assert head["Metadata"] == {"format": str(PREVIEW_FORMAT)}
