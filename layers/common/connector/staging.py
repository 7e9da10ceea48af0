"""The staging bucket's image files: what the images export stages, what the upload function reads, and the
markers that say Le New Black accepted a staged photo.

The export's manifest (a snapshot) holds, per slot, a `Staged`: the sha256 of the photo and the ETag S3 answered
when it was staged. One listing with ETags says which of those files are still there untouched (a HEAD per file
to read `x-amz-meta-sha256` would cost one S3 call per photo on every run). After each upload LNB accepted, the
upload function writes an empty marker `uploaded/<slot>/<sha256>`; one listing of `uploaded/` says which staged
photos reached their slot.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

UPLOADED = "uploaded/"  # markers: uploaded/<slot>/<sha256>, one per photo LNB accepted
RUN_ID_METADATA = "run-id"  # x-amz-meta-run-id: the export run that staged the file


@dataclass(frozen=True)
class Staged:
    """A photo the export put in the bucket: its content hash and the ETag S3 answered."""

    sha256: str
    etag: str
    s3_key: str

    def encode(self) -> str:
        """The manifest's value for its slot."""
        return f"{self.sha256} {self.etag} {self.s3_key}"

    @classmethod
    def decode(cls, value: str) -> Staged:
        sha256, etag, s3_key = value.split(" ", 2)
        return cls(sha256, etag, s3_key)


@dataclass(frozen=True)
class StagedObject:
    """A file present in the bucket; `run_id` names the export run that staged it (None: dropped by hand)."""

    run_id: str | None


@dataclass(frozen=True)
class StagedFile:
    """A file read from the bucket; `content` is None when it is over the size limit (it was never read)."""

    size: int
    content: bytes | None


def staged_digests(
    manifest: Mapping[str, str], listing: Mapping[str, str], uploaded: Collection[tuple[str, str]]
) -> dict[str, str]:
    """slot → sha256 of the photos the export staged that are still in the bucket as it left them (same ETag)
    and that LNB accepted (their upload marker is there).

    A staged file someone replaced or deleted since is staged again: Fastmag is the source of the slots it fills.
    So is one whose upload never succeeded: staging it again is what sends it again.
    """
    digests: dict[str, str] = {}
    for slot, value in manifest.items():
        staged = Staged.decode(value)
        if listing.get(staged.s3_key) == staged.etag and (slot, staged.sha256) in uploaded:
            digests[slot] = staged.sha256
    return digests


class StagingStore:
    """Files and upload markers in the staging bucket. Every write is unconditional: staging a photo again, even
    with the same content, is what makes S3 send the event that uploads it again."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def files(self, prefix: str) -> dict[str, str]:
        """Every file under `prefix` with its ETag (one call per 1 000 files)."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}

    def stage(self, key: str, content: bytes, sha256: str, *, media_type: str, source: str, run_id: str) -> Staged:
        """Put a photo at `key`, its sha256, its source and the export run that staged it in the object's metadata
        (ASCII only: HTTP headers). The upload records its outcome on that run."""
        answer = self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=content,
            ContentType=media_type,
            Metadata={"sha256": sha256, "source": source, RUN_ID_METADATA: run_id},
        )
        return Staged(sha256, answer["ETag"], key)

    def head(self, key: str) -> StagedObject | None:
        """The file at `key` as it is now (None when it is gone), without reading it."""
        try:
            answer = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return StagedObject(run_id=answer.get("Metadata", {}).get(RUN_ID_METADATA))

    def read(self, key: str, *, max_bytes: int) -> StagedFile | None:
        """The file at `key`, None when it is gone; one over `max_bytes` is refused before it is read into memory."""
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        size = int(answer["ContentLength"])
        if size > max_bytes:
            answer["Body"].close()
            return StagedFile(size, None)
        return StagedFile(size, answer["Body"].read())

    def mark_uploaded(self, slot: str, sha256: str) -> None:
        """Le New Black accepted this photo in this slot."""
        self._s3.put_object(Bucket=self._bucket, Key=f"{UPLOADED}{slot}/{sha256}", Body=b"")

    def uploaded(self) -> set[tuple[str, str]]:
        """(slot, sha256) of every photo Le New Black accepted."""
        markers = (key.removeprefix(UPLOADED).rpartition("/") for key in self.files(UPLOADED))
        return {(slot, sha256) for slot, _, sha256 in markers}
