"""Orders: LNB orders in "Invoicing" → Fastmag order transactions, exactly once, or blocked with a reason.

read (LNB orders to export, plus the ones this connector is still working on) → open their ledger entries →
validate (EAN13s resolve to Fastmag variants, the retailer is a Fastmag customer, quantities and prices make
sense) → look up (Fastmag may hold an order whose write looked failed) → send what is neither found nor in
doubt, claimed first → prove the lookup finds what was just written → move the LNB status.
Every step is a compare-and-set in the ledger (`OrderBook` below), so a crash, a duplicate delivery or a run
that outlived its lease is recovered by the next run without writing an order twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import ValidationError

from connector import ledger as clock
from connector.ean import is_valid_ean13
from connector.errors import (
    ConnectorError,
    FastmagError,
    FastmagNotSent,
    FastmagOutcomeUnknown,
    FastmagPartialWrite,
    LeNewBlackError,
    describe,
)
from connector.fastmag.models import FastmagOrder, FastmagOrderLine, build_order_transaction
from connector.fastmag.sql import render
from connector.flows.context import FlowContext
from connector.ledger import LedgerEntry, LedgerStatus, LookupProof, OrderLedger
from connector.lenewblack.models import Order, OrderItem
from connector.observability import log_record, mask_email
from connector.settings import Settings
from connector.state import digest

if TYPE_CHECKING:
    from connector.lenewblack.client import LeNewBlackClient
    from connector.run_log import Run

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

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)


@dataclass(frozen=True)
class Found:
    """An order Fastmag holds: its number, and how many lines it has when the lookup says (`line_count`)."""

    number: str
    line_count: int | None


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


def _in_fastmag(ctx: FlowContext, references: Iterable[str]) -> dict[str, Found]:
    """The orders Fastmag already holds, by external reference (one query)."""
    wanted = sorted(set(references))
    if not wanted:
        return {}
    one_per_call = ctx.settings.fastmag.wire.transactions_per_call == "one"
    rows = ctx.fastmag.query(
        render(ctx.settings.fastmag.queries.orders_by_reference, references=wanted),
        required_columns=("external_reference", "fastmag_number", *(("line_count",) if one_per_call else ())),
    )
    found: dict[str, Found] = {}
    for row in rows:
        count = (row.get("line_count") or "").strip()
        found.setdefault(row["external_reference"], Found(row.get("fastmag_number", ""), int(count) if count else None))
    return found


Resolution = Literal["exported", "resend"]


class OrderBook:
    """The orders of one run. Each verb writes the ledger (compare-and-set on what was read), counts in the
    run and logs the line, together. A preview writes nothing: the verbs count and log only."""

    def __init__(self, ledger: OrderLedger, settings: Settings, lnb: LeNewBlackClient, run: Run) -> None:
        self._ledger = ledger
        self._settings = settings
        self._lnb = lnb
        self._run = run
        self._writes = not run.preview
        self._proof: LookupProof | None = None

    @classmethod
    def for_run(cls, ctx: FlowContext) -> OrderBook:
        return cls(ctx.services.ledger, ctx.settings, ctx.lnb, ctx.run)

    def _move(self, entry: LedgerEntry, status: LedgerStatus, note: str, **fields: Any) -> LedgerEntry | None:
        if not self._writes:
            return entry
        moved = self._ledger.transition(entry, status, note, last_run_id=self._run.run_id, **fields)
        if moved is None:
            self._run.skipped(entry.reference, "changed by another run meanwhile: left to that run")
        return moved

    # --- reading ------------------------------------------------------------------------------------------------

    def open(self, reference: str) -> LedgerEntry:
        if self._writes:
            return self._ledger.open(reference, self._run.run_id)
        return self._ledger.get(reference) or LedgerEntry(reference=reference, status=LedgerStatus.PENDING)

    def in_progress(self) -> list[LedgerEntry]:
        """Entries the connector still works on, whatever the order's LNB status now (blocked, sent, validated)."""
        statuses = (LedgerStatus.BLOCKED, LedgerStatus.SENT, LedgerStatus.VALIDATED)
        return [entry for status in statuses for entry in self._ledger.with_status(status)]

    def lookup_proof(self) -> LookupProof:
        if self._proof is None:
            self._proof = self._ledger.lookup_proof(digest(self._settings.fastmag.queries.orders_by_reference))
        return self._proof

    # --- verbs ----------------------------------------------------------------------------------------------------

    def unchanged(self, entry: LedgerEntry) -> None:
        """Already in Fastmag (e.g. the status move failed last time): only the LNB status may be left."""
        self._run.count("unchanged")
        exported = self._settings.lenewblack.order_statuses.exported
        if entry.lnb_status != exported:
            self.status_moved(entry, exported)

    def block(self, entry: LedgerEntry, reason: str, *, event: str = "order.blocked", **fields: Any) -> None:
        """Needs action: invalid (re-validated every run), partial, or an outcome nobody can confirm."""
        self._run.count("skipped")
        self._run.problem(reason)
        level = "WARNING" if event == "order.blocked" else "ERROR"
        log_record(event, entry.reference, reason=reason, level=level, lnb_status=entry.lnb_status)
        current: LedgerEntry | None = entry
        if entry.status != LedgerStatus.BLOCKED or entry.reason != reason:
            current = self._move(entry, LedgerStatus.BLOCKED, f"blocked: {reason}", reason=reason, **fields)
        blocked_status = self._settings.lenewblack.order_statuses.blocked
        if current is not None and self._settings.orders.move_blocked_status and entry.lnb_status != blocked_status:
            self.status_moved(current, blocked_status)

    def stuck(self, entry: LedgerEntry, why: str) -> None:
        """A write whose outcome nobody can confirm: blocked for an operator, never resent automatically."""
        reason = (
            f"outcome unknown, lookup cannot confirm ({why}): check Fastmag for external reference "
            f"{entry.reference}, then resolve it"
        )
        self.block(entry, reason, event="order.stuck")

    def partial(self, entry: LedgerEntry, accepted: int, total: int) -> None:
        self.block(
            entry,
            f"partial order in Fastmag: {accepted} of {total} lines",
            event="order.stuck",
            lines_accepted=accepted,
            lines_total=total,
        )

    def abandon(self, entry: LedgerEntry, lnb_status: str) -> None:
        """A blocked order that left the LNB statuses the connector reads: nothing is expected of anyone."""
        reason = f"no longer waiting in Le New Black (status {lnb_status})"
        log_record("order.abandoned", entry.reference, reason=reason, lnb_status=lnb_status)
        self._move(entry, LedgerStatus.ABANDONED, f"abandoned: {reason}", reason=reason, lnb_status=lnb_status)

    def claim(self, entry: LedgerEntry, lines_total: int, *, resend: bool = False) -> LedgerEntry | None:
        """Take the order for one write; None if another run changed it since it was read."""
        wire = self._settings.fastmag.wire
        # Checked before the claim: a run that stops here leaves the order unclaimed, not `sent` with nothing sent.
        self._run.lease.require(
            wire.connect_timeout_seconds + wire.read_timeout_seconds + 10, f"write {entry.reference}"
        )
        fields: dict[str, Any] = {"write_may_exist": True, "sent_at": clock.now().isoformat(), "reason": None}
        if resend:
            fields |= {"attempt": entry.attempt + 1, "auto_resends": entry.auto_resends + 1}
        how = "resent (outcome unknown, lookup missed)" if resend else "sent"
        claimed = self._move(
            entry,
            LedgerStatus.SENT,
            f"{how} to Fastmag by run {self._run.run_id}",
            lines_total=lines_total,
            lines_accepted=None,
            **fields,
        )
        if claimed is not None:
            self._run.count("sent")
        return claimed

    def refused(self, entry: LedgerEntry, message: str) -> None:
        """`KO`: nothing was written; pending again, with an alarm after N runs in a row."""
        failed_runs = entry.failed_runs + 1
        reason = f"Fastmag refused: {message}"
        self._move(
            entry,
            LedgerStatus.PENDING,
            reason,
            reason=reason,
            failed_runs=failed_runs,
            attempt=entry.attempt + 1,
            write_may_exist=False,
            sent_at=None,
        )
        self._run.rejected(entry.reference, f"Fastmag refused the order: {message}")
        if failed_runs >= self._settings.orders.alarm_after_failed_runs:
            log_record(
                "order.failing",
                entry.reference,
                reason=f"Fastmag refused this order {failed_runs} runs in a row: {message}",
                level="ERROR",
            )

    def not_sent(self, entry: LedgerEntry, error: FastmagNotSent) -> None:
        """The body never left: nothing can be in Fastmag, the next run sends it again."""
        reason = f"Fastmag unreachable, nothing sent ({error}): sent again next run"
        self._move(
            entry, LedgerStatus.VALIDATED, reason, reason=reason, attempt=entry.attempt + 1, write_may_exist=False
        )
        self._run.skipped(entry.reference, reason)

    def unknown(self, entry: LedgerEntry, error: FastmagOutcomeUnknown) -> None:
        """The write may have reached Fastmag: `sent` stays, the order is looked up before anything else."""
        reason = f"Fastmag outcome unknown ({error}): looked up before any new send"
        self._move(entry, LedgerStatus.SENT, reason, reason=reason, lines_accepted=error.accepted_lines or None)
        self._run.problem(reason)
        log_record("order.unknown", entry.reference, reason=reason, level="ERROR")

    def exported(self, entry: LedgerEntry, number: str, how: str) -> None:
        exported = self._move(
            entry,
            LedgerStatus.EXPORTED,
            f"in Fastmag as {number} ({how})",
            fastmag_number=number,
            reason=None,
            write_may_exist=False,
        )
        if exported is None:
            return
        self._run.accepted(entry.reference)
        log_record("order.exported", entry.reference, fastmag_number=number, reason=how)
        self.status_moved(exported, self._settings.lenewblack.order_statuses.exported)

    def status_moved(self, entry: LedgerEntry, status: str) -> None:
        if not self._writes:
            return
        try:
            self._lnb.set_order_status(entry.reference, status)
        except ConnectorError as error:
            self._run.problem(f"could not set Le New Black status {status}: {error}")
            log_record("order.status_failed", entry.reference, reason=str(error), level="ERROR", lnb_status=status)
            return
        self._move(entry, entry.status, f"LNB status set to {status}", lnb_status=status)

    def lookup_checked(self, written: list[str], found: Mapping[str, Found]) -> None:
        """Orders written `OK` this run were looked up again: the lookup proved itself, or auto resends stop."""
        missing = sorted(set(written) - set(found))
        query = digest(self._settings.fastmag.queries.orders_by_reference)
        if not missing:
            self._ledger.record_lookup(query, found=True)
            return
        reason = (
            f"orders_by_reference does not find orders Fastmag just accepted ({', '.join(missing[:10])}): "
            "automatic resends are off until it does"
        )
        self._ledger.record_lookup(query, found=False, reason=reason)
        self._run.problem(reason)
        log_record("orders.lookup_broken", "orders_by_reference", reason=reason, level="ERROR")

    @staticmethod
    def resolve(
        ledger: OrderLedger, reference: str, action: Resolution, why: str, number: str | None = None
    ) -> LedgerEntry:
        """An operator's decision on an order in doubt (`sent` or `blocked`), as one compare-and-set."""
        entry = ledger.get(reference)
        if entry is None:
            raise ConnectorError(f"no ledger entry for order {reference}")
        if action == "exported":
            if not number:
                raise ConnectorError("--resolve exported needs the Fastmag number (--fastmag-number)")
            if entry.status == LedgerStatus.EXPORTED:
                if entry.fastmag_number == number:  # said again (e.g. to retry the LNB status move): nothing to do
                    return entry
                raise ConnectorError(f"order {reference} is already exported (Fastmag {entry.fastmag_number})")
            moved = ledger.transition(
                entry,
                LedgerStatus.EXPORTED,
                f"resolved by an operator: in Fastmag as {number} ({why})",
                fastmag_number=number,
                reason=None,
                write_may_exist=False,
            )
        else:
            if entry.status not in {LedgerStatus.SENT, LedgerStatus.BLOCKED}:
                raise ConnectorError(f"order {reference} is {entry.status}: only a sent or blocked order is resent")
            moved = ledger.transition(
                entry,
                LedgerStatus.VALIDATED,
                f"resolved by an operator: send again ({why})",
                reason=None,
                attempt=entry.attempt + 1,
                write_may_exist=False,
                sent_at=None,
                lines_accepted=None,
            )
        if moved is None:
            raise ConnectorError(f"order {reference} changed while resolving it: look at it again")
        log_record("order.resolved", reference, reason=f"{action}: {why}", fastmag_number=number)
        return moved


