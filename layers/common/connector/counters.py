"""A run's counters, and what each counts per flow: `read` counts what the flow read from its source, the others
the records it sends (so products read 1937 / sent 247 compares variant rows with models). The pages, the command
line and the README read the units from here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel


class Counters(BaseModel):
    """A run's tallies; what each counts differs by flow (Fastmag rows read, LNB records sent): COUNTER_UNITS."""

    read: int = 0
    unchanged: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    ignored: int = 0  # orders placed before the go-live cut-off
    warnings: int = 0  # items sent or kept with a caveat (not failures: the run still succeeds)
    drift: int = 0  # reconcile: records missing in, different in, or unknown to Le New Black's copy


@dataclass(frozen=True)
class CounterUnits:
    """What a flow's counters count: `read` counts rows of the source, the others the records of the target
    (so products read 1937 / sent 247 compares variant rows with models, not like with like)."""

    read: str
    records: str
    labels: Mapping[str, str] = field(default_factory=dict)  # a counter this flow names otherwise

    def label(self, counter: str) -> str:
        return self.labels.get(counter, counter)

    def unit(self, counter: str) -> str:
        return self.read if counter == "read" else self.records

    def legend(self, word: Callable[[str], str] = str) -> str:
        """The one-line legend a page shows under the flow's counters; `word` translates a counter's label."""
        others = ", ".join(word(self.label(name)) for name in Counters.model_fields if name not in {"read", "ignored"})
        return f"{word('read')} = {self.read}; {others} = {self.records}"


# One place for every flow's units: the pages, the command line and the README read them from here.
COUNTER_UNITS: dict[str, CounterUnits] = {
    "customers": CounterUnits(read="Fastmag customers", records="LNB retailers (one per customer)"),
    "products": CounterUnits(
        read="Fastmag variant rows (one per SKU)", records="LNB fabrics and products (one product per model)"
    ),
    "prices": CounterUnits(
        read="Fastmag price rows", records="LNB prices (one per model colour and price list, or per size)"
    ),
    "images": CounterUnits(
        read="Fastmag photos",
        records="image files (one per model, colour and index), staged in S3, then uploaded to LNB",
        # The export stages files in S3; the upload function then uploads each to LNB and records it.
        labels={"sent": "to stage", "accepted": "staged"},
    ),
    "stock": CounterUnits(
        read="Fastmag stock rows (one per variant)", records="LNB inventory lines (one per EAN13 or SKU)"
    ),
    "orders": CounterUnits(
        read="LNB orders waiting",
        records="orders (sent/accepted: written to Fastmag; ignored: before the go-live cut-off)",
    ),
    # Read-only: it sends nothing; its findings are the run's `checks` (problems per check).
    "readiness": CounterUnits(
        read="Fastmag rows, LNB records and ledger entries read", records="none (it writes to neither side)"
    ),
    # drift: records missing in, different in, or unknown to LNB's copy; sent/accepted only when repairing.
    "reconcile": CounterUnits(
        read="LNB records read and Fastmag records mapped", records="LNB records repaired (with --repair)"
    ),
}


def counter_legend(flow: str, word: Callable[[str], str] = str) -> str:
    """The legend of `flow`'s counters (`word` translates the counters' labels); plain counter names for a flow
    without units."""
    units = COUNTER_UNITS.get(flow)
    return (
        units.legend(word)
        if units
        else f"{word('read')} = source rows; {word('sent')}, {word('accepted')}… = records sent"
    )
