"""The images export (ExportImagesFunction, a flow run): Fastmag photos → S3 `images/<model>/<fabric_code>/<n>.<ext>`.

Two halves joined by the bucket (ARCHITECTURE §2); the other half, flows/image_upload.py, takes each staged file on
to Le New Black `/files/products`. The export reads the products query → the exported product colours, exactly
the products flow's (model, fabric_code) → fetches each colour's photos, 1..N until the first missing one, several
colours at once → stages each photo whose sha256 changed → reports colours without any image, files that match no
exported colour, and staged photos Fastmag no longer has (only a person deletes files: deleting one empties its
slot, and the export may not delete).

What is staged and what LNB got: the manifest (snapshot `images`) and the upload markers, read through the
staging store (connector/staging.py). A photo staged but never uploaded (LNB down through every retry) is staged
again by the next export, which sends it again: nothing waits on someone redriving the failure queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote

from connector.errors import FastmagError, ValidationProblem
from connector.flows.catalogue import Row
from connector.flows.context import FlowContext
from connector.flows.image_files import (
    COLOURS,
    MEDIA_EXTENSIONS,
    NAMING,
    NO_COLOUR,
    PREFIX,
    RESOURCE,
    SLOTS,
    ImageKey,
    check_content,
    parse_key,
)
from connector.flows.products import map_products
from connector.flows.source import Skip
from connector.flows.sync import (
    SNAPSHOT_SAVE_SECONDS,
    Outgoing,
    check_preview_still_holds,
    preview_items,
    record_skips,
)
from connector.observability import log_record
from connector.settings import Settings
from connector.staging import Staged, staged_digests
from connector.state import Snapshot

MANIFEST = "images"  # snapshot: slot → "<sha256> <etag> <s3 key>" of what the export staged
NO_IMAGE = "no image: Fastmag has no photo of this colour and its folder under images/ holds no file"


def stale_slots(manifest: Mapping[str, str], read: Mapping[str, set[str]]) -> list[str]:
    """Staged slots of colours whose photos were all read this run (`read`: colour → its slots in Fastmag now)
    that Fastmag no longer fills. A colour not fully read keeps everything it had."""
    return [slot for slot in manifest if (colour := slot.rsplit("/", 1)[0]) in read and slot not in read[colour]]


@dataclass(frozen=True)
class Colour:
    """An exported product colour: LNB's (model, fabric_code) and the Fastmag colour its photos are filed under."""

    model: str
    fabric_code: str
    colour: str

    @property
    def key(self) -> str:
        return f"{self.model}/{self.fabric_code}"


def exported_colours(rows: Iterable[Row], settings: Settings) -> list[Colour]:
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
    problems: list[Skip] = field(default_factory=list)  # keyed by slot
    complete: bool = True  # every index was answered (a missing photo counts as an answer)

    def slots(self) -> set[str]:
        return {photo.key.slot for photo in self.photos} | {problem.key for problem in self.problems}


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
                result.problems.append(Skip(slot, f"photo {index} of {colour.model} {colour.colour}: {error}"))
                result.complete = False
                break
            if content is None:
                break
            try:
                media = check_content(slot, content, settings.images.max_bytes)
            except ValidationProblem as problem:
                result.problems.append(Skip(slot, f"Fastmag photo {problem.reason}"))
                continue
            key = ImageKey(colour.model, colour.fabric_code, index, MEDIA_EXTENSIONS[media])
            result.photos.append(self._photo(colour, key, content, media))
        return result

    def _photo(self, colour: Colour, key: ImageKey, content: bytes, media: str) -> Photo:
        sha256 = hashlib.sha256(content).hexdigest()
        changed = self.ctx.run.request.full or self.staged.get(key.slot) != sha256
        staged = None
        if changed and self.stage:
            # S3 metadata travels in HTTP headers: ASCII only, hence the quoted reference and colour.
            source = f"fastmag-{self.ctx.settings.fastmag.photos.source}:{quote(colour.model)}/{quote(colour.colour)}"
            staged = self.ctx.services.staging.stage(
                key.s3_key,
                content,
                sha256,
                media_type=media,
                source=f"{source}/{key.index}",
                run_id=self.ctx.run.run_id,
            )
        return Photo(key, sha256, len(content), changed, staged)


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
    rows = ctx.reads.catalogue_rows()
    colours = _nameable(ctx, exported_colours(rows, settings))
    exported = {colour.key: colour.colour for colour in colours}

    staging = ctx.services.staging
    listing = staging.files(PREFIX)
    manifest = ctx.snapshots.load(MANIFEST)
    uploaded = staging.uploaded()
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
    record_skips(ctx, result.problems)
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