def _read_orders(ctx: FlowContext, book: OrderBook) -> list[Order]:
    """Orders to export, and the ones the connector still works on whose LNB status is now `blocked`."""
    statuses = ctx.settings.lenewblack.order_statuses
    raw: list[dict[str, Any]] = ctx.lnb.list_orders(statuses.to_export)
    in_progress = {entry.reference: entry for entry in book.in_progress()}
    if in_progress and statuses.blocked != statuses.to_export:
        raw += [o for o in ctx.lnb.list_orders(statuses.blocked) if str(o.get("reference")) in in_progress]
    listed = {str(document.get("reference")) for document in raw if isinstance(document, dict)}
    for entry in in_progress.values():
        if entry.status == LedgerStatus.BLOCKED and entry.reference not in listed:
            lnb_status = _lnb_status(ctx, entry.reference)
            if lnb_status is not None:
                book.abandon(entry, lnb_status)
    orders: dict[str, Order] = {}
    for document in raw:
        try:
            order = Order.model_validate(document)
        except ValidationError as error:
            # A page may hold anything: even a non-object entry is reported, not raised.
            found = document.get("reference") if isinstance(document, dict) else None
            reference = str(found or "(no reference)")
            fields = describe(error, with_messages=False)
            ctx.run.skipped(reference, f"unreadable order from Le New Black (fields: {fields})")
            continue
        orders.setdefault(order.reference, order)
    return list(orders.values())


