"""What starts a flow: the schedule's Input, the API's asynchronous invoke, the CLI, or an apply."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.errors import SettingsError, describe
from connector.settings import Flow

# What a run id may hold besides letters and digits (the API's and the table's key pattern).
_SAFE = re.compile(r"[^A-Za-z0-9._\-]+")

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
    repair: bool = False  # reconcile only: send the differences it finds (honours `preview`)
    # EventBridge Scheduler's context (the schedule's Input): the schedule and the tick's time name the run; the
    # execution id (new on every retry of a tick) and attempt number are kept for diagnosis only.
    schedule: str | None = Field(default=None, max_length=2048, description="the schedule's ARN or name")
    scheduled_time: datetime | None = None
    execution_id: str | None = None
    attempt: int | None = None
    apply_run_id: str | None = None

    @classmethod
    def parse(cls, flow: Flow, event: dict[str, Any] | None) -> FlowRequest:
        """Read a Lambda event for `flow`; a mismatching or malformed event fails with the field named."""
        data = dict(event or {})
        data.setdefault("flow", flow)
        try:
            request = cls.model_validate(data)
        except ValidationError as error:
            raise SettingsError(f"invalid {flow} event: {describe(error)}") from error
        if request.flow != flow:
            raise SettingsError(f"this function runs the {flow} flow, not {request.flow}")
        return request

    @property
    def schedule_name(self) -> str | None:
        """The schedule's name, from its ARN (`arn:aws:scheduler:…:schedule/<group>/<name>`) or as given."""
        if not self.schedule:
            return None
        return _SAFE.sub("-", self.schedule.rsplit("/", 1)[-1])[:64] or None

    def resolved_run_id(self) -> str:
        """A scheduled run is named by its schedule and tick, which every delivery and retry of the tick repeats
        (Lambda may deliver an asynchronous event twice; Scheduler retries a tick with a new execution id)."""
        if self.run_id:
            return self.run_id
        if self.scheduled_time is not None:
            tick = self.scheduled_time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            return f"{self.flow}-{self.schedule_name or 'schedule'}-{tick}"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{self.flow}-{stamp}-{uuid.uuid4().hex[:8]}"
