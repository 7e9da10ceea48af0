"""The order written to Fastmag and its transaction lines (fastmag-api.md §3.4).

The real order layout is not public, so the line shape comes from `OrderTransactionLayout` (settings):
`keyword|header_marker|<header fields>` then `keyword|line_marker|<line fields>` per order line. The
simulator reads the same lines back with `parse_order_transaction`, so writer and reader cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from connector.fastmag.wire import (
    escape_field,
    format_line,
    parse_decimal,
    parse_int,
    parse_line,
    unescape_field,
)
from connector.settings import OrderTransactionLayout

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Amounts travel with two decimals, rounded half up like a till."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FastmagOrderLine(_Model):
    """One order line; Fastmag names the product by reference + size + colour, not by EAN13."""

    reference: str = Field(min_length=1)
    size: str
    colour: str
    designation: str = ""
    ean13: str = ""
    unit_price: Decimal = Field(ge=0)
    quantity: int = Field(gt=0)
    discount_rate: Decimal = Field(default=Decimal(0), ge=0, le=100, description="percent")

    @field_validator("unit_price", "discount_rate")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        # The wire carries two decimals; rounding here keeps the model equal to what Fastmag stores.
        return money(value)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def line_amount(self) -> Decimal:
        return money(self.unit_price * self.quantity * (100 - self.discount_rate) / 100)


class FastmagOrder(_Model):
    external_reference: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    store: str = Field(min_length=1)
    email: str | None = None
    delivery_address_name: str = ""
    order_date: date
    delivery_start: date | None = None
    delivery_end: date | None = None
    comment: str = ""
    lines: tuple[FastmagOrderLine, ...] = Field(min_length=1)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_amount(self) -> Decimal:
        return sum((line.line_amount for line in self.lines), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


# --- writing ------------------------------------------------------------------------------------------------


def build_order_transaction(
    order: FastmagOrder, layout: OrderTransactionLayout, decimal_separator: Literal[",", "."] = "."
) -> list[str]:
    """The header line, then one line per order line, every field escaped or stripped per the layout."""

    def amount(value: Decimal) -> str:
        return str(money(value)).replace(".", decimal_separator)

    def day(value: date | None) -> str:
        return value.strftime(layout.date_format) if value else ""

    header_values = {
        "store": order.store,
        "external_reference": order.external_reference,
        "customer_id": order.customer_id,
        "email": order.email or "",
        "delivery_address_name": order.delivery_address_name,
        "order_date": day(order.order_date),
        "total_amount": amount(order.total_amount),
        "total_quantity": str(order.total_quantity),
        "delivery_start": day(order.delivery_start),
        "delivery_end": day(order.delivery_end),
        "comment": order.comment,
    }
    lines = [_line(layout, layout.header_marker, layout.header_fields, header_values)]
    for number, line in enumerate(order.lines, start=1):
        line_values = {
            "external_reference": order.external_reference,
            "line_number": str(number),
            "reference": line.reference,
            "size": line.size,
            "colour": line.colour,
            "designation": line.designation,
            "unit_price": amount(line.unit_price),
            "quantity": str(line.quantity),
            "discount_rate": amount(line.discount_rate),
            "line_amount": amount(line.line_amount),
            "ean13": line.ean13,
        }
        lines.append(_line(layout, layout.line_marker, layout.line_fields, line_values))
    return lines


def _line(layout: OrderTransactionLayout, marker: str, names: Sequence[str], values: dict[str, str]) -> str:
    fields = [escape_field(layout.keyword, False), escape_field(marker, False)]
    for name in names:
        if name.startswith("="):
            fields.append(escape_field(name[1:], False))
        else:
            fields.append(escape_field(values[name], name in layout.escaped_fields))
    return format_line(fields)


# --- reading (the simulator's side) -------------------------------------------------------------------------


class OrderHeader(_Model):
    """A header line read back; fields the layout does not carry stay empty."""

    store: str = ""
    external_reference: str = ""
    customer_id: str = ""
    email: str | None = None
    delivery_address_name: str = ""
    order_date: date | None = None
    delivery_start: date | None = None
    delivery_end: date | None = None
    comment: str = ""
    stated_total_amount: Decimal | None = None
    stated_total_quantity: int | None = None


class ParsedOrderLine(_Model):
    external_reference: str | None = None
    line_number: int | None = None
    line: FastmagOrderLine
    stated_line_amount: Decimal | None = None


def _fields(line: str, layout: OrderTransactionLayout, marker: str, names: Sequence[str]) -> dict[str, str]:
    raw = parse_line(line)
    if len(raw) < 2 or raw[0] != layout.keyword or raw[1] != marker:
        raise ValueError(f"expected a {layout.keyword}|{marker} line, got {line[:60]!r}")
    if len(raw) != len(names) + 2:
        raise ValueError(f"{layout.keyword}|{marker} line has {len(raw) - 2} fields, layout has {len(names)}")
    values: dict[str, str] = {}
    for name, value in zip(names, raw[2:], strict=True):
        if name.startswith("="):
            if value != name[1:]:
                raise ValueError(f"expected the literal {name[1:]!r}, got {value!r}")
            continue
        values[name] = unescape_field(value) if name in layout.escaped_fields else value
    return values


def _optional[T](values: dict[str, str], name: str, convert: Callable[[str], T]) -> T | None:
    text = values.get(name, "")
    return convert(text) if text else None


def parse_order_header(line: str, layout: OrderTransactionLayout) -> OrderHeader:
    values = _fields(line, layout, layout.header_marker, layout.header_fields)

    def day(text: str) -> date:
        return datetime.strptime(text, layout.date_format).date()

    return OrderHeader(
        store=values.get("store", ""),
        external_reference=values.get("external_reference", ""),
        customer_id=values.get("customer_id", ""),
        email=values.get("email") or None,
        delivery_address_name=values.get("delivery_address_name", ""),
        order_date=_optional(values, "order_date", day),
        delivery_start=_optional(values, "delivery_start", day),
        delivery_end=_optional(values, "delivery_end", day),
        comment=values.get("comment", ""),
        stated_total_amount=_optional(values, "total_amount", parse_decimal),
        stated_total_quantity=_optional(values, "total_quantity", parse_int),
    )


def parse_order_line(line: str, layout: OrderTransactionLayout) -> ParsedOrderLine:
    values = _fields(line, layout, layout.line_marker, layout.line_fields)
    return ParsedOrderLine(
        external_reference=values.get("external_reference"),
        line_number=_optional(values, "line_number", parse_int),
        line=FastmagOrderLine(
            reference=values.get("reference", ""),
            size=values.get("size", ""),
            colour=values.get("colour", ""),
            designation=values.get("designation", ""),
            ean13=values.get("ean13", ""),
            unit_price=parse_decimal(values.get("unit_price", "")),
            quantity=parse_int(values.get("quantity", "")),
            discount_rate=_optional(values, "discount_rate", parse_decimal) or Decimal(0),
        ),
        stated_line_amount=_optional(values, "line_amount", parse_decimal),
    )


def parse_order_transaction(lines: Sequence[str], layout: OrderTransactionLayout) -> FastmagOrder:
    """A header line and its order lines back into an order; stated totals must match the lines.

    Raises ValueError (pydantic's ValidationError is one) naming what is wrong.
    """
    if not lines:
        raise ValueError("an order transaction needs a header line")
    header = parse_order_header(lines[0], layout)
    parsed = [parse_order_line(line, layout) for line in lines[1:]]
    reference = header.external_reference or next((p.external_reference or "" for p in parsed), "")
    for position, item in enumerate(parsed, start=1):
        if item.external_reference not in (None, reference):
            raise ValueError(f"line {position} belongs to {item.external_reference!r}, not {reference!r}")
        if item.line_number not in (None, position):
            raise ValueError(f"line {position} is numbered {item.line_number}")
        if item.stated_line_amount not in (None, item.line.line_amount):
            raise ValueError(f"line {position}: amount {item.stated_line_amount} != {item.line.line_amount}")
    if header.order_date is None:
        raise ValueError("the order header carries no order_date")
    order = FastmagOrder(
        external_reference=reference,
        customer_id=header.customer_id,
        store=header.store,
        email=header.email,
        delivery_address_name=header.delivery_address_name,
        order_date=header.order_date,
        delivery_start=header.delivery_start,
        delivery_end=header.delivery_end,
        comment=header.comment,
        lines=tuple(item.line for item in parsed),
    )
    if header.stated_total_amount not in (None, order.total_amount):
        raise ValueError(f"total amount {header.stated_total_amount} != lines {order.total_amount}")
    if header.stated_total_quantity not in (None, order.total_quantity):
        raise ValueError(f"total quantity {header.stated_total_quantity} != lines {order.total_quantity}")
    return order