def _lnb_status(ctx: FlowContext, reference: str) -> str | None:
    """The order's status in LNB now ("deleted" when LNB no longer has it); None when LNB cannot say."""
    try:
        document = ctx.lnb.get(f"/orders/{quote(reference, safe='')}")
    except LeNewBlackError as error:
        return "deleted" if error.http_status == 404 else None
    status = document.get("status") if isinstance(document, dict) else None
    return str(status) if status else None


def _transaction(ctx: FlowContext, order: FastmagOrder) -> list[str]:
    fastmag = ctx.settings.fastmag
    return build_order_transaction(order, fastmag.order_transaction, fastmag.wire.write_decimal_separator)


def _send(ctx: FlowContext, book: OrderBook, entry: LedgerEntry, order: FastmagOrder, *, resend: bool = False) -> bool:
    """Claim and write one order; True when Fastmag answered `OK`."""
    lines = _transaction(ctx, order)
    claimed = book.claim(entry, len(order.lines), resend=resend)
    if claimed is None:
        return False
    try:
        result = ctx.fastmag.write(lines)
    except FastmagNotSent as error:
        book.not_sent(claimed, error)
    except FastmagPartialWrite as error:
        # The client counts transaction lines: the first is the order's header.
        book.partial(claimed, max(error.accepted - 1, 0), error.total - 1)
    except FastmagOutcomeUnknown as error:
        book.unknown(claimed, error)
    except FastmagError as error:
        book.refused(claimed, error.remote_message or str(error))
    else:
        book.exported(claimed, result.number or "", "written")
        return True
    return False


