"""What starts a flow: the schedule's Input, the API's asynchronous invoke, the CLI, or an apply."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.errors import SettingsError
from connector.settings import Flow

Trigger = Literal["button", "schedule", "cli", "apply"]


class FlowRequest(BaseModel):
    """One run of one flow. `run_id` is given by the API (the run it queued) or the schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow: Flow
    trigger: Trigger = "cli"
    run_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    preview: bool = False
    full: bool = False
    force: bool = False
    scheduled_time: datetime | None = None
    execution_id: str | None = None
    apply_run_id: str | None = None

    @classmethod
    def parse(cls, flow: Flow, event: dict[str, Any] | None) -> FlowRequest:
        """Read a Lambda event for `flow`; a mismatching or malformed event fails with the field named."""
        data = dict(event or {})
        data.setdefault("flow", flow)
        try:
            request = cls.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise SettingsError(f"invalid {flow} event: {problems}") from error
        if request.flow != flow:
            raise SettingsError(f"this function runs the {flow} flow, not {request.flow}")
        return request

    def resolved_run_id(self) -> str:
        """The schedule's execution id is the run id, so a Scheduler retry of one tick is the same run."""
        if self.run_id:
            return self.run_id
        if self.execution_id:
            return f"{self.flow}-{self.execution_id}"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{self.flow}-{stamp}-{uuid.uuid4().hex[:8]}"
