"""Orders: LNB orders in "Invoicing" → Fastmag order transactions, exactly once, or blocked with a reason.

read (LNB orders to export, plus the ones this connector blocked) → validate (EAN13s resolve to Fastmag
variants, the retailer is a Fastmag customer, quantities and prices make sense) → look up (Fastmag may
hold an order whose write looked failed) → send (never retried blindly) → move the LNB status → record.
Each step is a conditional write in the ledger, so a crash between two steps is recovered next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from connector.ean import is_valid_ean13
from connector.errors import ConnectorError, FastmagError, FastmagOutcomeUnknown
from connector.fastmag.models import FastmagOrder, FastmagOrderLine, build_order_transaction
from connector.fastmag.sql import render
from connector.flows.context import FlowContext
from connector.lenewblack.models import Order, OrderItem
from connector.observability import log_record, mask_email
from connector.settings import Settings
from connector.state import LedgerEntry, LedgerStatus, OrderLedger

MAX_QUANTITY = 100_000


@dataclass(frozen=True)
class Variant:
    reference: str
    colour: str
    size: str
    designation: str


@dataclass(frozen=True)
class Checked:
    """An order after validation: either the Fastmag order to write, or why it is blocked."""

    reference: str
    order: FastmagOrder | None
    problems: tuple[str, ...]
    skipped_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ready:
    """An order that passed validation, with the Fastmag order to write."""

    reference: str
    order: FastmagOrder


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
        if item.unit_price is None or item.unit_price < 0:
            problems.append(f"{label}: " + ("no unit price" if item.unit_price is None else "negative unit price"))
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
    if problems:
        return Checked(order.reference, None, tuple(problems), tuple(skipped))
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
    return Checked(order.reference, fastmag_order, (), tuple(skipped))


def _variants(ctx: FlowContext, orders: Iterable[Order]) -> dict[str, Variant]:
    eans = sorted({(item.ean13 or "").strip() for order in orders for item in order.items} - {""})
    if not eans:
        return {}
    rows = ctx.fastmag.query(render(ctx.settings.fastmag.queries.variants_by_ean, eans=eans))
    return {
        row["ean13"]: Variant(row["reference"], row.get("colour", ""), row.get("size", ""), row.get("designation", ""))
        for row in rows
    }


def _customers(ctx: FlowContext, orders: Iterable[Order]) -> set[str]:
    references = sorted({(order.retailer_reference or "").strip() for order in orders} - {""})
    if not references:
        return set()
    rows = ctx.fastmag.query(render(ctx.settings.fastmag.queries.customers_by_id, customers=references))
    return {row["customer_id"].strip() for row in rows}


def _in_fastmag(ctx: FlowContext, references: list[str]) -> dict[str, str]:
    """Fastmag numbers of the orders Fastmag already holds, by external reference (one query)."""
    if not references:
        return {}
    rows = ctx.fastmag.query(render(ctx.settings.fastmag.queries.orders_by_reference, references=references))
    return {row["external_reference"]: row.get("fastmag_number", "") for row in rows}


def _read_orders(ctx: FlowContext, ledger: OrderLedger) -> list[Order]:
    """Orders to export, and the orders this connector blocked (their LNB status may say so)."""
    statuses = ctx.settings.lenewblack.order_statuses
    raw: list[dict[str, Any]] = ctx.lnb.list_orders(statuses.to_export)
    blocked_here = {entry.reference for entry in ledger.with_status(LedgerStatus.BLOCKED)}
    if blocked_here and ctx.settings.orders.move_blocked_status and statuses.blocked != statuses.to_export:
        raw += [o for o in ctx.lnb.list_orders(statuses.blocked) if str(o.get("reference")) in blocked_here]
    orders: dict[str, Order] = {}
    for document in raw:
        try:
            order = Order.model_validate(document)
        except ValidationError as error:
            # A page may hold anything: even a non-object entry is reported, not raised.
            found = document.get("reference") if isinstance(document, dict) else None
            reference = str(found or "(no reference)")
            fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
            ctx.run.skipped(reference, f"unreadable order from Le New Black (fields: {fields})")
            continue
        orders.setdefault(order.reference, order)
    return list(orders.values())


def _move_status(ctx: FlowContext, ledger: OrderLedger, reference: str, status: str) -> bool:
    try:
        ctx.lnb.set_order_status(reference, status)
    except ConnectorError as error:
        ctx.run.problem(f"could not set Le New Black status {status}: {error}")
        log_record("order.status_failed", reference, reason=str(error), level="ERROR", lnb_status=status)
        return False
    ledger.move(reference, _current(ledger, reference), f"LNB status set to {status}", lnb_status=status)
    return True


def _current(ledger: OrderLedger, reference: str) -> LedgerStatus:
    entry = ledger.get(reference)
    return entry.status if entry else LedgerStatus.PENDING


def _block(ctx: FlowContext, ledger: OrderLedger, entry: LedgerEntry, reason: str) -> None:
    ctx.run.count("skipped")
    ctx.run.problem(reason)
    if entry.status != LedgerStatus.BLOCKED or entry.reason != reason:
        ledger.move(entry.reference, LedgerStatus.BLOCKED, f"blocked: {reason}", reason=reason)
    log_record("order.blocked", entry.reference, reason=reason, level="WARNING", lnb_status=entry.lnb_status)
    blocked_status = ctx.settings.lenewblack.order_statuses.blocked
    if ctx.settings.orders.move_blocked_status and entry.lnb_status != blocked_status and not ctx.run.preview:
        _move_status(ctx, ledger, entry.reference, blocked_status)


def _exported(ctx: FlowContext, ledger: OrderLedger, reference: str, number: str, how: str) -> None:
    ledger.move(reference, LedgerStatus.EXPORTED, f"in Fastmag as {number} ({how})", fastmag_number=number)
    ctx.run.accepted(reference)
    log_record("order.exported", reference, fastmag_number=number, reason=how)
    _move_status(ctx, ledger, reference, ctx.settings.lenewblack.order_statuses.exported)


def _send(ctx: FlowContext, ledger: OrderLedger, checked: Ready, entry: LedgerEntry) -> None:
    settings = ctx.settings
    lines = _transaction(ctx, checked.order)
    wire = settings.fastmag.wire
    # Checked before the claim: a run that stops here leaves the order validated, not `sent` with nothing sent.
    ctx.run.lease.require(wire.connect_timeout_seconds + wire.read_timeout_seconds + 10, f"write {checked.reference}")
    claimed = ledger.move(
        checked.reference,
        LedgerStatus.SENT,
        f"sent to Fastmag by run {ctx.run.run_id}",
        allowed_from=(LedgerStatus.PENDING, LedgerStatus.VALIDATED, LedgerStatus.BLOCKED),
        last_run_id=ctx.run.run_id,
    )
    if not claimed:  # another run took it between our read and now: it is that run's to finish
        ctx.run.skipped(checked.reference, "being exported by another run")
        return
    ctx.run.count("sent")
    try:
        result = ctx.fastmag.write(lines)
    except FastmagOutcomeUnknown as error:
        reason = f"Fastmag outcome unknown ({error}): the order will be looked up before any new send"
        ctx.run.problem(reason)
        log_record("order.unknown", checked.reference, reason=reason, level="ERROR")
        return
    except FastmagError as error:
        failed_runs = entry.failed_runs + 1
        message = error.remote_message or str(error)
        ledger.move(
            checked.reference,
            LedgerStatus.PENDING,
            f"Fastmag refused: {message}",
            reason=f"Fastmag refused: {message}",
            failed_runs=failed_runs,
        )
        ctx.run.rejected(checked.reference, f"Fastmag refused the order: {message}")
        if failed_runs >= settings.orders.alarm_after_failed_runs:
            log_record(
                "order.failing",
                checked.reference,
                reason=f"Fastmag refused this order {failed_runs} runs in a row: {message}",
                level="ERROR",
            )
        return
    _exported(ctx, ledger, checked.reference, result.number or "", "written")


def _finish_exported(
    ctx: FlowContext, ledger: OrderLedger, orders: list[Order], entries: dict[str, LedgerEntry]
) -> None:
    """Orders already in Fastmag (e.g. the status move failed last time): only the status move is left."""
    exported = ctx.settings.lenewblack.order_statuses.exported
    for order in orders:
        entry = entries[order.reference]
        if entry.status == LedgerStatus.EXPORTED:
            ctx.run.count("unchanged")
            if entry.lnb_status != exported and not ctx.run.preview:
                _move_status(ctx, ledger, order.reference, exported)


def _validate(
    ctx: FlowContext, ledger: OrderLedger, waiting: list[Order], entries: dict[str, LedgerEntry]
) -> list[Ready]:
    """Block what fails validation; return the orders ready for Fastmag."""
    variants, customers = _variants(ctx, waiting), _customers(ctx, waiting)
    today = datetime.now(UTC).date()
    ready: list[Ready] = []
    for order in waiting:
        result = check_order(order, variants, customers, ctx.settings, today)
        for note in result.skipped_lines:
            log_record("order.line_skipped", result.reference, reason=note, level="WARNING")
        if result.order is None:
            _block(ctx, ledger, entries[result.reference], "; ".join(result.problems))
        else:
            ready.append(Ready(result.reference, result.order))
    return ready


def _transaction(ctx: FlowContext, order: FastmagOrder) -> list[str]:
    fastmag = ctx.settings.fastmag
    return build_order_transaction(order, fastmag.order_transaction, fastmag.wire.write_decimal_separator)


def run(ctx: FlowContext) -> None:
    ledger = OrderLedger(ctx.services.table)
    orders = _read_orders(ctx, ledger)
    ctx.run.count("read", len(orders))
    entries = {order.reference: ledger.open(order.reference, ctx.run.run_id) for order in orders}
    _finish_exported(ctx, ledger, orders, entries)
    waiting = [order for order in orders if entries[order.reference].status != LedgerStatus.EXPORTED]
    ready = _validate(ctx, ledger, waiting, entries)

    if ctx.run.preview:
        for result in ready:
            lines = [mask_email(line) for line in _transaction(ctx, result.order)]
            ctx.preview({"key": result.reference, "change": "new", "transaction": lines})
        return

    for result in ready:
        if entries[result.reference].status in {LedgerStatus.PENDING, LedgerStatus.BLOCKED}:
            ledger.move(result.reference, LedgerStatus.VALIDATED, "validated", reason=None)
    # A write can succeed in Fastmag while the caller sees an error: look every order up before sending.
    known = _in_fastmag(ctx, [result.reference for result in ready])
    for result in ready:
        number = known.get(result.reference)
        if number is not None:
            _exported(ctx, ledger, result.reference, number, "found in Fastmag")
        else:
            _send(ctx, ledger, result, ledger.get(result.reference) or entries[result.reference])
