"""The staging store in S3 (moto): ETag listings, staging, reading, upload markers, and which staged photos are
still in place."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from connector.staging import Staged, StagedFile, StagedObject, StagingStore, staged_digests
from tests.unit.s3_bucket import BUCKET

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)


@pytest.fixture
def store(s3: Any) -> StagingStore:
    return StagingStore(s3, BUCKET)


def _stage(store: StagingStore, key: str, content: bytes = JPEG) -> Staged:
    sha256 = hashlib.sha256(content).hexdigest()
    return store.stage(
        key, content, sha256, media_type="image/jpeg", source="fastmag-photos:M%C3%89/NOIR/1", run_id="images-run-1"
    )


def _staged(sha: str, etag: str, key: str) -> str:
    return Staged(sha, etag, key).encode()


# --- pure: which staged photos are still in place ----------------------------------------------------------------


def test_staged_digests_keep_only_files_the_bucket_still_holds_untouched() -> None:
    manifest = {
        "M/F/1": _staged("a1", '"e1"', "images/M/F/1.jpg"),
        "M/F/2": _staged("a2", '"e2"', "images/M/F/2.jpg"),  # replaced by hand since
        "M/F/3": _staged("a3", '"e3"', "images/M/F/3.jpg"),  # deleted since
        "M G/F/1": _staged("b1", '"f1"', "images/M G/F/1.jpg"),
    }
    listing = {
        "images/M/F/1.jpg": '"e1"',
        "images/M/F/2.jpg": '"other"',
        "images/M G/F/1.jpg": '"f1"',
        "images/M/F/4.jpg": '"e4"',  # dropped by hand: not the export's
    }
    uploaded = {("M/F/1", "a1"), ("M G/F/1", "b1"), ("M/F/2", "a2")}
    assert staged_digests(manifest, listing, uploaded) == {"M/F/1": "a1", "M G/F/1": "b1"}


def test_a_staged_photo_lnb_never_accepted_counts_as_not_staged() -> None:
    manifest = {"M/F/1": _staged("new", '"e1"', "images/M/F/1.jpg")}
    listing = {"images/M/F/1.jpg": '"e1"'}
    assert staged_digests(manifest, listing, {("M/F/1", "old")}) == {}
    assert staged_digests(manifest, listing, {("M/F/1", "new")}) == {"M/F/1": "new"}


def test_staged_round_trips_keys_with_spaces() -> None:
    staged = Staged("abc", '"etag"', "images/TS 23/NOIR/1.jpg")
    assert Staged.decode(staged.encode()) == staged


# --- the store against S3 ----------------------------------------------------------------------------------------


def test_a_staged_file_is_listed_with_the_etag_its_stage_answered(s3: Any, store: StagingStore) -> None:
    staged = _stage(store, "images/MÉ 1/NOIR/1.jpg")
    _stage(store, "images/MÉ 1/NOIR/2.jpg", JPEG + b"2")
    s3.put_object(Bucket=BUCKET, Key="snapshots/images.json.gz", Body=b"{}")  # outside the prefix

    listing = store.files("images/")

    assert set(listing) == {"images/MÉ 1/NOIR/1.jpg", "images/MÉ 1/NOIR/2.jpg"}
    assert listing[staged.s3_key] == staged.etag
    assert listing["images/MÉ 1/NOIR/2.jpg"] != staged.etag
    head = s3.head_object(Bucket=BUCKET, Key=staged.s3_key)
    assert head["Metadata"] == {
        "sha256": staged.sha256,
        "source": "fastmag-photos:M%C3%89/NOIR/1",
        "run-id": "images-run-1",
    }
    assert head["ContentType"] == "image/jpeg"


def test_the_listing_reads_every_page() -> None:
    """S3 answers 1 000 keys a page: the listing follows the continuation token (stubbed, rather than 1 001 puts)."""
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        first = {"Bucket": BUCKET, "Prefix": "images/"}
        page = {"Contents": [{"Key": "images/M/F/1.jpg", "ETag": '"e1"'}], "IsTruncated": True}
        stub.add_response("list_objects_v2", {**page, "NextContinuationToken": "next"}, first)
        last = {"Contents": [{"Key": "images/M/F/2.jpg", "ETag": '"e2"'}], "IsTruncated": False}
        stub.add_response("list_objects_v2", last, {**first, "ContinuationToken": "next"})
        assert StagingStore(s3, BUCKET).files("images/") == {"images/M/F/1.jpg": '"e1"', "images/M/F/2.jpg": '"e2"'}
        stub.assert_no_pending_responses()


def test_staging_the_same_photo_again_writes_it_again(s3: Any, store: StagingStore) -> None:
    """Staging again is how a photo whose upload failed is sent again: S3 must see a new write (and so send a
    new event), even when the content is the same."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = _stage(store, "images/M/F/1.jpg")
    second = _stage(store, "images/M/F/1.jpg")

    assert first == second  # same content, same ETag: a manifest entry stays valid across both
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="images/M/F/1.jpg")["Versions"]
    assert len(versions) == 2


