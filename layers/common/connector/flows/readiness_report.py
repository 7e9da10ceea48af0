"""The readiness report: its checks, its items, where it is stored and how it is read back (page, JSON, CSV).

A report is gzip JSON Lines under `readiness/<run_id>.jsonl.gz` in the staging bucket, one item per line in
the order of `CHECKS` (each check's items in the order the check gives them). The run record holds the count
per check (`checks`); the page reads the object back, grouped by check, a page at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from connector.errors import ConnectorError
from connector.jsonl_store import JsonLinesStore
from connector.observability import logger, mask_email
from connector.task_log import csv_cell

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

PREFIX = "readiness/"
REPORT_FORMAT = 1
METRIC = "readiness_blocking_problems"


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    blocking: bool  # counted in the metric: orders or exports fail on it, not only look incomplete


# In the order the report lists them.
CHECKS: tuple[Check, ...] = (
    Check("retailer_unknown", "Le New Black retailers that are not Fastmag customers", blocking=True),
    Check("customer_missing", "Fastmag B2B customers missing in Le New Black", blocking=False),
    Check("ean_invalid", "Sellable variants without a valid EAN13", blocking=True),
    Check("ean_shared", "EAN13 shared by several variants", blocking=True),
    Check("price_list_unknown", "Mapped price lists Le New Black does not know", blocking=True),
    Check("price_missing", "Exported product colours without a price in a mapped list", blocking=False),
    Check("image_missing", "Product colours without any image", blocking=False),
    Check("order_blocked", "Orders blocked in Le New Black", blocking=True),
    Check("order_stuck", "Orders stuck in sent", blocking=True),
    Check("collection_unmatched", "Le New Black collections matching no Fastmag season", blocking=False),
    Check("product_unmatched", "Le New Black products matching no Fastmag model", blocking=False),
    Check("fabric_unmatched", "Le New Black fabrics matching no Fastmag colour and material", blocking=False),
    Check("category_unmapped", "Le New Black category names no Fastmag family maps to", blocking=False),
)
BY_NAME = {check.name: check for check in CHECKS}


@dataclass(frozen=True)
class Item:
    """One problem: under which check, the key support searches for, what is wrong, what to do."""

    check: str
    key: str
    problem: str
    action: str


def counts(items: Iterable[Item]) -> dict[str, int]:
    """Problems per check, every check named (a clean report shows its zeros)."""
    found = dict.fromkeys(BY_NAME, 0)
    for item in items:
        found[item.check] += 1
    return found


def blocking_total(checks: Mapping[str, int]) -> int:
    return sum(count for name, count in checks.items() if name in BY_NAME and BY_NAME[name].blocking)


def ordered(items: Iterable[Item]) -> list[Item]:
    """Grouped by check, in CHECKS order; a check's own order is kept (sort is stable)."""
    rank = {name: position for position, name in enumerate(BY_NAME)}
    return sorted(items, key=lambda item: rank[item.check])


# --- CSV ------------------------------------------------------------------------------------------------------

CSV_COLUMNS = ("check", "key", "problem", "action")


def to_csv(items: Iterable[Item]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        # Inert cells, as in every CSV the connector writes (task_log.csv_cell: no formula injection).
        writer.writerow([csv_cell(getattr(item, column)) for column in CSV_COLUMNS])
    return out.getvalue()


# --- storage --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list[Item]
    total: int  # items matching the filter
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + self.limit
        return following if following < self.total else None


class ReportNotFound(ConnectorError):
    """No stored report for that run."""


class ReportStore:
    """Reports as gzip JSON Lines under `readiness/<run_id>.jsonl.gz`."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._files = JsonLinesStore(
            s3,
            bucket,
            prefix=PREFIX,
            what="report",
            format_version=REPORT_FORMAT,
            missing=lambda run_id: ReportNotFound(f"no readiness report for run {run_id}"),
        )

    def key(self, run_id: str) -> str:
        return self._files.key(run_id)

    def write(self, run_id: str, items: Iterable[Item]) -> str:
        # Problems quote Fastmag and LNB data: an email in them is masked as everywhere support reads.
        key = self._files.write(
            self.key(run_id), ({**asdict(item), "problem": mask_email(item.problem)} for item in items)
        )
        logger.info(f"readiness report stored at s3://{self._files.bucket}/{key}", extra={"event": "readiness.report"})
        return key

    def read(self, run_id: str) -> Iterator[Item]:
        for line in self._files.read(self.key(run_id), run_id)[1]:
            yield Item(**line)

    def page(self, run_id: str, *, check: str | None, offset: int, limit: int) -> Page:
        matching = [item for item in self.read(run_id) if check is None or item.check == check]
        return Page(matching[offset : offset + limit], len(matching), offset, limit)
