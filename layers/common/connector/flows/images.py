"""Images: Fastmag photos → S3 `images/<model>/<fabric_code>/<index>.<ext>` → Le New Black `/files/products`.

Two halves joined by the bucket (ARCHITECTURE §2):
- the export (ExportImagesFunction, a flow run): read the products query → the exported product colours, exactly
  the products flow's (model, fabric_code) → fetch each colour's photos, 1..N until the first missing one, several
  colours at once → stage each photo whose sha256 changed → report colours without any image, files that match no
  exported colour, and staged photos Fastmag no longer has (only a person deletes files: deleting one empties its
  slot, and the export may not delete).
- the upload (UploadImagesFunction, one S3 event per file): check the name, the colour and the content, then put
  the file in its LNB slot, or empty the slot when the file is removed. Files dropped by hand take the same path.

How the export knows what is staged: its manifest (snapshot `images`) holds, per slot, the sha256 and the ETag S3
gave the object it staged. One ListObjectsV2 of `images/` (one call per 1 000 files, which the report needs
anyway) says which of those objects are still there untouched. Reading `x-amz-meta-sha256` with a HEAD would
cost one S3 call per photo on every run.

How it knows LNB got them: after each upload LNB accepted, the upload function writes an empty marker
`uploaded/<model>/<fabric_code>/<index>/<sha256>`; one listing of `uploaded/` tells the export which staged photos
reached their slot. A photo staged but never uploaded (LNB down through every retry) is staged again by the next
export, which sends it again: nothing waits on someone redriving the failure queue.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from connector.errors import FastmagError, LeNewBlackAuthError, LeNewBlackError, ValidationProblem
from connector.fastmag.queries import PRODUCTS
from connector.flows.context import FlowContext
from connector.flows.products import map_products
from connector.flows.sync import SNAPSHOT_SAVE_SECONDS, Outgoing, check_preview_still_holds, preview_items
from connector.observability import bind_run, log_record, metrics
from connector.services import Services
from connector.settings import Settings
from connector.state import Snapshot

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

PREFIX = "images/"
UPLOADED = "uploaded/"  # markers: uploaded/<slot>/<sha256>, one per photo LNB accepted
SLOTS = 8  # Le New Black holds images 1..8 per product colour
RESOURCE = "images"
MANIFEST = "images"  # snapshot: slot → "<sha256> <etag> <s3 key>" of what the export staged
COLOURS = "images-colours"  # snapshot: "<model>/<fabric_code>" → Fastmag colour, of every exported product colour

EXTENSIONS = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
MEDIA_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_KEY = re.compile(r"images/(?P<model>[^/]+)/(?P<fabric_code>[^/]+)/(?P<name>[^/]+)")
_INDEX = re.compile(r"[1-9][0-9]*")
NAMING = f"{PREFIX}<model>/<fabric_code>/<index 1..{SLOTS}>.<jpg|png|webp>"
# Reasons are the same words for every item, so a run's summary groups them; the item is on the log line.
NO_COLOUR = "file matches no exported product colour: check its model and fabric code"
NO_IMAGE = "no image: Fastmag has no photo of this colour and its folder under images/ holds no file"


# --- names and content (pure) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageKey:
    """One image slot of one product colour, as a file name in the bucket."""

    model: str
    fabric_code: str
    index: int
    extension: str

    @property
    def colour(self) -> str:
        return f"{self.model}/{self.fabric_code}"

    @property
    def slot(self) -> str:
        """The key of every log line about this image."""
        return f"{self.colour}/{self.index}"

    @property
    def s3_key(self) -> str:
        return f"{PREFIX}{self.slot}.{self.extension}"


def parse_key(key: str) -> ImageKey:
    """`images/TS2301/NOIR_COTON/2.jpg` → its slot; ValidationProblem says what is wrong with any other name."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise ValidationProblem(key, f"not named {NAMING}")
    stem, dot, extension = match["name"].rpartition(".")
    if not dot or extension.lower() not in EXTENSIONS:
        raise ValidationProblem(key, f"extension must be .jpg, .jpeg, .png or .webp ({NAMING})")
    if not _INDEX.fullmatch(stem) or int(stem) > SLOTS:
        raise ValidationProblem(key, f"image index {stem!r} is not a number from 1 to {SLOTS} ({NAMING})")
    return ImageKey(match["model"], match["fabric_code"], int(stem), extension.lower())


