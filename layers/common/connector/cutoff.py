"""The go-live cut-off (`orders.not_before`): which Le New Black orders the connector takes, pure.

An order is placed when LNB confirmed it (`confirmation_time`), else when it was created (`create_time`). A time
without an offset is read as UTC: LNB's documents show none, and a cut-off is a go-live date, not a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from connector.lenewblack.models import Order
from connector.settings import OrderSettings

HOLD_MESSAGE = "set orders.not_before, or null, before enabling orders"
IGNORED_REASON = "before the go-live cut-off"


@dataclass(frozen=True)
class Verdict:
    """`take`: validate and write it as usual; otherwise `ignore` it for good, or `problem` says why neither."""

    take: bool
    ignore: bool = False
    problem: str | None = None


TAKE = Verdict(take=True)


def hold_reason(rules: OrderSettings, *, preview: bool) -> str | None:
    """Why an orders run must write nothing: the cut-off was never decided. A preview always runs."""
    return None if preview or rules.cutoff_set else HOLD_MESSAGE


def placed_at(order: Order) -> datetime | None:
    """When the order was placed, or None when LNB gives no readable time."""
    for value in (order.confirmation_time, order.create_time):
        if not value:
            continue
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return None


def verdict(order: Order, rules: OrderSettings) -> Verdict:
    """Take, ignore, or (no readable time while a cut-off is set) hold back with a reason, every run again."""
    if rules.not_before is None:
        return TAKE
    when = placed_at(order)
    if when is None:
        return Verdict(
            take=False,
            problem=(
                f"no readable confirmation_time or create_time: cannot compare it with the go-live cut-off "
                f"{rules.not_before.isoformat()}"
            ),
        )
    if when < rules.not_before:
        return Verdict(take=False, ignore=True)
    return TAKE
