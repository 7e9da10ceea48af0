"""Previews and whether one may still be applied: the rule in one place.

A preview run stores its exact would-be writes (`PreviewStore`). Applying it sends exactly those, so it is
refused when the API can already tell it is stale (`apply_refusal`: not a preview, unfinished, or a run sent
data since), and again inside the flow when the snapshot or the digests moved (`check_preview_still_holds`).

A preview can be reviewed before it is applied: each changed item carries its old value beside the new
(`field_changes`), from what LNB last accepted (`SentValues`, kept beside the snapshot: the snapshot keeps only
digests); `read_preview` gives the counts per resource and `PreviewContent.page` the items, filtered and paged.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from connector.errors import ConnectorError
from connector.json_text import compact_json, read_stored_json
from connector.jsonl_store import JsonLinesStore
from connector.observability import logger, mask_email, masked
from connector.runs import FINISHED, RunRecord, RunStore
from connector.state import is_missing
from connector.task_log import Page, page_of

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class PreviewOutdated(ConnectorError):
    """An apply found that the data its preview was computed from has changed since: nothing was sent."""


class Keyed(Protocol):
    """An item as a preview records it: its key and the digest of its payload."""

    @property
    def key(self) -> str: ...

    @property
    def digest(self) -> str: ...


PREVIEW_FORMAT = 1  # the layout of a stored preview's lines, in the object's metadata


class PreviewStore:
    """Exact payloads of a preview run as gzip JSON Lines under `previews/<run_id>.jsonl.gz`."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._files = JsonLinesStore(
            s3,
            bucket,
            prefix="previews/",
            what="preview",
            format_version=PREVIEW_FORMAT,
            newer_hint=": run a new preview",
        )

    def key(self, run_id: str) -> str:
        return self._files.key(run_id)

    def write(self, run_id: str, lines: Iterable[Mapping[str, Any]]) -> str:
        key = self._files.write(self.key(run_id), (masked(line) for line in lines))
        logger.info(f"preview stored at s3://{self._files.bucket}/{key}", extra={"event": "run.preview", "key": key})
        return key

    def read(self, run_id: str) -> Iterator[dict[str, Any]]:
        return self.read_key(self.key(run_id))

    def read_key(self, key: str) -> Iterator[dict[str, Any]]:
        """The lines stored at `key` (a run record's pointer to its preview or report)."""
        return self._files.read(key)[1]

    def presigned_url(self, run_id: str, expires_in: int = 900) -> str:
        return self._files.presigned_url(self.key(run_id), expires_in)


def apply_refusal(preview: RunRecord, runs: RunStore) -> str | None:
    """Why a preview cannot be applied, when that shows without reading the data (the flow checks the rest)."""
    if not preview.preview:
        return f"run {preview.run_id} is not a preview"
    if preview.status not in FINISHED:
        return f"preview {preview.run_id} has not finished yet ({preview.status})"
    if preview.preview_key is None or preview.preview_base is None:
        return f"preview {preview.run_id} ended {preview.status} with nothing to apply: run a new preview"
    # A run that wrote to LNB after the preview moved the snapshot the preview was computed from.
    since = runs.accepted_since(preview.flow, preview.finished_at or "")
    if since is not None:
        return (
            f"the data changed since preview {preview.run_id} (run {since.run_id} sent data since): run a new preview"
        )
    return None


def check_preview_still_holds(
    previews: PreviewStore, preview_run_id: str, resource: str, changed: Iterable[Keyed], base: str | None
) -> None:
    """An apply sends exactly its preview: the same snapshot base (`base`, the snapshot's version now) and the
    same keys with the same digests.

    Anything else means Fastmag or LNB moved since the preview was computed, and what the operator approved is
    no longer what would be sent.
    """
    lines = list(previews.read(preview_run_id))
    bases = lines[0].get("base") if lines else None
    approved_base = bases.get(resource) if isinstance(bases, dict) else None
    # Stored previews are masked (a key may hold an email), so compare the masked form of today's keys.
    approved = {(line["key"], line["digest"]) for line in lines[1:] if line.get("resource") == resource}
    now = {(mask_email(item.key), item.digest) for item in changed}
    if (base or "empty") != approved_base or approved != now:
        raise PreviewOutdated(f"the data changed since preview {preview_run_id}: run a new preview")


# --- Old → new: what LNB last accepted, per key ------------------------------------------------------------------

SENT_VALUES_FORMAT = 1


