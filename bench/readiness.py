"""The readiness scenario: the whole report at the benchmark's size (100 000 SKUs, 5 000 retailers), after the
export scenarios filled Le New Black, reading it with the fewest calls its API allows: one list per resource."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bench.scenarios import Scenario, Work

if TYPE_CHECKING:
    from bench.remote import RemoteStack

# The catalogue, stock and prices reads, then customers and addresses (extra buyers are off in the sandbox).
FASTMAG_READS = 5
# Le New Black lists read whole besides retailers and products: collections, fabrics (a few hundred colour ×
# material codes: one page) and the blocked orders.
SMALL_LISTS = 3


def readiness_scenarios() -> list[Scenario]:
    def lists(stack: RemoteStack) -> Work:
        sizes: dict[str, int] = stack.call("sizes")
        page: int = stack.call("page_size")
        pages = math.ceil(sizes["retailers"] / page) + math.ceil(sizes["models"] / page) + SMALL_LISTS
        return Work(items={}, lnb_single_calls=pages, fastmag_calls=FASTMAG_READS)

    return [
        Scenario(
            "readiness report",
            "readiness",
            "schedule_readiness",
            prepare=lists,
            note="both sides read whole, nothing written; LNB lists at 500 rows a call",
            trace=False,
        )
    ]
