"""Previews and whether one may still be applied: the rule in one place.

A preview run stores its exact would-be writes (`PreviewStore`). Applying it sends exactly those, so it is
refused when the API can already tell it is stale (`apply_refusal`: not a preview, unfinished, or a run sent
data since), and again inside the flow when the snapshot or the digests moved (`check_preview_still_holds`).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from connector.errors import ConnectorError
from connector.observability import logger, mask_email, masked
from connector.runs import FINISHED, RunRecord, RunStore

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
        self._s3 = s3
        self._bucket = bucket

    @staticmethod
    def key(run_id: str) -> str:
        return f"previews/{run_id}.jsonl.gz"

    def write(self, run_id: str, lines: Iterable[Mapping[str, Any]]) -> str:
        body = gzip.compress(
            "".join(json.dumps(masked(line), ensure_ascii=False, default=str) + "\n" for line in lines).encode(),
            mtime=0,
        )
        key = self.key(run_id)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            Metadata={"format": str(PREVIEW_FORMAT)},
        )
        logger.info(f"preview stored at s3://{self._bucket}/{key}", extra={"event": "run.preview", "key": key})
        return key

    def read(self, run_id: str) -> Iterator[dict[str, Any]]:
        answer = self._s3.get_object(Bucket=self._bucket, Key=self.key(run_id))
        written = int(answer.get("Metadata", {}).get("format", "1"))  # previews before the version: format 1
        if written > PREVIEW_FORMAT:
            raise ConnectorError(
                f"preview {run_id} has format {written}, this connector reads up to {PREVIEW_FORMAT}: run a new preview"
            )
        body = answer["Body"].read()
        for line in gzip.decompress(body).decode().splitlines():
            if line:
                yield json.loads(line)

    def presigned_url(self, run_id: str, expires_in: int = 900) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": self.key(run_id)}, ExpiresIn=expires_in
        )


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
