"""What became of the files an images export staged: uploads done and failed, kept beside its run record.

The upload function writes each file's outcome on the run that staged it (the file's `run-id` metadata), as one
item per slot under the run's partition: `RUN#<run_id>` / `UPLOAD#<slot>`. The run record itself is rewritten
whole when the run finishes while uploads start as soon as the first file is staged, and many uploads finish at
once: an item per slot is never contended, and a slot counts once however often its file is delivered (uploaded
once it was uploaded, failed only while it never was). Reading the run sums them with one Query; pending is
derived: what the run staged (`counters.sent`) less both.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from connector.observability import logger
from connector.state import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

UPLOADING_FLOW = "images"  # the flow whose runs stage files that another function uploads
UPLOAD_SK = "UPLOAD#"
TTL_SECONDS = 400 * 86400  # as long as the run record (runs.RUN_TTL_DAYS)

type UploadOutcome = Literal["uploaded", "failed"]


class UploadTally(BaseModel):
    """Uploads of an images run's staged files: done, failed (refused, or failed on every delivery), pending."""

    uploaded: int = 0
    failed: int = 0
    pending: int = Field(default=0, description="staged by the run and not yet uploaded nor failed")

    def of_staged(self, staged: int) -> UploadTally:
        return self.model_copy(update={"pending": max(staged - self.uploaded - self.failed, 0)})


class UploadTallyStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, run_id: str, slot: str, outcome: UploadOutcome) -> None:
        """`slot`'s outcome on `run_id`. A key DynamoDB refuses is logged: the upload itself stands."""
        try:
            self._table.update_item(
                Key={"pk": f"RUN#{run_id}", "sk": f"{UPLOAD_SK}{slot}"},
                # An upload wins: a duplicate delivery failing after it, or a failure before a redriven delivery
                # succeeds, leaves the slot uploaded; a failure only fills a slot without outcome.
                UpdateExpression=(
                    "SET outcome = :outcome, expires_at = :ttl"
                    if outcome == "uploaded"
                    else "SET outcome = if_not_exists(outcome, :outcome), expires_at = :ttl"
                ),
                ExpressionAttributeValues={":outcome": outcome, ":ttl": int(time.time()) + TTL_SECONDS},
            )
        except ClientError as error:
            if error_code(error) != "ValidationException":
                raise
            logger.warning(
                f"upload of {slot} not counted on run {run_id}: {error}",
                extra={"event": "uploads.untallied", "key": slot, "run_id": run_id},
            )

    def get(self, run_id: str) -> UploadTally:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :upload)",
            "ExpressionAttributeValues": {":pk": f"RUN#{run_id}", ":upload": UPLOAD_SK},
            "ProjectionExpression": "outcome",
            "ConsistentRead": True,
        }
        outcomes: Counter[str] = Counter()
        while True:
            answer = self._table.query(**query)
            outcomes.update(str(item.get("outcome")) for item in answer["Items"])
            if "LastEvaluatedKey" not in answer:
                return UploadTally(uploaded=outcomes["uploaded"], failed=outcomes["failed"])
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
