"""The reconciliation scenario: after the exports, LNB matches Fastmag; reconcile reads both sides and compares.

Its fewest calls: the inventory in one call, fabrics, products and retailers one page each per `page_size` records they
hold in LNB (prices are not reconciled by default: `reconcile.price_models` is 0); in Fastmag, the stock, products,
customers and addresses queries. Nothing is sent: a clean export leaves no drift.
"""

from __future__ import annotations

import math

from bench.remote import RemoteStack
from bench.scenarios import Scenario, Work


def _read_everything(stack: RemoteStack) -> Work:
    page: int = stack.call("page_size")
    held: dict[str, int] = stack.call("lnb_held")
    pages = sum(max(math.ceil(count / page), 1) for count in held.values())
    return Work(items={}, lnb_single_calls=1 + pages, fastmag_calls=4)


def scenarios() -> list[Scenario]:
    return [
        Scenario(
            "reconcile (no drift)",
            "reconcile",
            "schedule_reconcile",
            prepare=_read_everything,
            note="stock, fabrics, products and retailers read back and compared; prices off",
        )
    ]
