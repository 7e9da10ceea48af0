"""The images upload (UploadImagesFunction): the S3 events of the staging bucket, queued, one file each.

A file present is checked (its name, its product colour, its content) and put in its Le New Black slot; a file
gone empties its slot. Files the export staged and files dropped by hand take the same path. After each upload LNB
accepted, an upload marker tells the next export that this photo reached its slot (connector/staging.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

from connector import retry
from connector.config import environment
from connector.errors import LeNewBlackError, ValidationProblem
from connector.flows.image_files import (
    COLOURS,
    MEDIA_EXTENSIONS,
    NO_COLOUR,
    RESOURCE,
    ImageKey,
    check_content,
    parse_key,
)
from connector.observability import bind_run, log_record, metrics
from connector.upload_tally import UploadOutcome, UploadTallyStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from connector.services import Services

# Outcomes of a present file, counted on the export run that staged it: sent is uploaded, any other is failed.
TALLIED = frozenset({"record.sent", "record.rejected", "record.skipped", "record.failed"})


@dataclass(frozen=True)
class Outcome:
    """What became of one file event: logged once, counted in the metrics, answered by the handler."""

    event: str  # record.sent, record.deleted, record.rejected, record.skipped, record.failed
    key: str
    reason: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        level = "INFO" if self.event in {"record.sent", "record.deleted"} else "WARNING"
        log_record(self.event, self.key, reason=self.reason, level=level, **self.fields)
        if metrics.dimension_set.get("flow") != RESOURCE:  # once per flush: a batch records several files
            metrics.add_dimension(name="flow", value=RESOURCE)
        metrics.add_metric(name=self.event.removeprefix("record."), unit=MetricUnit.Count, value=1)
        answer = {"event": self.event, "key": self.key, **self.fields}
        return answer | ({"reason": self.reason} if self.reason else {})


def _retryable(error: LeNewBlackError) -> bool:
    """Worth another try by Lambda (then the on-failure queue), as the retry table says (`by_lambda`)."""
    return retry.lnb_rule(error).by_lambda


def _read_file(services: Services, image: ImageKey, s3_key: str) -> tuple[bytes, str] | Outcome:
    """The file's content and proven media type, or the outcome that stops its upload."""
    max_bytes = services.settings.images.max_bytes
    file = services.staging.read(s3_key, max_bytes=max_bytes)
    if file is None:
        return Outcome("record.skipped", image.slot, f"file {s3_key} was removed before its upload")
    if file.content is None:
        reason = f"file {s3_key}: {file.size} bytes, over the {max_bytes}-byte limit (images.max_bytes)"
        return Outcome("record.rejected", image.slot, reason)
    try:
        return file.content, check_content(image.slot, file.content, max_bytes)
    except ValidationProblem as problem:
        return Outcome("record.rejected", image.slot, f"file {s3_key}: {problem.reason}")


class ExportedColours:
    """The product colours the last images export saved (snapshot `images-colours`), read once per batch: the
    batch was received after its files were staged, hence after the export saved the colours they belong to."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._entries: Mapping[str, str] | None = None

    def __contains__(self, colour: object) -> bool:
        if self._entries is None:
            self._entries = self._services.snapshots.load(COLOURS).entries
        return colour in self._entries


def upload_file(services: Services, s3_key: str, colours: ExportedColours | None = None) -> Outcome:
    """Put one file of images/ in its LNB slot, after checking its name, its product colour and its content."""
    try:
        image = parse_key(s3_key)
    except ValidationProblem as problem:
        return Outcome("record.skipped", s3_key, f"file {s3_key} {problem.reason}")
    if image.colour not in (colours if colours is not None else ExportedColours(services)):
        return Outcome("record.skipped", image.slot, f"{NO_COLOUR} (or run the images export first)", {"file": s3_key})
    read = _read_file(services, image, s3_key)
    if isinstance(read, Outcome):
        return read
    content, media = read
    sha256 = hashlib.sha256(content).hexdigest()
    filename = f"{image.model}_{image.fabric_code}_{image.index}.{MEDIA_EXTENSIONS[media]}"
    fields: dict[str, Any] = {"file": s3_key, "sha256": sha256, "bytes": len(content)}
    try:
        services.lnb.upload_product_image(image.model, image.fabric_code, image.index, content, filename, media)
    except LeNewBlackError as error:
        if _retryable(error):
            raise
        reason = f"Le New Black refused the image: {error}"
        return Outcome("record.rejected", image.slot, reason, {**fields, "http_status": error.http_status})
    services.staging.mark_uploaded(image.slot, sha256)
    return Outcome("record.sent", image.slot, fields=fields)


def delete_file(services: Services, s3_key: str) -> Outcome:
    """A file left images/: empty its LNB slot."""
    try:
        image = parse_key(s3_key)
    except ValidationProblem as problem:
        return Outcome("record.skipped", s3_key, f"file {s3_key} {problem.reason}")
    try:
        services.lnb.delete_product_image(image.model, image.fabric_code, image.index)
    except LeNewBlackError as error:
        if error.http_status == 404:
            return Outcome("record.skipped", image.slot, "the slot is already empty in Le New Black")
        if _retryable(error):
            raise
        return Outcome("record.rejected", image.slot, f"Le New Black refused to delete the image: {error}")
    return Outcome("record.deleted", image.slot, fields={"file": s3_key})


def _slot(s3_key: str) -> str:
    try:
        return parse_key(s3_key).slot
    except ValidationProblem:
        return s3_key


def _tally(services: Services, run_id: str | None, outcome: Outcome) -> None:
    """Count a staged file's outcome on the export run that staged it (a file dropped by hand has none)."""
    if run_id is not None and outcome.event in TALLIED:
        result: UploadOutcome = "uploaded" if outcome.event == "record.sent" else "failed"
        UploadTallyStore(services.table).record(run_id, outcome.key, result)


