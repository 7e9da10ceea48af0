"""ImageUploadQueue and its event source mapping, locally: what Lambda's SQS poller does with the S3 events of
images/ in AWS (moto's server has neither S3 events nor event source mappings).

Batches of the template's BatchSize go to the upload code UploadImagesFunction runs
(`connector.flows.image_upload.upload_batch`), at most MaximumConcurrency batches at once: one worker thread per
concurrent Lambda instance, each uploading its batch one file after the other. A message the batch reports as
failed is delivered again until maxReceiveCount, then kept in `dead_letters`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from connector.flows.image_upload import UploadBatch
from sandbox.handlers import REGION
from sandbox.template import UploadPacing

QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:ImageUploadQueue"


@dataclass
class Message:
    message_id: str
    body: str
    receives: int = 0


def sqs_record(message: Message) -> dict[str, Any]:
    """The SQS record Lambda hands the function for one delivery of `message`."""
    now = str(int(time.time() * 1000))
    return {
        "messageId": message.message_id,
        "receiptHandle": f"handle-{message.message_id}-{message.receives}",
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receives),
            "SentTimestamp": now,
            "SenderId": "AIDAEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def sqs_event(*events: dict[str, Any], receives: int = 1) -> dict[str, Any]:
    """One batch holding these EventBridge events, each delivered for the `receives`-th time."""
    return {"Records": [sqs_record(Message(str(uuid.uuid4()), json.dumps(e), receives)) for e in events]}


class UploadQueue:
    def __init__(self, pacing: UploadPacing, upload: Callable[[dict[str, Any]], UploadBatch]) -> None:
        self.pacing = pacing
        self._upload = upload
        self.dead_letters: list[Message] = []

    def deliver(
        self, events: list[dict[str, Any]], *, progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        """Queue `events` and deliver them until each is handled or dead; their answers in the same order, a dead
        one's as `{"event": "record.failed", "reason": …}`. `progress(settled, total)` after each batch."""
        waiting = [Message(str(uuid.uuid4()), json.dumps(event)) for event in events]
        order = [message.message_id for message in waiting]
        answers: dict[str, dict[str, Any]] = {}
        size = self.pacing.batch_size
        while waiting:
            batches = [waiting[start : start + size] for start in range(0, len(waiting), size)]
            with ThreadPoolExecutor(max_workers=self.pacing.max_concurrency, thread_name_prefix="uploads") as pool:
                results = list(pool.map(self._deliver, batches))
            waiting = []
            for batch, result in zip(batches, results, strict=True):
                for message in batch:
                    if message.message_id in result.answers:
                        answers[message.message_id] = result.answers[message.message_id]
                    elif message.receives >= self.pacing.max_receives:
                        self.dead_letters.append(message)
                        reason = f"upload raised: {result.errors.get(message.message_id)}"
                        answers[message.message_id] = {"event": "record.failed", "reason": reason}
                    else:
                        waiting.append(message)
            if progress is not None:
                progress(len(answers), len(order))
        return [answers[message_id] for message_id in order]

    def _deliver(self, batch: list[Message]) -> UploadBatch:
        for message in batch:
            message.receives += 1
        return self._upload({"Records": [sqs_record(message) for message in batch]})
