"""The order transaction written to EDIWEBSRV, and the simulator's reading of it (fastmag-api.md §3.4).

The real layout is not public, so a line is `keyword|marker|field|field…` with the fields the settings'
`OrderTransactionLayout` names. Each marker has one table below, `{field name: how to write it}`: the
layout's default field lists, the vocabulary it accepts, the writer and the simulator's reader all come from
it, so adding a field is one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, model_validator

from connector.fastmag.models import FastmagOrder, FastmagOrderLine, money
from connector.fastmag.wire import (
    escape_field,
    format_line,
    parse_decimal,
    parse_int,
    parse_line,
    unescape_field,
)

# How a value is written: text as is (escaped if the layout says so), a date with the layout's format, an
# amount with two decimals and the write separator, a count as digits.
Kind = Literal["text", "date", "amount", "count"]


class OrderLineAt(NamedTuple):
    """What a line field is read from: its order, its 1-based number, the line."""

    order: FastmagOrder
    number: int
    line: FastmagOrderLine


@dataclass(frozen=True)
class TransactionField[S]:
    kind: Kind
    value: Callable[[S], str | date | Decimal | int | None]
    # Whether the default layout writes it (a field can be known without being written by default).
    by_default: bool = True
    # Free text that may hold `|` or line breaks: escaped by default rather than stripped.
    escaped_by_default: bool = False


def _table[S](fields: Mapping[str, TransactionField[S]]) -> Mapping[str, TransactionField[S]]:
    return MappingProxyType(dict(fields))


HEADER_FIELDS: Mapping[str, TransactionField[FastmagOrder]] = _table(
    {
        "store": TransactionField("text", lambda o: o.store),
        "external_reference": TransactionField("text", lambda o: o.external_reference),
        "customer_id": TransactionField("text", lambda o: o.customer_id),
        "email": TransactionField("text", lambda o: o.email or "", by_default=False),
        "delivery_address_name": TransactionField("text", lambda o: o.delivery_address_name),
        "order_date": TransactionField("date", lambda o: o.order_date),
        "total_amount": TransactionField("amount", lambda o: o.total_amount),
        "total_quantity": TransactionField("count", lambda o: o.total_quantity),
        "delivery_start": TransactionField("date", lambda o: o.delivery_start),
        "delivery_end": TransactionField("date", lambda o: o.delivery_end),
        "comment": TransactionField("text", lambda o: o.comment, escaped_by_default=True),
    }
)

LINE_FIELDS: Mapping[str, TransactionField[OrderLineAt]] = _table(
    {
        "external_reference": TransactionField("text", lambda at: at.order.external_reference),
        "line_number": TransactionField("count", lambda at: at.number),
        "reference": TransactionField("text", lambda at: at.line.reference),
        "size": TransactionField("text", lambda at: at.line.size),
        "colour": TransactionField("text", lambda at: at.line.colour),
        "designation": TransactionField("text", lambda at: at.line.designation),
        "unit_price": TransactionField("amount", lambda at: at.line.unit_price),
        "quantity": TransactionField("count", lambda at: at.line.quantity),
        "discount_rate": TransactionField("amount", lambda at: at.line.discount_rate),
        "line_amount": TransactionField("amount", lambda at: at.line.line_amount),
        "ean13": TransactionField("text", lambda at: at.line.ean13, by_default=False),
    }
)


def _defaults(*tables: Mapping[str, TransactionField[Any]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(name for name, field in table.items() if field.by_default) for table in tables)


_DEFAULT_HEADER, _DEFAULT_LINE = _defaults(HEADER_FIELDS, LINE_FIELDS)
_DEFAULT_ESCAPED = tuple(
    dict.fromkeys(
        name for table in (HEADER_FIELDS, LINE_FIELDS) for name, field in table.items() if field.escaped_by_default
    )
)


class OrderTransactionLayout(BaseModel):
    """The order transaction's layout (a settings field: `fastmag.order_transaction`).

    A line is `keyword|marker|field|field…`. Field names come from the tables above; `=TEXT` writes TEXT.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    keyword: str = "COMMANDE"
    header_marker: str = "ENTETE"
    line_marker: str = "LIGNE"
    header_fields: tuple[str, ...] = _DEFAULT_HEADER
    line_fields: tuple[str, ...] = _DEFAULT_LINE
    escaped_fields: tuple[str, ...] = _DEFAULT_ESCAPED
    date_format: str = "%d/%m/%Y"

    @model_validator(mode="after")
    def _fields_in_vocabulary(self) -> OrderTransactionLayout:
        for name, fields, table in (
            ("header_fields", self.header_fields, HEADER_FIELDS),
            ("line_fields", self.line_fields, LINE_FIELDS),
        ):
            unknown = [f for f in fields if not f.startswith("=") and f not in table]
            if unknown:
                raise ValueError(f"{name}: unknown field(s) {unknown}; known: {sorted(table)}")
        return self


