"""The images upload (UploadImagesFunction): one S3 event of the staging bucket per file.

A created file is checked (its name, its product colour, its content) and put in its Le New Black slot; a removed
file empties its slot. Files the export staged and files dropped by hand take the same path. After each upload LNB
accepted, an upload marker tells the next export that this photo reached its slot (connector/staging.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from connector import retry
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

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

    from connector.services import Services


@dataclass(frozen=True)
class Outcome:
    """What became of one file event: logged once, counted in the metrics, answered by the handler."""

    event: str  # record.sent, record.deleted, record.rejected, record.skipped
    key: str
    reason: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        level = "INFO" if self.event in {"record.sent", "record.deleted"} else "WARNING"
        log_record(self.event, self.key, reason=self.reason, level=level, **self.fields)
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


def upload_file(services: Services, s3_key: str) -> Outcome:
    """Put one file of images/ in its LNB slot, after checking its name, its product colour and its content."""
    try:
        image = parse_key(s3_key)
    except ValidationProblem as problem:
        return Outcome("record.skipped", s3_key, f"file {s3_key} {problem.reason}")
    if image.colour not in services.snapshots.load(COLOURS).entries:
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


def handle_file_event(event: S3EventBridgeNotificationEvent, services: Services) -> dict[str, Any]:
    """One S3 event of the staging bucket (through EventBridge): upload a created file, empty a removed one's slot.

    Outside the flow runs (no run record, no lock): each file is its own small run, whose outcome is one log
    line with a reason, keyed by the slot, under run_id `images-file-<event id>`.
    """
    bind_run(flow=RESOURCE, run_id=f"images-file-{event.get_id}", trigger="s3")
    detail = event.detail
    s3_key = detail.object.key
    if detail.bucket.name != services.bucket:
        outcome = Outcome("record.skipped", s3_key, f"bucket {detail.bucket.name} is not the staging bucket")
    elif event.detail_type == "Object Created":
        outcome = upload_file(services, s3_key)
    elif event.detail_type == "Object Deleted":
        outcome = delete_file(services, s3_key)
    else:
        outcome = Outcome("record.skipped", s3_key, f"S3 event {event.detail_type!r} changes no image")
    return outcome.record()