class SentValues:
    """The payload LNB last accepted per key (masked), beside the snapshot: `snapshots/<name>.sent.json.gz`.

    Only for showing old → new in a preview: the snapshot's digests stay the truth of what changed. Each value
    keeps the digest it was accepted under, so a value the snapshot has moved past (another run, a rebase) is
    never shown as the old one. Snapshots written before this file existed simply show no old value: an upgrade
    changes no digest, so it makes nothing look changed. Not kept where the snapshot's entry is itself readable
    (stock's quantity).
    """

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @staticmethod
    def key(name: str) -> str:
        return f"snapshots/{name}.sent.json.gz"

    def load(self, name: str) -> dict[str, tuple[str, Any]]:
        """key → (digest, payload as accepted); empty where none was kept yet."""
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=self.key(name))
        except ClientError as error:
            if is_missing(error):
                return {}
            raise
        document = read_stored_json(gzip.decompress(answer["Body"].read()))
        if document.get("format") != SENT_VALUES_FORMAT:
            return {}  # a newer layout: old values are a convenience, never worth failing a run for
        return {key: (str(value["digest"]), value["payload"]) for key, value in document["values"].items()}

    def update(self, name: str, accepted: Mapping[str, tuple[str, Any]], kept: Mapping[str, str]) -> None:
        """Record what LNB just accepted; drop values of keys the snapshot (`kept`: key → digest) no longer has."""
        if not accepted:
            return
        previous = self.load(name)
        with tempfile.TemporaryFile() as file:
            # Written value by value into a temporary file, as `compact_json` writes the whole document (the same
            # bytes): a first export of a million SKUs held its payloads masked, then as one text, then encoded.
            with gzip.GzipFile(fileobj=file, mode="wb", compresslevel=1, mtime=0) as out:
                out.write(f'{{"format":{compact_json(SENT_VALUES_FORMAT)},"values":{{'.encode())
                for index, (key, digest, payload, fresh) in enumerate(_merged(previous, accepted, kept)):
                    value = compact_json({"digest": digest, "payload": payload})
                    if fresh and "@" in value:  # masked where an email can be: walking every payload cost more
                        value = compact_json({"digest": digest, "payload": masked(payload)})
                    out.write(f"{',' if index else ''}{compact_json(key)}:{value}".encode())
                out.write(b"}}")
            file.seek(0)
            self._s3.put_object(Bucket=self._bucket, Key=self.key(name), Body=file, ContentType="application/json")


def _merged(
    previous: Mapping[str, tuple[str, Any]], accepted: Mapping[str, tuple[str, Any]], kept: Mapping[str, str]
) -> Iterator[tuple[str, str, Any, bool]]:
    """(key, digest, payload, whether it is an accepted one, not masked yet) of the values kept before that the
    snapshot still has, the accepted ones in their place, then the other accepted ones: a dict of the first
    updated with the second."""
    for key, (digest, payload) in previous.items():
        if key in kept:
            yield (key, *accepted[key], True) if key in accepted else (key, digest, payload, False)
    for key, value in accepted.items():
        if key not in previous or key not in kept:
            yield (key, *value, True)


MAX_FIELD_CHANGES = 50


class FieldChange(BaseModel):
    """One field of a changed record: its path in the payload (`variants[0].skus[1].ean13`), old and new."""

    field: str
    old: Any = None
    new: Any = None


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield from _leaves(item, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    elif value is not None:
        yield path, value


def field_changes(old: Any, new: Any, limit: int = MAX_FIELD_CHANGES) -> list[FieldChange]:
    """The leaf fields that differ between two payloads, in the new payload's order, at most `limit`."""
    before, after = dict(_leaves(old)), dict(_leaves(new))
    paths = [*after, *(path for path in before if path not in after)]
    changed = [path for path in paths if before.get(path) != after.get(path)][:limit]
    return [FieldChange(field=path, old=before.get(path), new=after.get(path)) for path in changed]


# --- Reading a stored preview -------------------------------------------------------------------------------------

Change = Literal["new", "changed", "skipped"]


class ResourceCounts(BaseModel):
    new: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def would_send(self) -> int:
        return self.new + self.changed


class PreviewItem(BaseModel):
    """One line of a preview: a would-be write (new or changed, with its old → new) or a skipped record."""

    resource: str | None = None
    key: str
    change: Change
    what: str | None = Field(default=None, description="product name, retailer name, EAN + variant")
    reason: str | None = None
    changes: list[FieldChange] | None = Field(
        default=None, description="changed fields, old → new; None where the old value is not known"
    )
    old: Any = Field(default=None, description="the flow's own old value, where it logs one (stock quantity)")
    new: Any = None
    payload: dict[str, Any] | None = None


class PreviewSummary(BaseModel):
    resources: dict[str, ResourceCounts]
    skipped: int = 0
    warnings: int = 0

    @property
    def would_send(self) -> int:
        return sum(counts.would_send for counts in self.resources.values())


class PreviewContent(BaseModel):
    summary: PreviewSummary
    items: list[PreviewItem]

    def page(
        self, *, change: str | None = None, q: str | None = None, offset: int = 0, limit: int = 50
    ) -> Page[PreviewItem]:
        """Items of `change` (new, changed, skipped) whose key contains `q` (any case), one page of them."""
        needle = (q or "").strip().casefold()

        def match(item: PreviewItem) -> bool:
            return (change is None or item.change == change) and needle in item.key.casefold()

        return page_of(self.items, match, offset=offset, limit=limit)


def read_preview(previews: PreviewStore, run_id: str) -> PreviewContent:
    """A stored preview as counts per resource and its items (previews of earlier releases included: their
    counts come from their lines, their items have no old value)."""
    lines = list(previews.read(run_id))
    head = lines[0] if lines and "summary" in lines[0] else {}
    items = [PreviewItem.model_validate(line) for line in lines[1 if head else 0 :] if "key" in line]
    stored = head.get("resources")
    if isinstance(stored, dict):
        resources = {name: ResourceCounts.model_validate(counts) for name, counts in stored.items()}
    else:
        resources = {}
        for item in items:
            if item.resource is not None and item.change != "skipped":
                counts = resources.setdefault(item.resource, ResourceCounts())
                setattr(counts, item.change, getattr(counts, item.change) + 1)
    summary = head.get("summary", {})
    skipped = int(summary.get("skipped", sum(1 for item in items if item.change == "skipped")))
    return PreviewContent(
        summary=PreviewSummary(resources=resources, skipped=skipped, warnings=int(summary.get("warnings", 0))),
        items=items,
    )