def _found(book: OrderBook, entry: LedgerEntry, checked: Checked, found: Found) -> None:
    """Fastmag holds the order: exported, unless it holds fewer lines than were sent (a partial order)."""
    expected = entry.lines_total or (len(checked.order.lines) if checked.order else None)
    if found.line_count is not None and expected is not None and found.line_count < expected:
        book.partial(entry, found.line_count, expected)
    else:
        book.exported(entry, found.number, "found in Fastmag")


def _in_doubt(ctx: FlowContext, book: OrderBook, entry: LedgerEntry, checked: Checked) -> bool:
    """A write may have reached Fastmag and the lookup missed it: resend only when every rule allows it.

    Returns True when the order was resent and Fastmag answered `OK`.
    """
    if entry.status == LedgerStatus.BLOCKED:  # stuck or partial: an operator resolves it
        book.block(entry, entry.reason or "outcome unknown: resolve it")
        return False
    rules = ctx.settings.orders
    sent_at = entry.sent_time()
    if sent_at is not None and clock.now() - sent_at < timedelta(seconds=rules.resend_settle_seconds):
        ctx.run.skipped(entry.reference, f"outcome of the write at {entry.sent_at} unknown: looked up again later")
        return False
    if checked.order is None:  # validation never downgrades `sent`: it waits, visibly, until fixed
        ctx.run.skipped(entry.reference, f"outcome of an earlier write unknown, and now: {checked.reason}")
        return False
    if entry.auto_resends >= rules.max_auto_resends:
        book.stuck(entry, f"resent automatically {entry.auto_resends} times already")
        return False
    if not book.lookup_proof().proven:
        book.stuck(entry, "the lookup has not proven it finds orders Fastmag accepted")
        return False
    return _send(ctx, book, entry, checked.order, resend=True)


