"""Old → new in previews: the changed fields of two payloads, the values kept beside the snapshot, and a stored
preview read back as counts and paged items (previews of the earlier layout included)."""

from __future__ import annotations

import gzip
import json
from typing import Any

from connector.previews import PreviewStore, SentValues, field_changes, read_preview
from tests.unit.s3_bucket import BUCKET


def test_only_the_fields_that_differ_are_listed_old_to_new() -> None:
    old = {"model": "RO2301", "name": "Robe", "variants": [{"code": "NOIR", "skus": [{"ean13": "1", "size": "S"}]}]}
    new = {
        "model": "RO2301",
        "name": "Robe Élise",
        "variants": [{"code": "NOIR", "skus": [{"ean13": "2", "size": "S"}, {"ean13": "3", "size": "M"}]}],
        "is_new": True,
    }
    changes = [(c.field, c.old, c.new) for c in field_changes(old, new)]
    assert changes == [
        ("name", "Robe", "Robe Élise"),
        ("variants[0].skus[0].ean13", "1", "2"),
        ("variants[0].skus[1].ean13", None, "3"),
        ("variants[0].skus[1].size", None, "M"),
        ("is_new", None, True),
    ]
    assert [(c.field, c.old, c.new) for c in field_changes(new, old)][-1] == ("is_new", True, None)
    assert field_changes(old, old) == []
    assert len(field_changes({}, {str(n): n for n in range(200)})) == 50


def test_sent_values_keep_what_lnb_accepted_masked_and_follow_the_snapshot(s3: Any) -> None:
    values = SentValues(s3, BUCKET)
    assert values.load("customers") == {}
    values.update("customers", {"R1": ("d1", {"buyers": [{"email": "jeanne.durand@example.fr"}]})}, {"R1": "d1"})
    values.update("customers", {"R2": ("d2", {"name": "B"})}, {"R1": "d1", "R2": "d2"})
    assert values.load("customers") == {
        "R1": ("d1", {"buyers": [{"email": "j***@example.fr"}]}),
        "R2": ("d2", {"name": "B"}),
    }
    values.update("customers", {"R2": ("d3", {"name": "C"})}, {"R2": "d3"})  # R1 left the snapshot
    assert values.load("customers") == {"R2": ("d3", {"name": "C"})}
    values.update("customers", {}, {})  # nothing accepted: nothing written
    assert values.load("customers") == {"R2": ("d3", {"name": "C"})}


def test_a_file_of_a_newer_layout_is_ignored_not_fatal(s3: Any) -> None:
    body = gzip.compress(json.dumps({"format": 99, "whatever": {}}).encode())
    s3.put_object(Bucket=BUCKET, Key=SentValues.key("prices"), Body=body)
    assert SentValues(s3, BUCKET).load("prices") == {}


def test_a_preview_of_the_earlier_layout_is_counted_from_its_lines(s3: Any) -> None:
    store = PreviewStore(s3, BUCKET)
    lines = [
        {"summary": {"new": 2, "changed": 1, "unchanged": 5, "skipped": 1}, "base": {"products": "empty"}},
        {"resource": "fabrics", "key": "NOIR", "change": "new", "digest": "a", "payload": {"code": "NOIR"}},
        {"resource": "products", "key": "RO1", "change": "new", "digest": "b", "payload": {"model": "RO1"}},
        {"resource": "products", "key": "RO2", "change": "changed", "digest": "c", "payload": {"model": "RO2"}},
        {"key": "ZZ9", "change": "skipped", "reason": "no colour"},
    ]
    store.write("products-1", lines)
    content = read_preview(store, "products-1")
    assert {name: (c.new, c.changed) for name, c in content.summary.resources.items()} == {
        "fabrics": (1, 0),
        "products": (1, 1),
    }
    assert (content.summary.would_send, content.summary.skipped, content.summary.warnings) == (3, 1, 0)
    assert [item.key for item in content.page(change="changed").items] == ["RO2"]
    assert content.page(change="skipped").items[0].reason == "no colour"
    assert [item.key for item in content.page(q="ro", limit=1, offset=1).items] == ["RO2"]
    assert content.page(q="ro").total == 2
