"""Incoming stock: the receptions Fastmag expects → LNB `incoming_stock` and `incoming_stock_date`, carried in
the stock flow's payloads and diffed with the current quantity as one record.

Optional: without `fastmag.queries.incoming_stock` nothing here runs and stock payloads and digests are exactly
those of a release without it. LNB holds one quantity and one date per key where Fastmag may expect several
receptions: those expected within `stock.incoming.horizon_days` (overdue ones included: still expected) are
summed, floored, less `stock.incoming.safety_buffer`, never below 0, and dated by the earliest or the latest of
them (`stock.incoming.date`).

The snapshot keeps a key's incoming stock as a suffix of its stock entry (`12 4711 +30@2026-12-15`), only when
there is some: turning the query on leaves every key without receptions looking unchanged, and a change of
date alone changes the entry, so it is sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from connector.fastmag.reads import IncomingRow, Unreadable
from connector.flows.context import FlowContext
from connector.flows.source import Skip, text
from connector.settings import IncomingStockSettings


@dataclass(frozen=True)
class Incoming:
    quantity: int
    expected: date


@dataclass
class IncomingStock:
    """Incoming stock per Fastmag variant, and the reception rows that could not be read."""

    configured: bool = False
    by_variant: dict[str, Incoming] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)

    def fingerprint(self, variant_id: str, entry: str) -> str:
        """A stock snapshot entry with the variant's incoming stock (unchanged when not configured or none is due,
        so an upgrade or a variant without receptions keeps its plain form)."""
        incoming = self.by_variant.get(variant_id) if self.configured else None
        return entry if incoming is None else f"{entry} +{incoming.quantity}@{incoming.expected.isoformat()}"

    def payload(self, variant_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A stock payload with the variant's incoming stock (unchanged when not configured)."""
        if not self.configured:
            return payload
        incoming = self.by_variant.get(variant_id)
        if incoming is None:
            # 0, so receptions that arrived or were cancelled leave LNB.
            return {**payload, "incoming_stock": 0}
        return {
            **payload,
            "incoming_stock": incoming.quantity,
            "incoming_stock_date": incoming.expected.isoformat(),
        }


def expected_receptions(rows: Iterable[IncomingRow], settings: IncomingStockSettings, today: date) -> IncomingStock:
    """Pure: reception rows → incoming stock per variant, by the settings' horizon, date rule and buffer."""
    result = IncomingStock(configured=True)
    horizon = today + timedelta(days=settings.horizon_days)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    dates: dict[str, list[date]] = defaultdict(list)
    for row in rows:
        variant_id = text(row, "variant_id")
        quantity = row.get("quantity")
        written = text(row, "expected_date")
        where = {"expected_date": written}
        if not variant_id:
            result.skipped.append(Skip(f"reception of {written or '?'}", "incoming stock row names no variant"))
            continue
        if isinstance(quantity, Unreadable):
            result.skipped.append(
                Skip(variant_id, "unreadable incoming quantity", {**where, "quantity": quantity.text})
            )
            continue
        try:
            expected = date.fromisoformat(written[:10])
        except ValueError:
            result.skipped.append(Skip(variant_id, "unreadable expected date of incoming stock", where))
            continue
        if quantity is None or quantity <= 0 or expected > horizon:
            continue
        totals[variant_id] += quantity
        dates[variant_id].append(expected)
    for variant_id, total in totals.items():
        whole = max(int(total.to_integral_value(rounding=ROUND_FLOOR)) - settings.safety_buffer, 0)
        if whole:
            chosen = min(dates[variant_id]) if settings.date == "earliest" else max(dates[variant_id])
            result.by_variant[variant_id] = Incoming(whole, chosen)
    return result


def incoming_stock(ctx: FlowContext) -> IncomingStock:
    """The incoming stock the stock flow sends now; not configured (nothing added) without the query."""
    if not ctx.settings.fastmag.queries.incoming_stock:
        return IncomingStock()
    today = datetime.now(UTC).date()
    return expected_receptions(ctx.reads.incoming_stock(), ctx.settings.stock.incoming, today)