def test_a_photo_is_in_place_once_staged_and_marked_uploaded(s3: Any, store: StagingStore) -> None:
    staged = _stage(store, "images/M G/F/1.jpg")
    manifest = {"M G/F/1": staged.encode()}
    assert staged_digests(manifest, store.files("images/"), store.uploaded()) == {}  # not uploaded yet

    store.mark_uploaded("M G/F/1", staged.sha256)
    store.mark_uploaded("M G/F/2", "other")

    assert store.uploaded() == {("M G/F/1", staged.sha256), ("M G/F/2", "other")}
    assert staged_digests(manifest, store.files("images/"), store.uploaded()) == {"M G/F/1": staged.sha256}
    s3.put_object(Bucket=BUCKET, Key=staged.s3_key, Body=JPEG + b"by hand")  # replaced by hand
    assert staged_digests(manifest, store.files("images/"), store.uploaded()) == {}


def test_markers_are_empty_files_named_by_slot_and_hash(s3: Any, store: StagingStore) -> None:
    store.mark_uploaded("TS 23/NOIR/1", "abc")
    answer = s3.get_object(Bucket=BUCKET, Key="uploaded/TS 23/NOIR/1/abc")
    assert answer["Body"].read() == b""
    assert store.files("images/") == {}


def test_read_gives_the_content_or_none_once_removed(s3: Any, store: StagingStore) -> None:
    staged = _stage(store, "images/M/F/1.jpg")
    assert store.read(staged.s3_key, max_bytes=len(JPEG)) == StagedFile(len(JPEG), JPEG)
    s3.delete_object(Bucket=BUCKET, Key=staged.s3_key)
    assert store.read(staged.s3_key, max_bytes=len(JPEG)) is None


def test_a_file_over_the_limit_is_not_read(store: StagingStore) -> None:
    staged = _stage(store, "images/M/F/1.jpg")
    assert store.read(staged.s3_key, max_bytes=len(JPEG) - 1) == StagedFile(len(JPEG), None)


def test_read_raises_what_is_not_a_missing_file(s3: Any) -> None:
    with pytest.raises(ClientError, match="NoSuchBucket"):
        StagingStore(s3, "no-such-bucket").read("images/M/F/1.jpg", max_bytes=10)


def test_head_names_the_run_that_staged_the_file_and_none_once_it_is_gone(store: StagingStore, s3: Any) -> None:
    _stage(store, "images/M/F/1.jpg")
    s3.put_object(Bucket=BUCKET, Key="images/M/F/2.jpg", Body=JPEG)  # dropped by hand: no run
    assert store.head("images/M/F/1.jpg") == StagedObject(run_id="images-run-1")
    assert store.head("images/M/F/2.jpg") == StagedObject(run_id=None)
    s3.delete_object(Bucket=BUCKET, Key="images/M/F/1.jpg")
    assert store.head("images/M/F/1.jpg") is None
