"""gzip JSON Lines files in the staging bucket: the one way previews, task logs and readiness reports are kept.

One object per run under a prefix (`previews/`, `runs/`, `readiness/`), stored whole when the run finishes and
read back a line at a time. Its lines are compressed into a temporary file as they come (`JsonLinesSpool`), never
joined in memory: a full push of a million records logs a million task-log lines. A layout version may ride in
the object's metadata (`format`), so that a connector refuses a file written by a newer one instead of misreading
it; a file without it is read as format 1.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from botocore.exceptions import ClientError

from connector.errors import ConnectorError
from connector.json_text import compact_json
from connector.state import is_missing

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

SUFFIX = ".jsonl.gz"


def json_line(line: Mapping[str, Any]) -> str:
    """One line of a file: compact JSON, what JSON cannot hold written as its text."""
    return compact_json(line) + "\n"


class JsonLinesSpool:
    """The gzip JSON Lines of one object, compressed into a temporary file as they are added (mtime 0: the same
    lines give the same bytes, byte for byte those `gzip.compress` gives the joined lines).

    The file has no name (`tempfile.TemporaryFile`): closing the spool, or the process ending, removes it.
    `add` may be called from several threads (the orders flow logs from its workers).
    """

    def __init__(self, compresslevel: int = 9) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `close`, the spool's owner
        self._gzip = gzip.GzipFile(fileobj=self._file, mode="wb", compresslevel=compresslevel, mtime=0)
        self._lock = threading.Lock()
        self.count = 0

    def add(self, line: Mapping[str, Any]) -> None:
        data = json_line(line).encode()
        with self._lock:
            self._gzip.write(data)
            self.count += 1

    def finished(self) -> IO[bytes]:
        """The whole gzip file, from its start; nothing can be added after."""
        with self._lock:
            self._gzip.close()  # writes the gzip trailer (again: nothing)
            self._file.seek(0)
            return self._file

    def lines(self) -> Iterator[dict[str, Any]]:
        """The lines added, parsed, in their order (the spool is finished first)."""
        with gzip.GzipFile(fileobj=self.finished(), mode="rb") as text:
            for line in text:
                yield json.loads(line)

    def close(self) -> None:
        self._gzip.close()
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


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
        with JsonLinesSpool(compresslevel) as spool:
            for line in lines:
                spool.add(line)
            return self.upload(key, spool, metadata=metadata)

    def upload(self, key: str, spool: JsonLinesSpool, *, metadata: Mapping[str, str] | None = None) -> str:
        """Store the lines of `spool` at `key` (the spool is finished, still to be closed by its owner)."""
        stamped = dict(metadata or {})
        if self._format is not None:
            stamped["format"] = str(self._format)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=spool.finished(),
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