def image_type(content: bytes) -> str | None:
    """The media type the first bytes prove (JPEG, PNG or WebP), whatever the file is named."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_content(key: str, content: bytes, max_bytes: int) -> str:
    """The media type of an image Le New Black can take, or ValidationProblem with the reason."""
    if len(content) > max_bytes:
        raise ValidationProblem(key, f"{len(content)} bytes, over the {max_bytes}-byte limit (images.max_bytes)")
    media = image_type(content)
    if media is None:
        start = content[:8].hex(" ") or "nothing"
        raise ValidationProblem(key, f"not a JPEG, PNG or WebP image (the file starts with {start})")
    return media


# --- what is staged (pure) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    """A photo the export put in the bucket: its content hash and the ETag S3 answered."""

    sha256: str
    etag: str
    s3_key: str

    def encode(self) -> str:
        return f"{self.sha256} {self.etag} {self.s3_key}"

    @classmethod
    def decode(cls, value: str) -> Staged:
        sha256, etag, s3_key = value.split(" ", 2)
        return cls(sha256, etag, s3_key)


def uploaded_marker(slot: str, sha256: str) -> str:
    return f"{UPLOADED}{slot}/{sha256}"


def staged_digests(
    manifest: Mapping[str, str], listing: Mapping[str, str], uploaded: Collection[str]
) -> dict[str, str]:
    """slot → sha256 of the photos the export staged that are still in the bucket as it left them (same ETag)
    and that LNB accepted (their upload marker is there).

    A staged file someone replaced or deleted since is staged again: Fastmag is the source of the slots it fills.
    So is one whose upload never succeeded: staging it again is what sends it again.
    """
    digests: dict[str, str] = {}
    for slot, value in manifest.items():
        staged = Staged.decode(value)
        if listing.get(staged.s3_key) == staged.etag and uploaded_marker(slot, staged.sha256) in uploaded:
            digests[slot] = staged.sha256
    return digests


def stale_slots(manifest: Mapping[str, str], read: Mapping[str, set[str]]) -> list[str]:
    """Staged slots of colours whose photos were all read this run (`read`: colour → its slots in Fastmag now)
    that Fastmag no longer fills. A colour not fully read keeps everything it had."""
    return [slot for slot in manifest if (colour := slot.rsplit("/", 1)[0]) in read and slot not in read[colour]]


# --- the export --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Colour:
    """An exported product colour: LNB's (model, fabric_code) and the Fastmag colour its photos are filed under."""

    model: str
    fabric_code: str
    colour: str

    @property
    def key(self) -> str:
        return f"{self.model}/{self.fabric_code}"


def exported_colours(rows: Iterable[Mapping[str, str]], settings: Settings) -> list[Colour]:
    """Pure: the product colours the products flow exports, from the same rows and settings (skipped models and
    colliding fabric codes included), so an image never names a variant LNB was not sent."""
    return [
        Colour(model, variant["fabric_code"], variant["fabric_color_name"])
        for model, product in map_products(rows, settings).products.items()
        for variant in product["variants"]
    ]


@dataclass(frozen=True)
class Photo:
    key: ImageKey
    sha256: str
    size: int
    changed: bool
    staged: Staged | None = None  # set when this run put it in the bucket

    def outgoing(self) -> Outgoing:
        payload = {
            "model": self.key.model,
            "fabric_code": self.key.fabric_code,
            "image_index": self.key.index,
            "file": self.key.s3_key,
            "sha256": self.sha256,
            "bytes": self.size,
        }
        return Outgoing(self.key.slot, payload, fingerprint=self.sha256)


@dataclass
class ColourPhotos:
    colour: Colour
    photos: list[Photo] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (slot, reason)
    complete: bool = True  # every index was answered (a missing photo counts as an answer)

    def slots(self) -> set[str]:
        return {photo.key.slot for photo in self.photos} | {slot for slot, _ in self.problems}