def _validate(ctx: FlowContext, waiting: list[Order]) -> dict[str, Checked]:
    variants, customers = _variants(ctx, waiting), _customers(ctx, waiting)
    today = datetime.now(UTC).date()
    checked: dict[str, Checked] = {}
    for order in waiting:
        result = checked[order.reference] = check_order(order, variants, customers, ctx.settings, today)
        for note in result.skipped_lines:
            log_record("order.line_skipped", result.reference, reason=note, level="WARNING")
    return checked


def _preview(ctx: FlowContext, book: OrderBook, entries: Mapping[str, LedgerEntry], checked: list[Checked]) -> None:
    """What a run would block and write; the book writes nothing in a preview."""
    for result in checked:
        entry = entries[result.reference]
        if result.order is None:
            book.block(entry, result.reason)
        elif not entry.write_may_exist:
            lines = [mask_email(line) for line in _transaction(ctx, result.order)]
            ctx.preview({"key": result.reference, "change": "new", "transaction": lines})


def run(ctx: FlowContext) -> None:
    """Read → open → validate → look up → send → prove the lookup → move LNB statuses (in `OrderBook`)."""
    book = OrderBook.for_run(ctx)
    orders = _read_orders(ctx, book)
    ctx.run.count("read", len(orders))
    entries = {order.reference: book.open(order.reference) for order in orders}
    for entry in entries.values():
        if entry.status == LedgerStatus.EXPORTED:
            book.unchanged(entry)
    checked = _validate(ctx, [o for o in orders if entries[o.reference].status != LedgerStatus.EXPORTED])
    if ctx.run.preview:
        _preview(ctx, book, entries, list(checked.values()))
        return
    # A write can succeed in Fastmag while the caller sees an error: look up every order before sending.
    known = _in_fastmag(ctx, (r for r, c in checked.items() if c.order is not None or entries[r].write_may_exist))
    written: list[str] = []
    for reference, result in checked.items():
        entry = entries[reference]
        if reference in known:
            _found(book, entry, result, known[reference])
        elif entry.write_may_exist:
            if _in_doubt(ctx, book, entry, result):
                written.append(reference)
        elif result.order is None:
            book.block(entry, result.reason)
        elif _send(ctx, book, entry, result.order):
            written.append(reference)
    if written:
        book.lookup_checked(written, _in_fastmag(ctx, written))