def sync_slot(
    services: Services, s3_key: str, *, last_try: bool = False, colours: ExportedColours | None = None
) -> Outcome:
    """Make the file's slot what the bucket holds now: a file there is uploaded, a file gone empties its slot.

    A standard queue does not keep a file's create and delete events in order, so the event only says which file
    to look at (a HEAD), never what to do. A retryable failure raises, for the queue to deliver the file again; the
    last delivery (`last_try`) first records it, since the queue then moves the message to its dead letter queue.
    """
    current = services.staging.head(s3_key)
    run_id = current.run_id if current is not None else None
    try:
        outcome = upload_file(services, s3_key, colours) if current is not None else delete_file(services, s3_key)
    except Exception as error:
        if last_try:
            reason = f"failed on every delivery, left in the dead letter queue: {error}"
            failed = Outcome("record.failed", _slot(s3_key), reason, {"file": s3_key, "staged_by": run_id})
            _tally(services, run_id, failed)
            failed.record()
        raise
    _tally(services, run_id, outcome)
    return outcome


def handle_file_event(
    event: S3EventBridgeNotificationEvent,
    services: Services,
    *,
    last_try: bool = False,
    colours: ExportedColours | None = None,
) -> dict[str, Any]:
    """One S3 event of the staging bucket (through EventBridge): bring its file's slot to the file's current state.

    Outside the flow runs (no lock): each file is its own small run, whose outcome is one log line with a reason,
    keyed by the slot, under run_id `images-file-<event id>`; a file the export staged also counts on that run.
    """
    bind_run(flow=RESOURCE, run_id=f"images-file-{event.get_id}", trigger="s3")
    detail = event.detail
    s3_key = detail.object.key
    if detail.bucket.name != services.bucket:
        outcome = Outcome("record.skipped", s3_key, f"bucket {detail.bucket.name} is not the staging bucket")
    elif event.detail_type in {"Object Created", "Object Deleted"}:
        outcome = sync_slot(services, s3_key, last_try=last_try, colours=colours)
    else:
        outcome = Outcome("record.skipped", s3_key, f"S3 event {event.detail_type!r} changes no image")
    return outcome.record()


def handle_message(
    record: SQSRecord, services: Services, *, max_receives: int, colours: ExportedColours
) -> dict[str, Any]:
    """One message of ImageUploadQueue: the S3 event EventBridge queued."""
    event = S3EventBridgeNotificationEvent(json.loads(record.body))
    last_try = int(record.attributes.approximate_receive_count) >= max_receives
    return handle_file_event(event, services, last_try=last_try, colours=colours)


@dataclass(frozen=True)
class UploadBatch:
    """A batch of ImageUploadQueue handled: the answer for the event source (the messages to deliver again), each
    file's outcome and each failure, by message id."""

    response: PartialItemFailureResponse
    answers: dict[str, dict[str, Any]]
    errors: dict[str, BaseException]


def upload_batch(event: dict[str, Any], services: Services, context: LambdaContext | None) -> UploadBatch:
    """A batch of ImageUploadQueue, one file after the other (the event source's MaximumConcurrency caps the
    batches in flight, hence the uploads in flight); only the files that failed go back to the queue, even when
    that is all of them (each failure is logged: the function itself does not fail)."""
    max_receives = environment().UPLOAD_MAX_RECEIVES
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    colours = ExportedColours(services)
    handler = partial(handle_message, services=services, max_receives=max_receives, colours=colours)
    with processor(records=event["Records"], handler=handler, lambda_context=context):
        processed = processor.process()
    answers = {record["messageId"]: answer for status, answer, record in processed if status == "success"}
    failed = [record["messageId"] for status, _, record in processed if status == "fail"]
    # processor.exceptions holds each failure's sys.exc_info(), in the order the records failed.
    errors = {
        message_id: error
        for message_id, (_, error, _) in zip(failed, processor.exceptions, strict=True)
        if error is not None
    }
    return UploadBatch(processor.response(), answers, errors)