@dataclass(frozen=True)
class _Reader:
    """Fetches one colour's photos and stages the changed ones; runs in a worker thread, so it only touches
    thread-safe clients and returns what the main thread records."""

    ctx: FlowContext
    staged: Mapping[str, str]
    stage: bool

    def __call__(self, colour: Colour) -> ColourPhotos:
        settings = self.ctx.settings
        result = ColourPhotos(colour)
        for index in range(1, min(settings.fastmag.photos.max_index, SLOTS) + 1):
            slot = f"{colour.key}/{index}"
            try:
                content = self.ctx.fastmag.photo(colour.model, colour.colour, index)
            except FastmagError as error:
                result.problems.append((slot, f"photo {index} of {colour.model} {colour.colour}: {error}"))
                result.complete = False
                break
            if content is None:
                break
            try:
                media = check_content(slot, content, settings.images.max_bytes)
            except ValidationProblem as problem:
                result.problems.append((slot, f"Fastmag photo {problem.reason}"))
                continue
            key = ImageKey(colour.model, colour.fabric_code, index, MEDIA_EXTENSIONS[media])
            result.photos.append(self._photo(colour, key, content, media))
        return result

    def _photo(self, colour: Colour, key: ImageKey, content: bytes, media: str) -> Photo:
        sha256 = hashlib.sha256(content).hexdigest()
        changed = self.ctx.run.request.full or self.staged.get(key.slot) != sha256
        staged = None
        if changed and self.stage:
            services = self.ctx.services
            # S3 metadata travels in HTTP headers: ASCII only, hence the quoted reference and colour.
            source = f"fastmag-{self.ctx.settings.fastmag.photos.source}:{quote(colour.model)}/{quote(colour.colour)}"
            answer = services.s3.put_object(
                Bucket=services.bucket,
                Key=key.s3_key,
                Body=content,
                ContentType=media,
                Metadata={"sha256": sha256, "source": f"{source}/{key.index}"},
            )
            staged = Staged(sha256, answer["ETag"], key.s3_key)
        return Photo(key, sha256, len(content), changed, staged)


def _listing(services: Services, prefix: str = PREFIX) -> dict[str, str]:
    """Every file under `prefix` with its ETag."""
    pages = services.s3.get_paginator("list_objects_v2").paginate(Bucket=services.bucket, Prefix=prefix)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


def _read_all(
    ctx: FlowContext, colours: list[Colour], staged: Mapping[str, str], stage: bool
) -> Iterator[ColourPhotos]:
    """Each colour's photos, several colours at once (one HTTP call per photo), in catalogue order."""
    with ThreadPoolExecutor(max_workers=ctx.settings.images.concurrency, thread_name_prefix="photos") as pool:
        yield from pool.map(_Reader(ctx, staged, stage), colours)


def _report_files(ctx: FlowContext, listing: Mapping[str, str], exported: Mapping[str, str]) -> set[str]:
    """Report files under images/ that cannot reach a product colour; return the colours that have a file."""
    with_files: set[str] = set()
    for s3_key in listing:
        if s3_key.endswith("/"):  # a "folder" made in the console, not a file
            continue
        try:
            image = parse_key(s3_key)
        except ValidationProblem as problem:
            ctx.run.skipped(s3_key, f"file {problem.reason}", file=s3_key)
            continue
        if image.colour in exported:
            with_files.add(image.colour)
        else:
            ctx.run.skipped(image.slot, NO_COLOUR, file=s3_key)
    return with_files


