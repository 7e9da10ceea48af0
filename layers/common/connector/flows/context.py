"""What a flow works with: settings, both API clients, the state stores and its run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.ledger import OrderLedger
from connector.runs import PreviewStore, Run, RunStore
from connector.settings import Secret, Settings
from connector.staging import StagingStore
from connector.state import LockStore, Snapshot, SnapshotStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client

    from connector.fastmag.client import FastmagClient
    from connector.fastmag.reads import FastmagReads
    from connector.flows.sync import Outgoing
    from connector.lenewblack.client import LeNewBlackClient


@dataclass
class Services:
    """Long-lived collaborators, built once per cold start and shared by every run of the container."""

    settings: Settings
    secret: Secret
    fastmag: FastmagClient
    lnb: LeNewBlackClient
    table: Table
    s3: S3Client
    bucket: str

    @property
    def runs(self) -> RunStore:
        return RunStore(self.table)

    @property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.s3, self.bucket)

    @property
    def previews(self) -> PreviewStore:
        return PreviewStore(self.s3, self.bucket)

    @property
    def locks(self) -> LockStore:
        return LockStore(self.table)

    @property
    def ledger(self) -> OrderLedger:
        return OrderLedger(self.table)

    @property
    def staging(self) -> StagingStore:
        return StagingStore(self.s3, self.bucket)


@dataclass
class FlowContext:
    """One run of one flow. In preview mode the flow stores its would-be writes here instead of sending."""

    services: Services
    run: Run
    preview_lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def fastmag(self) -> FastmagClient:
        return self.services.fastmag

    @property
    def reads(self) -> FastmagReads:
        """Fastmag's reads, typed: what flows use instead of SQL and the wire format."""
        from connector.fastmag.reads import FastmagReads

        return FastmagReads(self.services.fastmag, self.settings)

    @property
    def lnb(self) -> LeNewBlackClient:
        return self.services.lnb

    @property
    def snapshots(self) -> SnapshotStore:
        return self.services.snapshots

    def preview(self, line: dict[str, Any]) -> None:
        self.preview_lines.append(line)

    def preview_items(self, resource: str, items: Iterable[Outgoing], snapshot: Snapshot) -> None:
        """Record would-be sends with their diff class; the digest lets an apply prove nothing changed since."""
        # A flow may send several resources (fabrics, then products), each diffed against its own snapshot.
        self.run.preview_bases.setdefault(resource, snapshot.version or "empty")
        for item in items:
            self.preview(
                {
                    "resource": resource,
                    "key": item.key,
                    "change": "changed" if item.key in snapshot.entries else "new",
                    "digest": item.digest,
                    "payload": item.payload,
                    **item.log_fields,
                }
            )
