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


def test_a_preview_records_its_format(stack: LocalStack) -> None:
    preview = run_flow(stack, "customers", preview=True)
    head = stack.s3.head_object(Bucket=stack.names["STAGING_BUCKET"], Key=preview["preview_key"])
    assert head["Metadata"] == {"format": str(PREVIEW_FORMAT)}
