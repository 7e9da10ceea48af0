"""Images through ExportImagesFunction and UploadImagesFunction's real handlers, against the simulators and moto.

S3 sends no events in moto: `stack.deliver_s3_events()` hands the upload function the event S3 would have sent for
each object created or removed since the previous delivery.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from connector.errors import LeNewBlackError
from connector.flows.catalogue import fabric_code
from connector.runs import RunStore
from sandbox.fastmag_sim import photo_bytes
from sandbox.s3_events import object_event
from sandbox.seed import build_seed
from sandbox.stack import LocalStack
from sandbox.upload_queue import sqs_event
from tests.conftest import TaskLog
from tests.integration.conftest import NO_WAIT
from tests.integration.test_products import catalogue, export

type Slot = tuple[str, str, int]

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40)


@pytest.fixture
def small() -> Iterator[LocalStack]:
    """Twelve models (about 40 colours): the same catalogue generator, a run in a few seconds."""
    with LocalStack(build_seed(models=12), settings_document=NO_WAIT) as local:
        export(local, "products")
        yield local


def fastmag_photos(stack: LocalStack) -> dict[Slot, bytes]:
    """Independent of the flow: every photo the Fastmag simulator serves, by LNB slot."""
    per_colour = stack.fastmag.switches.photos_per_colour
    return {
        (reference, fabric_code(colour, sheet.matiere), index): photo_bytes(reference.lower(), colour.lower(), index)
        for reference, (sheet, by_colour) in catalogue(stack.seed).items()
        for colour in by_colour
        for index in range(1, per_colour + 1)
    }


def held(stack: LocalStack) -> dict[Slot, bytes]:
    return {slot: image.content for slot, image in stack.lnb.images.items()}


def uploads(stack: LocalStack) -> list[Any]:
    return [r for r in stack.lnb.data_calls() if r.path.startswith("/files/products")]


def put_file(stack: LocalStack, key: str, body: bytes) -> None:
    """A file dropped by hand in the bucket."""
    stack.s3.put_object(Bucket=stack.names["STAGING_BUCKET"], Key=key, Body=body)


def a_colour(stack: LocalStack) -> tuple[str, str, str]:
    """(model, colour, fabric code) of the first exported colour."""
    reference, (sheet, by_colour) = next(iter(catalogue(stack.seed).items()))
    colour = next(iter(by_colour))
    return reference, colour, fabric_code(colour, sheet.matiere)


def test_seed_photos_reach_their_lnb_slots_once(stack: LocalStack) -> None:
    export(stack, "products")
    expected = fastmag_photos(stack)

    first = export(stack, "images")
    answers = stack.deliver_s3_events()

    assert first["status"] == "succeeded", first.get("errors")
    assert first["counters"]["sent"] == first["counters"]["read"] == len(expected)
    assert {answer["event"] for answer in answers} == {"record.sent"}
    assert held(stack) == expected
    for image in stack.lnb.images.values():
        assert image.sha256 == hashlib.sha256(image.content).hexdigest()
        assert image.content_type == "image/jpeg"
    staged = stack.s3.head_object(Bucket=stack.names["STAGING_BUCKET"], Key="images/CH2301/BLANC_CACHEMIRE/1.jpg")
    assert staged["Metadata"]["sha256"] == hashlib.sha256(expected[("CH2301", "BLANC_CACHEMIRE", 1)]).hexdigest()
    assert staged["Metadata"]["source"] == "fastmag-cdn:CH2301/BLANC/1"

    stack.lnb.clear_requests()
    second = export(stack, "images")
    assert second["counters"]["sent"] == 0
    assert second["counters"]["unchanged"] == len(expected)
    assert stack.deliver_s3_events() == []
    assert uploads(stack) == []


def test_a_replaced_photo_is_staged_and_uploaded_alone(small: LocalStack) -> None:
    export(small, "images")
    small.deliver_s3_events()
    small.lnb.clear_requests()
    model, colour, code = a_colour(small)
    new = small.fastmag.replace_photo(model, colour, 2)

    result = export(small, "images")
    answers = small.deliver_s3_events()

    assert result["counters"]["sent"] == 1
    assert answers == [
        {
            "event": "record.sent",
            "key": f"{model}/{code}/2",
            "file": f"images/{model}/{code}/2.jpg",
            "sha256": hashlib.sha256(new).hexdigest(),
            "bytes": len(new),
        }
    ]
    assert len(uploads(small)) == 1
    assert held(small) == {**fastmag_photos(small), (model, code, 2): new}


def test_a_file_for_an_unknown_colour_is_reported_not_uploaded(small: LocalStack, task_log: TaskLog) -> None:
    export(small, "images")
    small.deliver_s3_events()
    small.lnb.clear_requests()
    model, _, code = a_colour(small)
    key = f"images/{model}/{code}X/1.jpg"  # a typo in the fabric code
    put_file(small, key, photo_bytes("any", "photo", 1))

    (answer,) = small.deliver_s3_events()
    result = export(small, "images")

    assert answer["event"] == "record.skipped"
    assert answer["key"] == f"{model}/{code}X/1"
    assert "matches no exported product colour" in answer["reason"]
    assert uploads(small) == []
    assert (model, f"{code}X", 1) not in small.lnb.images
    # The export run reports it too, on the status page.
    assert result["status"] == "partial"
    assert result["errors"] == {"file matches no exported product colour: check its model and fabric code": 1}
    reported = {(line["key"], line["file"]) for line in task_log.events("record.skipped")}
    assert reported == {(f"{model}/{code}X/1", key)}


def test_a_text_file_named_jpg_is_rejected(small: LocalStack) -> None:
    export(small, "images")
    small.deliver_s3_events()
    model, _, code = a_colour(small)
    put_file(small, f"images/{model}/{code}/5.jpg", b"prix de gros 2026\n")

    (answer,) = small.deliver_s3_events()

    assert answer["event"] == "record.rejected"
    assert answer["reason"].startswith(f"file images/{model}/{code}/5.jpg: not a JPEG, PNG or WebP image")
    assert (model, code, 5) not in small.lnb.images


def test_a_photo_dropped_by_hand_is_uploaded_and_kept(small: LocalStack) -> None:
    export(small, "images")
    small.deliver_s3_events()
    model, _, code = a_colour(small)
    put_file(small, f"images/{model}/{code}/6.png", PNG)

    (answer,) = small.deliver_s3_events()
    result = export(small, "images")

    assert answer["event"] == "record.sent"
    assert small.lnb.images[(model, code, 6)].content == PNG
    assert small.lnb.images[(model, code, 6)].content_type == "image/png"
    assert result["status"] == "succeeded"
    assert small.deliver_s3_events() == []


def test_the_s3_event_handler_with_the_sample_events(small: LocalStack) -> None:
    export(small, "images")
    slot = ("CH2301", "BLANC_CACHEMIRE", 1)
    created, removed = small.event("s3_object_created"), small.event("s3_object_removed")
    assert (
        created["detail"]["object"]["key"]
        == removed["detail"]["object"]["key"]
        == "images/CH2301/BLANC_CACHEMIRE/1.jpg"
    )

    answer = small.upload(created)
    assert answer["event"] == "record.sent"
    assert small.lnb.images[slot].content == photo_bytes("ch2301", "blanc", 1)

    # A removed file's event acts on the bucket as it is now: while the file is there, its slot keeps it.
    assert small.upload(removed)["event"] == "record.sent"
    assert small.lnb.images[slot].content == photo_bytes("ch2301", "blanc", 1)

    small.s3.delete_object(Bucket=small.names["STAGING_BUCKET"], Key="images/CH2301/BLANC_CACHEMIRE/1.jpg")
    answer = small.upload(removed)
    assert answer == {
        "event": "record.deleted",
        "key": "CH2301/BLANC_CACHEMIRE/1",
        "file": "images/CH2301/BLANC_CACHEMIRE/1.jpg",
    }
    assert slot not in small.lnb.images
    # The create event delivered after the delete (a standard queue keeps no order) leaves the slot empty.
    assert small.upload(created)["event"] == "record.skipped"
    assert slot not in small.lnb.images


def test_deleting_a_staged_file_empties_its_slot_until_the_next_export(small: LocalStack) -> None:
    export(small, "images")
    small.deliver_s3_events()
    model, _, code = a_colour(small)
    small.s3.delete_object(Bucket=small.names["STAGING_BUCKET"], Key=f"images/{model}/{code}/3.jpg")

    (answer,) = small.deliver_s3_events()
    assert answer["event"] == "record.deleted"
    assert (model, code, 3) not in small.lnb.images

    # Fastmag still has the photo: the next export stages it again.
    assert export(small, "images")["counters"]["sent"] == 1
    small.deliver_s3_events()
    assert held(small) == fastmag_photos(small)


def test_a_photo_fastmag_no_longer_has_is_reported_until_its_file_is_deleted(small: LocalStack) -> None:
    export(small, "images")
    small.deliver_s3_events()
    model, colour, code = a_colour(small)
    small.fastmag.remove_photo(model, colour, 3)
    key = f"images/{model}/{code}/3.jpg"

    reported = export(small, "images")
    assert reported["status"] == "partial"
    assert reported["errors"] == {"Fastmag no longer has this photo: delete its file to empty the slot": 1}
    assert small.deliver_s3_events() == []  # the export deletes nothing: its role may not
    assert (model, code, 3) in small.lnb.images

    small.s3.delete_object(Bucket=small.names["STAGING_BUCKET"], Key=key)
    assert [a["event"] for a in small.deliver_s3_events()] == ["record.deleted"]
    assert export(small, "images")["status"] == "succeeded"
    expected = fastmag_photos(small)
    del expected[(model, code, 3)]
    assert held(small) == expected


def test_a_colour_without_any_image_is_reported(small: LocalStack) -> None:
    model, colour, _ = a_colour(small)
    small.fastmag.remove_photo(model, colour, 1)  # photos are read 1.. until the first missing one

    result = export(small, "images")

    reason = "no image: Fastmag has no photo of this colour and its folder under images/ holds no file"
    assert result["status"] == "partial"
    assert result["errors"] == {reason: 1}


def test_preview_lists_what_would_be_staged_and_changes_nothing(small: LocalStack) -> None:
    result = export(small, "images", preview=True)

    bucket = small.names["STAGING_BUCKET"]
    assert small.s3.list_objects_v2(Bucket=bucket, Prefix="images/")["KeyCount"] == 0
    assert small.s3.list_objects_v2(Bucket=bucket, Prefix="snapshots/images")["KeyCount"] == 0
    lines = small.preview_lines(result["run_id"])
    staged = {
        (line["payload"]["model"], line["payload"]["fabric_code"], line["payload"]["image_index"]) for line in lines[1:]
    }
    assert staged == set(fastmag_photos(small))
    assert lines[0]["summary"]["new"] == len(staged)
    assert small.deliver_s3_events() == []
    assert small.lnb.images == {}


def test_lnb_refusing_an_image_is_recorded_and_an_outage_is_retried_by_lambda(small: LocalStack) -> None:
    export(small, "images")
    model, _, code = a_colour(small)
    del small.lnb.products[model]  # the variant is gone from LNB
    bucket = small.names["STAGING_BUCKET"]

    answer = small.upload(object_event("created", bucket, f"images/{model}/{code}/1.jpg"))
    assert answer["event"] == "record.rejected"
    assert answer["http_status"] == 404
    assert answer["reason"].startswith("Le New Black refused the image:")

    other = next(key for key in small.lnb.products if key != model)
    small.lnb.fail_next("/files/products", 503, times=10)
    event = object_event(
        "created", bucket, f"images/{other}/{small.lnb.products[other]['variants'][0]['fabric_code']}/1.jpg"
    )
    with pytest.raises(LeNewBlackError, match="503"):
        small.upload(event)


def test_the_queue_delivers_a_failed_upload_again_then_keeps_it_dead(small: LocalStack) -> None:
    export(small, "images")
    small.deliver_s3_events()
    small.configure({"lenewblack": {"max_retries": 0}})  # one LNB call per delivery: the count below is the queue's
    model, _, code = a_colour(small)
    put_file(small, f"images/{model}/{code}/6.png", PNG)
    put_file(small, f"images/{model}/{code}/7.png", PNG)
    # One batch, file 6 then file 7: both fail on the 1st and 2nd delivery, file 6 again on its 3rd and last.
    small.lnb.fail_next("/files/products", 503, times=5)

    failed, sent = small.deliver_s3_events()

    assert failed["event"] == "record.failed"
    assert "503" in failed["reason"]
    assert sent["event"] == "record.sent"
    assert (model, code, 6) not in small.lnb.images
    assert small.lnb.images[(model, code, 7)].content == PNG
    (dead,) = small.upload_queue.dead_letters
    assert (dead.receives, json.loads(dead.body)["detail"]["object"]["key"]) == (3, f"images/{model}/{code}/6.png")


def _uploads(stack: LocalStack, run_id: str) -> dict[str, int]:
    record = RunStore(stack.table).get(run_id)
    assert record is not None
    assert record.uploads is not None
    return record.uploads.model_dump()


def test_the_export_run_shows_its_uploads_pending_done_and_failed_each_counted_once(small: LocalStack) -> None:
    result = export(small, "images")
    run_id, staged = result["run_id"], result["counters"]["sent"]
    assert _uploads(small, run_id) == {"uploaded": 0, "failed": 0, "pending": staged}
    model, _, _ = a_colour(small)
    del small.lnb.products[model]  # its colours' files are refused

    answers = small.deliver_s3_events()

    refused = [answer for answer in answers if answer["event"] == "record.rejected"]
    assert refused
    assert len(answers) == staged
    assert _uploads(small, run_id) == {"uploaded": staged - len(refused), "failed": len(refused), "pending": 0}
    # A duplicate delivery (at least once) uploads again but counts nothing twice; a file dropped by hand carries
    # no run and counts on none.
    sent = next(answer for answer in answers if answer["event"] == "record.sent")
    bucket = small.names["STAGING_BUCKET"]
    assert small.upload(object_event("created", bucket, sent["file"]))["event"] == "record.sent"
    other, _, code = next((m, c, f) for m, c, f in _colours(small) if m != model)
    put_file(small, f"images/{other}/{code}/7.png", PNG)
    assert [answer["event"] for answer in small.deliver_s3_events()] == ["record.sent"]
    assert _uploads(small, run_id) == {"uploaded": staged - len(refused), "failed": len(refused), "pending": 0}
    # The run's JSON carries them.
    assert small.run_record(run_id).get("uploads") is None  # never stored in the record itself
    record = RunStore(small.table).get(run_id)
    assert record is not None
    assert record.model_dump(mode="json")["uploads"]["failed"] == len(refused)


def _colours(stack: LocalStack) -> list[tuple[str, str, str]]:
    return [
        (reference, colour, fabric_code(colour, sheet.matiere))
        for reference, (sheet, by_colour) in catalogue(stack.seed).items()
        for colour in by_colour
    ]


def test_a_staged_file_failing_every_delivery_is_dead_and_counted_failed_until_redriven(small: LocalStack) -> None:
    small.configure({"lenewblack": {"max_retries": 0}})  # one LNB call per delivery
    result = export(small, "images")
    run_id, staged = result["run_id"], result["counters"]["sent"]
    model, _, code = a_colour(small)
    key = f"images/{model}/{code}/1.jpg"
    small.lnb.fail_next("/files/products", 503, times=3)

    (failed,) = small.upload_queue.deliver([object_event("created", small.names["STAGING_BUCKET"], key)])

    assert failed["event"] == "record.failed"
    assert "503" in failed["reason"]
    (dead,) = small.upload_queue.dead_letters
    assert dead.receives == 3
    assert _uploads(small, run_id) == {"uploaded": 0, "failed": 1, "pending": staged - 1}
    # Redriven (here: every file's event, that one's again), it is uploaded, and counted so, once.
    assert {answer["event"] for answer in small.deliver_s3_events()} == {"record.sent"}
    assert _uploads(small, run_id) == {"uploaded": staged, "failed": 0, "pending": 0}


def test_the_lambda_handler_answers_the_event_source_with_the_failed_messages_only(small: LocalStack) -> None:
    export(small, "images")
    small.configure({"lenewblack": {"max_retries": 0}})
    bucket = small.names["STAGING_BUCKET"]
    keys = [f"images/{model}/{code}/1.jpg" for model, _, code in _colours(small)[:3]]
    batch = sqs_event(*(object_event("created", bucket, key) for key in keys))
    small.lnb.fail_next("/files/products", 503, times=1)  # the batch's first file

    answer = small.invoke("upload_images", batch)

    assert answer == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    assert {(model, code, 1) for model, _, code in _colours(small)[1:3]} <= set(small.lnb.images)
