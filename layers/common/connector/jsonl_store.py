"""gzip JSON Lines files in the staging bucket: the one way previews, task logs and readiness reports are kept.

One object per run under a prefix (`previews/`, `runs/`, `readiness/`), written whole when the run finishes and
read back a line at a time. A layout version may ride in the object's metadata (`format`), so that a connector
refuses a file written by a newer one instead of misreading it; a file without it is read as format 1.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from connector.errors import ConnectorError
from connector.state import is_missing

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

SUFFIX = ".jsonl.gz"


class JsonLinesStore:
    """The `<prefix><name>.jsonl.gz` objects of one kind (`what`, as error messages name it)."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        *,
        prefix: str,
        what: str,
        format_version: int | None = None,
        missing: Callable[[str], Exception] | None = None,
        newer_hint: str = "",
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix
        self._what = what
        self._format = format_version
        # What a read of an absent object raises (given the name); without it the S3 error goes up as it is.
        self._missing = missing
        self._newer_hint = newer_hint  # what to do about a file of a newer format, after the message

    @property
    def bucket(self) -> str:
        return self._bucket

    def key(self, name: str) -> str:
        return f"{self._prefix}{name}{SUFFIX}"

    def write(
        self,
        key: str,
        lines: Iterable[Mapping[str, Any]],
        *,
        metadata: Mapping[str, str] | None = None,
        compresslevel: int = 9,
    ) -> str:
        """Store one JSON object per line at `key` (mtime 0: the same lines give the same bytes)."""
        text = "".join(json.dumps(line, ensure_ascii=False, default=str) + "\n" for line in lines)
        stamped = dict(metadata or {})
        if self._format is not None:
            stamped["format"] = str(self._format)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=gzip.compress(text.encode(), compresslevel=compresslevel, mtime=0),
            ContentType="application/x-ndjson",
            Metadata=stamped,
        )
        return key

    def read(self, key: str, name: str | None = None) -> tuple[dict[str, str], Iterator[dict[str, Any]]]:
        """The object's metadata and its lines, parsed; `name` is what a missing object's error names."""
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if self._missing is not None and is_missing(error):
                raise self._missing(name or key) from None
            raise
        metadata = dict(answer.get("Metadata", {}))
        if self._format is not None:
            written = int(metadata.get("format", "1"))
            if written > self._format:
                raise ConnectorError(
                    f"{self._what} {name or key} has format {written}, this connector reads up to {self._format}"
                    + self._newer_hint
                )
        body = gzip.decompress(answer["Body"].read()).decode()
        return metadata, (json.loads(line) for line in body.splitlines() if line)

    def presigned_url(self, key: str, expires_in: int = 900) -> str:
        """A link to the stored file itself, for a download too large for an API answer."""
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )

    def names(self) -> Iterator[str]:
        """Every stored name under the prefix (the bucket's lifecycle bounds how far back)."""
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(self._prefix) :]
                if name.endswith(SUFFIX):
                    yield name.removesuffix(SUFFIX)
