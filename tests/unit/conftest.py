"""Fixtures shared by the unit tests of the S3 stores (snapshots, staging)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.s3_bucket import BUCKET, REGION


@pytest.fixture
def s3() -> Iterator[Any]:
    """An S3 client on moto with the staging bucket created."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client
