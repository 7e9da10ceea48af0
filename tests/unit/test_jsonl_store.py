"""The one gzip JSON Lines store under previews, task logs and readiness reports."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connector.errors import ConnectorError
from connector.jsonl_store import JsonLinesStore
from tests.unit.s3_bucket import BUCKET


class Gone(LookupError):
    pass


def store(s3: Any, **options: Any) -> JsonLinesStore:
    return JsonLinesStore(s3, BUCKET, prefix="kind/", what="thing", **options)


def test_lines_come_back_in_order_with_their_metadata(s3: Any) -> None:
    files = store(s3, format_version=2)
    lines = [{"key": "a", "text": 'line\nbreak, "quoted" é'}, {"key": "b", "n": 1}, {}]
    key = files.write(files.key("run-1"), lines, metadata={"flow": "stock"})
    assert key == "kind/run-1.jsonl.gz"
    metadata, read = files.read(key)
    assert list(read) == lines
    assert metadata == {"flow": "stock", "format": "2"}


def test_same_lines_same_bytes(s3: Any) -> None:
    files = store(s3)
    files.write("kind/a.jsonl.gz", [{"x": 1}])
    first = s3.get_object(Bucket=BUCKET, Key="kind/a.jsonl.gz")["Body"].read()
    files.write("kind/a.jsonl.gz", [{"x": 1}])
    assert s3.get_object(Bucket=BUCKET, Key="kind/a.jsonl.gz")["Body"].read() == first
    assert gzip.decompress(first) == b'{"x":1}\n'


def test_a_newer_format_is_refused_not_misread(s3: Any) -> None:
    store(s3, format_version=3).write("kind/new.jsonl.gz", [{"x": 1}])
    with pytest.raises(ConnectorError, match="thing new has format 3, this connector reads up to 2: do this"):
        store(s3, format_version=2, newer_hint=": do this").read("kind/new.jsonl.gz", "new")[1]


def test_a_file_without_format_reads_as_format_one(s3: Any) -> None:
    store(s3).write("kind/old.jsonl.gz", [{"x": 1}])
    assert list(store(s3, format_version=1).read("kind/old.jsonl.gz")[1]) == [{"x": 1}]


def test_missing_raises_what_the_kind_says_or_the_s3_error(s3: Any) -> None:
    with pytest.raises(Gone, match="no run-9"):
        store(s3, missing=lambda name: Gone(f"no {name}")).read("kind/run-9.jsonl.gz", "run-9")
    with pytest.raises(ClientError):
        store(s3).read("kind/run-9.jsonl.gz")


def test_names_lists_only_this_kind(s3: Any) -> None:
    files = store(s3)
    for name in ("b", "a"):
        files.write(files.key(name), [{}])
    s3.put_object(Bucket=BUCKET, Key="kind/notes.txt", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="other/c.jsonl.gz", Body=b"")
    assert sorted(files.names()) == ["a", "b"]