# --- writing ------------------------------------------------------------------------------------------------


def build_order_transaction(
    order: FastmagOrder, layout: OrderTransactionLayout, decimal_separator: Literal[",", "."] = "."
) -> list[str]:
    """The header line, then one line per order line, every field escaped or stripped per the layout."""

    def write(kind: Kind, value: str | date | Decimal | int | None) -> str:
        if value is None:
            return ""
        if kind == "date" and isinstance(value, date):
            return value.strftime(layout.date_format)
        if kind == "amount" and isinstance(value, Decimal):
            return str(money(value)).replace(".", decimal_separator)
        return str(value)

    def line[S](marker: str, names: Sequence[str], table: Mapping[str, TransactionField[S]], source: S) -> str:
        fields = [escape_field(layout.keyword, False), escape_field(marker, False)]
        for name in names:
            if name.startswith("="):
                fields.append(escape_field(name[1:], False))
            else:
                field = table[name]
                fields.append(escape_field(write(field.kind, field.value(source)), name in layout.escaped_fields))
        return format_line(fields)

    lines = [line(layout.header_marker, layout.header_fields, HEADER_FIELDS, order)]
    for number, order_line in enumerate(order.lines, start=1):
        lines.append(line(layout.line_marker, layout.line_fields, LINE_FIELDS, OrderLineAt(order, number, order_line)))
    return lines


# --- reading (the simulator's side) -------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


def _read(
    line: str, layout: OrderTransactionLayout, marker: str, names: Sequence[str], table: Mapping[str, Any]
) -> dict[str, Any]:
    """A line's fields by name, each read back by its table kind; an empty non-text field reads as None."""
    raw = parse_line(line)
    if len(raw) < 2 or raw[0] != layout.keyword or raw[1] != marker:
        raise ValueError(f"expected a {layout.keyword}|{marker} line, got {line[:60]!r}")
    if len(raw) != len(names) + 2:
        raise ValueError(f"{layout.keyword}|{marker} line has {len(raw) - 2} fields, layout has {len(names)}")
    readers: dict[Kind, Callable[[str], Any]] = {
        "text": str,
        "date": lambda text: datetime.strptime(text, layout.date_format).date(),
        "amount": parse_decimal,
        "count": parse_int,
    }
    values: dict[str, Any] = {}
    for name, value in zip(names, raw[2:], strict=True):
        if name.startswith("="):
            if value != name[1:]:
                raise ValueError(f"expected the literal {name[1:]!r}, got {value!r}")
            continue
        kind: Kind = table[name].kind
        text = unescape_field(value) if name in layout.escaped_fields else value
        values[name] = text if kind == "text" else (readers[kind](text) if text else None)
    return values


def parse_order_header(line: str, layout: OrderTransactionLayout) -> OrderHeader:
    values = _read(line, layout, layout.header_marker, layout.header_fields, HEADER_FIELDS)
    return OrderHeader(
        store=values.get("store", ""),
        external_reference=values.get("external_reference", ""),
        customer_id=values.get("customer_id", ""),
        email=values.get("email") or None,
        delivery_address_name=values.get("delivery_address_name", ""),
        order_date=values.get("order_date"),
        delivery_start=values.get("delivery_start"),
        delivery_end=values.get("delivery_end"),
        comment=values.get("comment", ""),
        stated_total_amount=values.get("total_amount"),
        stated_total_quantity=values.get("total_quantity"),
    )


def _required(values: dict[str, Any], name: str) -> Any:
    if values.get(name) is None:
        raise ValueError(f"the order line carries no {name}")
    return values[name]


def parse_order_line(line: str, layout: OrderTransactionLayout) -> ParsedOrderLine:
    values = _read(line, layout, layout.line_marker, layout.line_fields, LINE_FIELDS)
    return ParsedOrderLine(
        external_reference=values.get("external_reference"),
        line_number=values.get("line_number"),
        line=FastmagOrderLine(
            reference=values.get("reference", ""),
            size=values.get("size", ""),
            colour=values.get("colour", ""),
            designation=values.get("designation", ""),
            ean13=values.get("ean13", ""),
            unit_price=_required(values, "unit_price"),
            quantity=_required(values, "quantity"),
            discount_rate=values.get("discount_rate") or Decimal(0),
        ),
        stated_line_amount=values.get("line_amount"),
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
