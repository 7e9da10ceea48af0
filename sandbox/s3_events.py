"""S3 events for the local stack. moto's server sends none, so after a flow writes under a prefix, `S3Changes`
lists the bucket and builds the event S3 would have sent (through EventBridge) for every object created,
replaced or removed since the previous look, from the sample events in events/.
"""

from __future__ import annotations

import json
import uuid
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote_plus

from sandbox.handlers import REGION, ROOT

type Change = Literal["created", "removed"]


def object_event(change: Change, bucket: str, key: str, *, size: int | None = None, etag: str = "") -> dict[str, Any]:
    """The EventBridge event S3 sends when `key` is created or removed; keys arrive URL-encoded, as from S3."""
    event: dict[str, Any] = deepcopy(
        json.loads((ROOT / "events" / f"s3_object_{change}.json").read_text(encoding="utf-8"))
    )
    event.update(
        id=str(uuid.uuid4()),
        time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        region=REGION,
        resources=[f"arn:aws:s3:::{bucket}"],
    )
    detail = event["detail"]
    detail["bucket"]["name"] = bucket
    detail["object"]["key"] = quote_plus(key, safe="/")
    if change == "created":
        detail["object"].update(size=size, etag=etag.strip('"'))
    return event


class S3Changes:
    """Remembers each object's (ETag, last modified) to tell what changed between two listings."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, datetime]] = {}

    def events(self, s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
        listed = {
            item["Key"]: item
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        }
        events = [
            object_event("created", bucket, key, size=item["Size"], etag=item["ETag"])
            for key, item in listed.items()
            if self._seen.get(key) != (item["ETag"], item["LastModified"])
        ]
        events += [
            object_event("removed", bucket, key) for key in self._seen if key.startswith(prefix) and key not in listed
        ]
        self._seen = {k: v for k, v in self._seen.items() if not k.startswith(prefix)}
        self._seen.update({key: (item["ETag"], item["LastModified"]) for key, item in listed.items()})
        return events
