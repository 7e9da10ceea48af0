"""Validation of an LNB order for Fastmag, pure and total: an order comes in, and `Checked` comes out (the
Fastmag order to write, or every reason it is blocked, each naming the line as support finds it in LNB)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from connector.ean import is_valid_ean13
from connector.fastmag.models import FastmagOrder, FastmagOrderLine
from connector.flows.source import Skip
from connector.lenewblack.models import Order, OrderItem
from connector.settings import Settings

MAX_QUANTITY = 100_000
# A unit price past this is an error of the order (and would overflow the amounts' 28-digit decimal arithmetic).
MAX_UNIT_PRICE = Decimal(1_000_000_000)


@dataclass(frozen=True)
class Variant:
    reference: str
    colour: str
    size: str
    designation: str


@dataclass(frozen=True)
class Checked:
    """An order after validation: either the Fastmag order to write, or why it is blocked (`problems`, each
    keyed by the order's reference); `skipped_lines` are lines left out of an order that is still written."""

    reference: str
    order: FastmagOrder | None
    problems: tuple[Skip, ...]
    skipped_lines: tuple[Skip, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(problem.reason for problem in self.problems)


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())  # a reason is one line, whatever the item's text holds


def _line_label(number: int, item: OrderItem) -> str:
    """The line as support finds it in Le New Black: `line 2 (CH2301 / NOIR / M, "Chemise")`; LNB's SKU only
    when the item names no product, colour, size or name."""
    product = [_one_line(part) for part in (item.reference, item.color, item.size)]
    name = _one_line(item.name)
    what = [" / ".join(part or "?" for part in product)] if any(product) else []
    if name:
        what.append(f'"{name}"')
    if not what and _one_line(item.sku):
        what.append(f"SKU {_one_line(item.sku)}")
    return f"line {number} ({', '.join(what)})" if what else f"line {number}"


def _unit_price_problem(price: Decimal | None) -> str | None:
    if price is None:
        return "no unit price"
    if not 0 <= price <= MAX_UNIT_PRICE:
        return f"unit price must be between 0 and {MAX_UNIT_PRICE} (got {price})"
    return None


def check_order(
    order: Order,
    variants: Mapping[str, Variant],
    customers: set[str],
    settings: Settings,
    today: date,
) -> Checked:
    """Pure validation and mapping of one LNB order; every problem is a precise, readable reason."""
    problems: list[str] = []
    skipped: list[str] = []
    retailer = (order.retailer_reference or "").strip()
    if not retailer:
        problems.append("the order has no retailer reference")
    elif retailer not in customers:
        problems.append(f"retailer reference {retailer} is not a Fastmag customer")
    lines: list[FastmagOrderLine] = []
    for number, item in enumerate(order.items, start=1):
        label = _line_label(number, item)
        ean13 = (item.ean13 or "").strip()
        if not ean13:
            if settings.orders.missing_ean == "skip_line":
                skipped.append(f"{label} has no EAN13: line not exported")
            else:
                problems.append(f"{label} has no EAN13")
            continue
        variant = variants.get(ean13)
        if variant is None:
            why = "is not a valid EAN13" if not is_valid_ean13(ean13) else "is not a Fastmag variant"
            problems.append(f"{label}: EAN13 {ean13} {why}")
            continue
        if item.quantity is None or not 0 < item.quantity <= MAX_QUANTITY:
            problems.append(f"{label}: quantity must be between 1 and {MAX_QUANTITY} (got {item.quantity})")
            continue
        if (price_problem := _unit_price_problem(item.unit_price)) is not None:
            problems.append(f"{label}: {price_problem}")
            continue
        lines.append(
            FastmagOrderLine(
                reference=variant.reference,
                size=variant.size,
                colour=variant.colour,
                designation=variant.designation or item.name or "",
                ean13=ean13,
                unit_price=item.unit_price,
                quantity=item.quantity,
                discount_rate=min(max(item.discount_rate or Decimal(0), Decimal(0)), Decimal(100)),
            )
        )
    if not order.items:
        problems.append("the order has no lines")
    elif not lines and not problems:
        problems.append("no line of the order can be exported")
    skips = tuple(Skip(order.reference, note) for note in skipped)
    if problems:
        return Checked(order.reference, None, tuple(Skip(order.reference, problem) for problem in problems), skips)
    delivery = order.delivery_address
    fastmag_order = FastmagOrder(
        external_reference=order.reference,
        customer_id=retailer,
        store=settings.fastmag.magasin,
        email=order.buyer_email,
        delivery_address_name=(delivery.reference or "") if delivery else "",
        order_date=_parse_day(order.confirmation_time) or _parse_day(order.create_time) or today,
        delivery_start=_parse_day(order.delivery_start_on),
        delivery_end=_parse_day(order.delivery_end_on),
        comment=order.comment or "",
        lines=tuple(lines),
    )
    return Checked(order.reference, fastmag_order, (), skips)
