"""Snapshots in S3 (moto): conditional saves that merge a concurrent run's save, the format envelope, and the
botocore the conditional writes need."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
import botocore
import botocore.session
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from connector import state
from connector.state import (
    MIN_BOTOCORE,
    SAVE_RETRIES,
    Snapshot,
    SnapshotConflict,
    SnapshotFormatError,
    SnapshotStore,
    forget_kept_snapshots,
    require_botocore,
)
from tests.unit.s3_bucket import BUCKET

ANY_PUT = {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "ContentType": ANY}


@pytest.fixture
def store(s3: Any) -> SnapshotStore:
    return SnapshotStore(s3, BUCKET)


def stored(s3: Any, flow: str) -> Any:
    body = s3.get_object(Bucket=BUCKET, Key=SnapshotStore.key(flow))["Body"].read()
    return json.loads(gzip.decompress(body))


def puts(s3: Any) -> list[dict[str, Any]]:
    """Records the parameters of every put_object this client sends."""
    calls: list[dict[str, Any]] = []
    s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: calls.append(dict(params)))
    return calls


def before_each_put(s3: Any, action: Callable[[], None]) -> None:
    s3.meta.events.register("before-call.s3.PutObject", lambda **_: action())


def concurrent_run(s3: Any, flow: str, **accepted: str) -> None:
    """Another run of the flow: its own client, load, accept, save."""
    other = SnapshotStore(boto3.client("s3", region_name="eu-west-1"), BUCKET)
    snapshot = other.load(flow)
    for key, value in accepted.items():
        snapshot.accept(key, value)
    other.save(snapshot)


def test_a_snapshot_of_the_bare_format_loads_with_the_same_entries_and_is_saved_in_the_envelope(
    s3: Any, store: SnapshotStore
) -> None:
    old = {"3700000000001": "5", "format": "a digest, not a format number", "M1": "ab12"}
    s3.put_object(Bucket=BUCKET, Key=SnapshotStore.key("stock"), Body=gzip.compress(json.dumps(old).encode()))
    snapshot = store.load("stock")
    assert dict(snapshot.entries) == old
    snapshot.accept("3700000000002", "7")
    store.save(snapshot)
    assert stored(s3, "stock") == {"format": 2, "entries": {**old, "3700000000002": "7"}}
    assert dict(store.load("stock").entries) == {**old, "3700000000002": "7"}


def test_a_snapshot_of_an_unknown_format_is_refused_not_misread(s3: Any, store: SnapshotStore) -> None:
    document = {"format": 3, "entries": {"A": "1"}}
    s3.put_object(Bucket=BUCKET, Key=SnapshotStore.key("stock"), Body=gzip.compress(json.dumps(document).encode()))
    with pytest.raises(SnapshotFormatError, match="format 3"):
        store.load("stock")


def test_first_save_is_create_only_and_later_saves_match_the_version_read(s3: Any, store: SnapshotStore) -> None:
    calls = puts(s3)
    snapshot = store.load("products")
    snapshot.accept("M1", "d1")
    store.save(snapshot)
    first_version = snapshot.version
    snapshot.accept("M2", "d2")
    store.save(snapshot)
    assert [(call.get("IfNoneMatch"), call.get("IfMatch")) for call in calls] == [("*", None), (None, first_version)]
    assert first_version is not None


def test_a_concurrent_first_save_is_detected_and_both_runs_keep_their_keys(s3: Any, store: SnapshotStore) -> None:
    calls = puts(s3)
    mine = store.load("customers")  # no snapshot yet
    mine.accept("C1", "d1")
    concurrent_run(s3, "customers", C2="d2")  # saved first, between this run's load and save
    store.save(mine)
    assert [call.get("IfNoneMatch") for call in calls] == ["*", None]  # refused, then merged and matched
    assert stored(s3, "customers")["entries"] == {"C1": "d1", "C2": "d2"}


def test_two_saves_racing_keep_both_runs_accepted_keys_and_removals(s3: Any, store: SnapshotStore) -> None:
    first = store.load("images")
    first.accept("A", "1")
    first.accept("B", "1")
    store.save(first)
    mine = store.load("images")
    mine.accept("C", "mine")
    mine.forget("A")
    concurrent_run(s3, "images", D="theirs", B="1")
    store.save(mine)
    assert stored(s3, "images")["entries"] == {"B": "1", "C": "mine", "D": "theirs"}
    assert dict(mine.entries) == {"B": "1", "C": "mine", "D": "theirs"}
    assert mine.version == s3.head_object(Bucket=BUCKET, Key=SnapshotStore.key("images"))["ETag"]


def test_a_key_both_runs_changed_differently_is_dropped_so_it_is_sent_again(s3: Any, store: SnapshotStore) -> None:
    mine = store.load("stock")
    mine.accept("3700000000001", "4")
    mine.accept("3700000000002", "9")
    concurrent_run(s3, "stock", **{"3700000000001": "6", "3700000000002": "9"})
    store.save(mine)
    # Which quantity LNB holds for ...01 is unknown: without an entry, the next run pushes it again.
    assert stored(s3, "stock")["entries"] == {"3700000000002": "9"}


def test_a_snapshot_deleted_since_it_was_read_is_saved_again_with_this_runs_keys(s3: Any, store: SnapshotStore) -> None:
    concurrent_run(s3, "prices", K1="1")
    mine = store.load("prices")
    mine.accept("K2", "2")
    s3.delete_object(Bucket=BUCKET, Key=SnapshotStore.key("prices"))
    store.save(mine)
    assert stored(s3, "prices")["entries"] == {"K2": "2"}  # K1 was removed by whoever deleted it


def test_a_save_refused_on_every_retry_fails_with_a_clear_message(s3: Any, store: SnapshotStore) -> None:
    calls = puts(s3)
    mine = store.load("stock")
    mine.accept("3700000000001", "4")
    store.save(mine)
    mine.accept("3700000000002", "5")
    writes = iter(range(100))
    before_each_put(s3, lambda: concurrent_run(s3, "stock", **{f"other-{next(writes)}": "1"}))
    with pytest.raises(SnapshotConflict, match=r"snapshot stock could not be saved: another run saved it each of 4"):
        store.save(mine)
    assert len(calls) == 1 + 1 + SAVE_RETRIES  # the first save, then the refused one and its retries
    assert "3700000000002" not in stored(s3, "stock")["entries"]


def test_nothing_to_save_writes_nothing(s3: Any, store: SnapshotStore) -> None:
    calls = puts(s3)
    store.save(store.load("stock"))
    assert calls == []


def test_a_botocore_without_if_match_on_put_object_is_refused() -> None:
    with pytest.raises(ImportError, match=r"botocore >= 1\.35\.69 .* found 1\.35\.68"):
        require_botocore("1.35.68")
    require_botocore("1.35.69")
    require_botocore("1.44.8")
    # The minimum is not a guess about the installed one: its own model has the parameter.
    model = botocore.session.get_session().get_service_model("s3")
    assert "IfMatch" in model.operation_model("PutObject").input_shape.members
    assert tuple(int(part) for part in botocore.__version__.split(".")[:3]) >= MIN_BOTOCORE


def test_the_layer_refuses_to_import_with_an_old_botocore() -> None:
    code = "import botocore; botocore.__version__ = '1.34.162'; import connector.state"
    answer = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(), check=False, timeout=60
    )
    assert answer.returncode != 0
    assert "the connector needs botocore >= 1.35.69" in answer.stderr
    assert "found 1.34.162" in answer.stderr


def test_replace_records_only_what_changed(s3: Any, store: SnapshotStore) -> None:
    snapshot = Snapshot("images-colours", {"M1/RED": "Rouge", "M2/BLUE": "Bleu"}, None)
    snapshot.replace({"M1/RED": "Rouge", "M3/GREEN": "Vert"})
    assert dict(snapshot.entries) == {"M1/RED": "Rouge", "M3/GREEN": "Vert"}
    unchanged = Snapshot("images-colours", {"M1/RED": "Rouge"}, None)
    unchanged.replace({"M1/RED": "Rouge"})
    assert not unchanged.unsaved
    assert snapshot.unsaved


def test_a_409_from_concurrent_conditional_writes_is_retried_like_a_412() -> None:
    client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    body = gzip.compress(json.dumps({"format": 2, "entries": {"theirs": "1"}}).encode())
    with Stubber(client) as stub:
        stub.add_client_error("put_object", "ConditionalRequestConflict", http_status_code=409)
        stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(body), len(body)), "ETag": '"v2"'})
        stub.add_response("put_object", {"ETag": '"v3"'}, {**ANY_PUT, "IfMatch": '"v2"'})
        snapshot = Snapshot("stock", {}, '"v1"')
        snapshot.accept("mine", "2")
        SnapshotStore(client, BUCKET).save(snapshot)
    assert dict(snapshot.entries) == {"theirs": "1", "mine": "2"}
    assert snapshot.version == '"v3"'


def test_marks_are_saved_with_the_entries_and_this_runs_marks_win_a_rebase(s3: Any, store: SnapshotStore) -> None:
    first = store.load("stock-ean13")
    first.accept("A", "1 7")
    first.mark("stock_changed_since", "2026-01-01 10:00:00")
    first.mark("stock_full_read_at", "2026-01-01T10:00:00+00:00")
    store.save(first)
    assert store.load("stock-ean13").marks == first.marks

    mine = store.load("stock-ean13")
    mine.mark("stock_changed_since", "2026-01-01 10:05:00")
    theirs = store.load("stock-ean13")
    theirs.accept("B", "2 8")
    theirs.mark("stock_full_read_at", "2026-01-01T10:04:00+00:00")
    store.save(theirs)
    store.save(mine)  # refused once, rebased on theirs
    saved = store.load("stock-ean13")
    assert dict(saved.entries) == {"A": "1 7", "B": "2 8"}
    assert saved.marks == {
        "stock_changed_since": "2026-01-01 10:05:00",
        "stock_full_read_at": "2026-01-01T10:04:00+00:00",
    }


def test_a_mark_set_to_what_it_holds_leaves_nothing_to_save(s3: Any, store: SnapshotStore) -> None:
    snapshot = store.load("stock-ean13")
    snapshot.mark("stock_changed_since", "2026-01-01 10:00:00")
    store.save(snapshot)
    again = store.load("stock-ean13")
    again.mark("stock_changed_since", "2026-01-01 10:00:00")
    assert not again.unsaved


# --- the copy a warm container keeps -------------------------------------------------------------------------


def gets(s3: Any) -> list[dict[str, Any]]:
    """Records the parameters of every get_object this client sends."""
    calls: list[dict[str, Any]] = []
    s3.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: calls.append(dict(params)))
    return calls


def saved_with(store: SnapshotStore, flow: str, **entries: str) -> Snapshot:
    snapshot = store.load(flow)
    for key, value in entries.items():
        snapshot.accept(key, value)
    snapshot.mark("stock_changed_since", "2026-01-01 10:00:00")
    store.save(snapshot)
    return snapshot


def test_a_warm_load_asks_only_whether_the_snapshot_moved_and_parses_nothing(
    s3: Any, store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = saved_with(store, "stock-ean13", A="1 7", B="2 8")
    calls = gets(s3)
    monkeypatch.setattr(state, "read_stored_json", lambda _: pytest.fail("the unchanged snapshot was parsed"))
    again = store.load("stock-ean13")
    assert calls == [{"Bucket": BUCKET, "Key": SnapshotStore.key("stock-ean13"), "IfNoneMatch": saved.version}]
    assert (dict(again.entries), dict(again.marks), again.version) == (
        {"A": "1 7", "B": "2 8"},
        {"stock_changed_since": "2026-01-01 10:00:00"},
        saved.version,
    )
    # The next save still matches the version S3 holds.
    again.accept("C", "3 9")
    store.save(again)
    assert stored(s3, "stock-ean13")["entries"] == {"A": "1 7", "B": "2 8", "C": "3 9"}


def test_a_snapshot_another_container_saved_is_read_from_s3_not_from_the_copy(s3: Any, store: SnapshotStore) -> None:
    saved_with(store, "stock-ean13", A="1 7")
    theirs = {"format": 2, "entries": {"B": "2 8"}, "marks": {"stock_changed_since": "2026-01-01 10:05:00"}}
    key = SnapshotStore.key("stock-ean13")
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(json.dumps(theirs).encode()))
    loaded = store.load("stock-ean13")
    assert (dict(loaded.entries), dict(loaded.marks)) == (theirs["entries"], theirs["marks"])
    assert loaded.version == s3.head_object(Bucket=BUCKET, Key=key)["ETag"]


def test_changes_a_run_never_saved_are_not_seen_by_the_next_run(s3: Any, store: SnapshotStore) -> None:
    saved_with(store, "stock-ean13", A="1 7")
    failed = store.load("stock-ean13")
    failed.accept("B", "2 8")
    failed.forget("A")
    failed.mark("stock_changed_since", "2026-01-01 10:05:00")  # and the run fails before its save
    loaded = store.load("stock-ean13")
    assert (dict(loaded.entries), dict(loaded.marks)) == ({"A": "1 7"}, {"stock_changed_since": "2026-01-01 10:00:00"})


def test_a_save_whose_answer_was_lost_is_read_back_from_s3(s3: Any, store: SnapshotStore) -> None:
    saved_with(store, "stock-ean13", A="1 7")
    run = store.load("stock-ean13")
    run.accept("B", "2 8")

    def lose_the_answer(**_: Any) -> None:
        raise ConnectionError("connection reset after the write")

    s3.meta.events.register("after-call.s3.PutObject", lose_the_answer)
    with pytest.raises(ConnectionError):
        store.save(run)
    s3.meta.events.unregister("after-call.s3.PutObject", lose_the_answer)
    assert dict(store.load("stock-ean13").entries) == {"A": "1 7", "B": "2 8"}  # what S3 holds: the write landed


def test_a_deleted_snapshot_loads_empty_though_a_copy_was_kept(s3: Any, store: SnapshotStore) -> None:
    saved_with(store, "stock-ean13", A="1 7")
    s3.delete_object(Bucket=BUCKET, Key=SnapshotStore.key("stock-ean13"))
    loaded = store.load("stock-ean13")
    assert (dict(loaded.entries), loaded.version) == ({}, None)


def test_two_loads_in_one_process_never_share_their_entries(s3: Any, store: SnapshotStore) -> None:
    saved_with(store, "stock-ean13", A="1 7")
    first, second = store.load("stock-ean13"), store.load("stock-ean13")
    first.accept("B", "2 8")
    second.forget("A")
    assert (dict(first.entries), dict(second.entries)) == ({"A": "1 7", "B": "2 8"}, {})
    # A run's changes after its save are its own: the copy kept at the save is not changed with them.
    store.save(first)
    first.accept("C", "3 9")
    assert dict(store.load("stock-ean13").entries) == {"A": "1 7", "B": "2 8"}


def test_a_cold_container_reads_the_whole_snapshot(s3: Any, store: SnapshotStore) -> None:
    saved_with(store, "stock-ean13", A="1 7")
    forget_kept_snapshots()
    calls = gets(s3)
    assert dict(store.load("stock-ean13").entries) == {"A": "1 7"}
    assert calls == [{"Bucket": BUCKET, "Key": SnapshotStore.key("stock-ean13")}]