def run(ctx: FlowContext) -> None:
    settings = ctx.settings
    rows = ctx.fastmag.query(settings.fastmag.queries.products, contract=PRODUCTS)
    colours = _nameable(ctx, exported_colours(rows, settings))
    exported = {colour.key: colour.colour for colour in colours}

    listing = _listing(ctx.services)
    manifest = ctx.snapshots.load(MANIFEST)
    uploaded = _listing(ctx.services, UPLOADED).keys()
    current = Snapshot(MANIFEST, staged_digests(manifest.entries, listing, uploaded), manifest.version)
    if not ctx.run.preview:
        # Before any file is staged: the upload function checks each file's colour against this list.
        known = ctx.snapshots.load(COLOURS)
        known.replace(exported)
        if known.unsaved:
            ctx.run.lease.require(SNAPSHOT_SAVE_SECONDS, "save the exported colours")
            ctx.snapshots.save(known)

    apply_run_id = ctx.run.request.apply_run_id
    if apply_run_id is not None:
        # An apply stages exactly what its preview listed: hash everything first and compare, then stage.
        planned = [p.outgoing() for r in _read_all(ctx, colours, current.entries, False) for p in r.photos if p.changed]
        check_preview_still_holds(ctx, apply_run_id, RESOURCE, planned, current)

    with_files = _report_files(ctx, listing, exported)
    read: dict[str, set[str]] = {}
    would_stage: list[Outgoing] = []
    for result in _read_all(ctx, colours, current.entries, stage=not ctx.run.preview):
        _record_colour(ctx, result, manifest, would_stage)
        if result.complete:
            read[result.colour.key] = result.slots()
            if not result.slots() and result.colour.key not in with_files:
                colour = result.colour
                ctx.run.skipped(colour.key, NO_IMAGE, colour=colour.colour, folder=f"{PREFIX}{colour.key}/")
    _report_stale(ctx, manifest, read, listing)
    if ctx.run.preview:
        preview_items(ctx, RESOURCE, would_stage, current)
    else:
        ctx.run.lease.require(SNAPSHOT_SAVE_SECONDS, "save the images manifest")
        ctx.snapshots.save(manifest)


def _nameable(ctx: FlowContext, colours: list[Colour]) -> list[Colour]:
    for colour in colours:
        if "/" in colour.model:
            ctx.run.skipped(colour.key, f"model {colour.model!r} holds a '/', which cannot name a file ({NAMING})")
    return [colour for colour in colours if "/" not in colour.model]


def _report_stale(
    ctx: FlowContext, manifest: Snapshot, read: Mapping[str, set[str]], listing: Mapping[str, str]
) -> None:
    """Staged photos Fastmag no longer has: reported while their file fills the slot, forgotten once it is gone."""
    for slot in stale_slots(manifest.entries, read):
        s3_key = Staged.decode(manifest.entries[slot]).s3_key
        if s3_key in listing:
            ctx.run.skipped(slot, "Fastmag no longer has this photo: delete its file to empty the slot", file=s3_key)
        else:
            manifest.forget(slot)


def _record_colour(ctx: FlowContext, result: ColourPhotos, manifest: Snapshot, would_stage: list[Outgoing]) -> None:
    for slot, reason in result.problems:
        ctx.run.skipped(slot, reason)
    for photo in result.photos:
        ctx.run.count("read")
        if not photo.changed:
            ctx.run.count("unchanged")
        elif photo.staged is None:
            would_stage.append(photo.outgoing())
        else:
            manifest.accept(photo.key.slot, photo.staged.encode())
            ctx.run.count("sent")
            ctx.run.count("accepted")
            log_record("image.staged", photo.key.slot, file=photo.key.s3_key, sha256=photo.sha256, bytes=photo.size)


# --- the upload (one S3 event) -----------------------------------------------------------------------------------


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
    """Worth another try by Lambda (then the on-failure queue): LNB unreachable, overloaded, or the token."""
    status = error.http_status
    return isinstance(error, LeNewBlackAuthError) or status is None or status == 429 or status >= 500


def _read_file(services: Services, image: ImageKey, s3_key: str) -> tuple[bytes, str] | Outcome:
    """The file's content and proven media type, or the outcome that stops its upload."""
    max_bytes = services.settings.images.max_bytes
    try:
        answer = services.s3.get_object(Bucket=services.bucket, Key=s3_key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return Outcome("record.skipped", image.slot, f"file {s3_key} was removed before its upload")
        raise
    size = int(answer["ContentLength"])
    if size > max_bytes:  # refused before it is read into memory
        answer["Body"].close()
        reason = f"file {s3_key}: {size} bytes, over the {max_bytes}-byte limit (images.max_bytes)"
        return Outcome("record.rejected", image.slot, reason)
    content = answer["Body"].read()
    try:
        return content, check_content(image.slot, content, max_bytes)
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
    services.s3.put_object(Bucket=services.bucket, Key=uploaded_marker(image.slot, sha256), Body=b"")
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
