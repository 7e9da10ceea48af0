"""One run of one flow: the container's services (services.py) and the run's task log and preview lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.run_log import Run
from connector.services import Services
from connector.settings import Settings
from connector.state import SnapshotStore

if TYPE_CHECKING:
    from connector.fastmag.client import FastmagClient
    from connector.fastmag.reads import FastmagReads
    from connector.lenewblack.client import LeNewBlackClient


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
