"""The long-lived collaborators of a container (clients, stores), built once per cold start and reused.

A flow function gets all of them (`services_for`); the export API asks only for its stores and its invoker
(`api_services_for`). Both caches are keyed by what the clients are bound to, so a warm container keeps its
HTTP pools and LNB token while the settings stay the same, and gets new clients when they change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from connector.config import environment
from connector.ledger import OrderLedger
from connector.previews import PreviewStore, SentValues
from connector.runs import RunStore
from connector.settings import Secret, Settings
from connector.staging import StagingStore
from connector.state import LockStore, SnapshotStore, digest
from connector.task_log import TaskLogStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client

    from connector.api.invoke import Invoker
    from connector.fastmag.client import FastmagClient
    from connector.lenewblack.client import LeNewBlackClient
    from connector.schedules import ScheduleReader


@dataclass
class Stores:
    """The state a run or the API reads and writes: the table and the staging bucket."""

    table: Table
    s3: S3Client
    bucket: str

    @property
    def runs(self) -> RunStore:
        return RunStore(self.table)

    @property
    def previews(self) -> PreviewStore:
        return PreviewStore(self.s3, self.bucket)

    @property
    def ledger(self) -> OrderLedger:
        return OrderLedger(self.table)

    @property
    def task_logs(self) -> TaskLogStore:
        return TaskLogStore(self.s3, self.bucket)


@dataclass
class Services(Stores):
    """Everything a flow works with: settings, secret, both API clients and the stores."""

    settings: Settings
    secret: Secret
    fastmag: FastmagClient
    lnb: LeNewBlackClient

    @property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.s3, self.bucket)

    @property
    def sent_values(self) -> SentValues:
        return SentValues(self.s3, self.bucket)

    @property
    def locks(self) -> LockStore:
        return LockStore(self.table)

    @property
    def staging(self) -> StagingStore:
        return StagingStore(self.s3, self.bucket)


@dataclass
class ApiServices(Stores):
    """What the export API needs: the stores, and the invoker that hands a queued run to its function."""

    invoker: Invoker

    @cached_property
    def scheduler(self) -> ScheduleReader:
        """Scheduler's client, for the status page's schedules (built on first use: no other route needs it)."""
        import boto3

        client: ScheduleReader = boto3.client("scheduler")
        return client


def _stores() -> Stores:
    import boto3

    env = environment()
    session = boto3.session.Session()
    return Stores(
        table=session.resource("dynamodb").Table(env.STATE_TABLE), s3=session.client("s3"), bucket=env.STAGING_BUCKET
    )


def build_services(settings: Settings, secret: Secret) -> Services:
    from connector.fastmag.client import FastmagClient
    from connector.lenewblack.client import LeNewBlackClient

    stores = _stores()
    return Services(
        table=stores.table,
        s3=stores.s3,
        bucket=stores.bucket,
        settings=settings,
        secret=secret,
        fastmag=FastmagClient(settings.fastmag, secret.fastmag_user, secret.fastmag_password.get_secret_value()),
        lnb=LeNewBlackClient(settings.lenewblack, secret.lnb_client_id, secret.lnb_client_secret),
    )


def build_api_services() -> ApiServices:
    from connector.api.invoke import invoker_from_environment

    stores = _stores()
    return ApiServices(
        table=stores.table, s3=stores.s3, bucket=stores.bucket, invoker=invoker_from_environment(environment())
    )


_services: dict[str, Services] = {}
_api_services: dict[str, ApiServices] = {}


def _bound_to() -> list[object]:
    """What every client is bound to besides the settings: the environment and a local endpoint."""
    return [os.environ.get("AWS_ENDPOINT_URL", ""), environment().model_dump()]


def services_for(settings: Settings, secret: Secret) -> Services:
    """Reuse clients (HTTP pools, LNB token) across warm invocations while settings stay the same."""
    cache_key = digest(
        [
            settings.model_dump(mode="json"),
            secret.fastmag_password.get_secret_value(),
            secret.lnb_client_secret.get_secret_value(),
            *_bound_to(),
        ]
    )
    if cache_key not in _services:
        _services.clear()
        _services[cache_key] = build_services(settings, secret)
    return _services[cache_key]


def api_services_for() -> ApiServices:
    """The API's stores and invoker, built once per container (per endpoint, so a new local stack gets new ones)."""
    cache_key = digest(_bound_to())
    if cache_key not in _api_services:
        _api_services.clear()
        _api_services[cache_key] = build_api_services()
    return _api_services[cache_key]


def forget() -> None:
    """Drop the cached clients, e.g. when the endpoints they were bound to went away (a local stack stopped)."""
    _services.clear()
    _api_services.clear()
