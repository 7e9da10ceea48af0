"""The emulated AWS keeps DynamoDB's and S3's promise that a conditional write is atomic: of many writers racing
one condition, exactly one wins. Without it, concurrency tests (locks, run starts, the orders ledger) fail at
random, blaming the connector for moto's check-then-write."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.stack import LocalStack

WRITERS = 12
TRIALS = 8


@pytest.fixture(params=[False, True], ids=["moto-server", "moto-in-process"])
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    with LocalStack(aws_in_process=request.param) as local:
        yield local


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """A thread switch every microsecond: a check-then-write race shows within a few trials."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def winners(write: Callable[[int], object]) -> int:
    """How many of the racing writers won; every other one must have lost on its condition, nothing else."""
    outcomes: list[str] = []
    barrier = threading.Barrier(WRITERS)

    def writer(number: int) -> None:
        barrier.wait()
        try:
            write(number)
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
        else:
            outcomes.append("won")

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == WRITERS
    assert set(outcomes) <= {"won", "ConditionalCheckFailedException", "PreconditionFailed"}, outcomes
    return outcomes.count("won")


def test_one_conditional_dynamodb_write_wins(stack: LocalStack) -> None:
    table = boto3.resource("dynamodb").Table(os.environ["STATE_TABLE"])
    for trial in range(TRIALS):
        key = {"pk": f"RACE#{trial}", "sk": "race"}
        first = winners(
            lambda number, key=key: table.update_item(
                Key=key,
                UpdateExpression="SET holder = :me",
                ConditionExpression="attribute_not_exists(pk)",
                ExpressionAttributeValues={":me": number},
            )
        )
        assert first == 1
        second = winners(
            lambda number, key=key: table.put_item(
                Item={**key, "holder": -number - 1},
                ConditionExpression="holder >= :zero",
                ExpressionAttributeValues={":zero": 0},
            )
        )
        assert second == 1


def test_one_conditional_s3_put_wins(stack: LocalStack) -> None:
    s3 = boto3.client("s3")
    bucket = os.environ["STAGING_BUCKET"]
    for trial in range(TRIALS):
        key = f"race/{trial}.json"
        assert (
            winners(lambda number, key=key: s3.put_object(Bucket=bucket, Key=key, Body=b"%d" % number, IfNoneMatch="*"))
            == 1
        )
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        assert (
            winners(
                lambda number, key=key, etag=etag: s3.put_object(
                    Bucket=bucket, Key=key, Body=b"next %d" % number, IfMatch=etag
                )
            )
            == 1
        )
