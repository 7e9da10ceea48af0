"""What `connector check` reports, and where its last report is kept for the status page (`CHECK#last`).

Apart from check.py (which runs the checks, above the flows) so the status page can read a report without
depending on the code that produces one.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

CHECK_FORMAT = 1


class CheckState(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"  # cannot be known from here: the line says what can


class CheckLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    state: CheckState
    detail: str

    def text(self) -> str:
        return f"{self.state.value:<7} {self.name}: {self.detail}"


class CheckReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: int = CHECK_FORMAT
    checked_at: str
    lines: tuple[CheckLine, ...]

    @property
    def passed(self) -> bool:
        return all(line.state != CheckState.FAILED for line in self.lines)


class CheckStore:
    """The last check's report, `CHECK#last`, for the status page."""

    def __init__(self, table: Table) -> None:
        self._table = table

    _KEY = {"pk": "CHECK#last", "sk": "CHECK"}  # noqa: RUF012 - a constant key, never mutated

    def save(self, report: CheckReport) -> None:
        self._table.put_item(Item={**self._KEY, "report": report.model_dump_json()})

    def last(self) -> CheckReport | None:
        item = self._table.get_item(Key=dict(self._KEY), ConsistentRead=True).get("Item")
        if not item:
            return None
        document = json.loads(str(item["report"]))
        if document.get("format", 1) > CHECK_FORMAT:
            return None  # written by a newer release (then rolled back): not shown rather than misread
        return CheckReport.model_validate(document)
