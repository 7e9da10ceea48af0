"""Orders: LNB orders in "Invoicing" → Fastmag order transactions, exactly once, or blocked with a reason.

read (LNB orders to export, plus the ones this connector is still working on) → open their ledger entries →
validate (EAN13s resolve to Fastmag variants, the retailer is a Fastmag customer, quantities and prices make
sense) → look up (Fastmag may hold an order whose write looked failed) → send what is neither found nor in
doubt, claimed first → prove the lookup finds what was just written → move the LNB status.
Every step is a compare-and-set in the ledger (`OrderBook`, in order_book.py), so a crash, a duplicate delivery or a run
that outlived its lease is recovered by the next run without writing an order twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from connector import ledger as clock
from connector.cutoff import IGNORED_REASON, hold_reason, verdict
from connector.errors import (
    FastmagError,
    FastmagNotSent,
    FastmagOutcomeUnknown,
    FastmagPartialWrite,
    LeNewBlackError,
    describe,
)
from connector.fastmag.models import FastmagOrder
from connector.fastmag.reads import Unreadable
from connector.fastmag.transaction import build_order_transaction
from connector.flows.context import FlowContext
from connector.flows.order_book import Claimed, Found, OrderBook
from connector.flows.order_check import Checked, Variant, check_order
from connector.flows.order_pipeline import FollowUp, OrderPipeline
from connector.ledger import LedgerEntry, LedgerStatus
from connector.lenewblack.models import Order
from connector.observability import mask_email


def _variants(ctx: FlowContext, orders: Iterable[Order]) -> dict[str, Variant]:
    eans = sorted({(item.ean13 or "").strip() for order in orders for item in order.items} - {""})
    return {
        row["ean13"]: Variant(row["reference"], row.get("colour", ""), row.get("size", ""), row.get("designation", ""))
        for row in ctx.reads.variants_by_ean(eans)
    }


def _customers(ctx: FlowContext, orders: Iterable[Order]) -> set[str]:
    references = sorted({(order.retailer_reference or "").strip() for order in orders} - {""})
    return {row["customer_id"].strip() for row in ctx.reads.customers_by_id(references)}


def _in_fastmag(ctx: FlowContext, references: Iterable[str]) -> dict[str, Found]:
    """The orders Fastmag already holds, by external reference (one query)."""
    found: dict[str, Found] = {}
    for row in ctx.reads.orders_by_reference(sorted(set(references))):
        count = row.get("line_count")
        if isinstance(count, Unreadable):
            # Never guessed: a wrong count could call a partial order whole.
            raise FastmagError(f"fastmag.queries.orders_by_reference: line_count {count.text!r} is not a whole number")
        found.setdefault(row["external_reference"], Found(row.get("fastmag_number", ""), count))
    return found


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


def _claim(
    ctx: FlowContext, book: OrderBook, entry: LedgerEntry, order: FastmagOrder, *, resend: bool = False
) -> Claimed | None:
    """Take the order for one write (on a claimer); None if another run changed it since it was read."""
    lines = _transaction(ctx, order)
    claimed = book.claim(entry, len(order.lines), resend=resend)
    return None if claimed is None else Claimed(claimed, lines)


def _write(ctx: FlowContext, book: OrderBook, claim: Claimed, *, written: list[str]) -> FollowUp:
    """Write one claimed order (on a writer); its outcome is recorded by the steps returned (on a follower).
    `written` gets the reference when Fastmag answered `OK`."""
    entry = claim.entry
    # Claimed while the write before it was in flight: the lease must still cover this write now.
    book.require_write_time(entry)
    # Outcomes bound with `partial` now: an `except … as` name is gone once its block ends.
    try:
        result = ctx.fastmag.write(claim.lines)
    except FastmagNotSent as error:
        return partial(book.not_sent, entry, error)
    except FastmagPartialWrite as error:
        # The client counts transaction lines: the first is the order's header.
        return partial(book.partial, entry, max(error.accepted - 1, 0), error.total - 1)
    except FastmagOutcomeUnknown as error:
        return partial(book.unknown, entry, error)
    except FastmagError as error:
        return partial(book.refused, entry, error.remote_message or str(error))
    written.append(entry.reference)  # list.append is atomic: the writers share the list
    return partial(book.exported, entry, result.number or "", "written")


def _send(
    ctx: FlowContext,
    book: OrderBook,
    pipeline: OrderPipeline,
    entry: LedgerEntry,
    order: FastmagOrder,
    *,
    written: list[str],
    resend: bool = False,
) -> None:
    """Claim, then write, one order: the claim may run while the write before it is in flight."""
    pipeline.write(
        partial(_claim, ctx, book, entry, order, resend=resend),
        partial(_write, ctx, book, written=written),
    )


def _found(book: OrderBook, entry: LedgerEntry, checked: Checked, found: Found) -> None:
    """Fastmag holds the order: exported, unless it holds fewer lines than were sent (a partial order)."""
    expected = entry.lines_total or (len(checked.order.lines) if checked.order else None)
    if found.line_count is not None and expected is not None and found.line_count < expected:
        book.partial(entry, found.line_count, expected)
    else:
        book.exported(entry, found.number, "found in Fastmag")


def _in_doubt(
    ctx: FlowContext,
    book: OrderBook,
    pipeline: OrderPipeline,
    entry: LedgerEntry,
    checked: Checked,
    *,
    written: list[str],
) -> None:
    """A write may have reached Fastmag and the lookup missed it: resend only when every rule allows it."""
    if entry.status == LedgerStatus.BLOCKED:  # stuck or partial: an operator resolves it
        pipeline.follow(partial(book.block, entry, entry.reason or "outcome unknown: resolve it"))
        return
    rules = ctx.settings.orders
    sent_at = entry.sent_time()
    if sent_at is not None and clock.now() - sent_at < timedelta(seconds=rules.resend_settle_seconds):
        ctx.run.skipped(entry.reference, f"outcome of the write at {entry.sent_at} unknown: looked up again later")
        return
    if checked.order is None:  # validation never downgrades `sent`: it waits, visibly, until fixed
        ctx.run.skipped(entry.reference, f"outcome of an earlier write unknown, and now: {checked.reason}")
        return
    if entry.auto_resends >= rules.max_auto_resends:
        pipeline.follow(partial(book.stuck, entry, f"resent automatically {entry.auto_resends} times already"))
        return
    if not book.lookup_proof().proven:
        pipeline.follow(partial(book.stuck, entry, "the lookup has not proven it finds orders Fastmag accepted"))
        return
    _send(ctx, book, pipeline, entry, checked.order, written=written, resend=True)


def _validate(ctx: FlowContext, waiting: list[Order]) -> dict[str, Checked]:
    variants, customers = _variants(ctx, waiting), _customers(ctx, waiting)
    today = datetime.now(UTC).date()
    checked: dict[str, Checked] = {}
    for order in waiting:
        result = checked[order.reference] = check_order(order, variants, customers, ctx.settings, today)
        for skip in result.skipped_lines:
            # A line left out of an order still written: a warning on the order, not an error.
            ctx.run.warned(skip.key, skip.reason, event="order.line_skipped", **skip.detail)
    return checked


# What the cut-off may still decide: nothing was written for these (an order in doubt or exported is followed up).
_UNSTARTED = frozenset({LedgerStatus.PENDING, LedgerStatus.VALIDATED, LedgerStatus.BLOCKED, LedgerStatus.ABANDONED})


def _after_cutoff(
    ctx: FlowContext, book: OrderBook, orders: list[Order], entries: Mapping[str, LedgerEntry]
) -> list[Order]:
    """The orders this run works on: those placed before the go-live cut-off are ignored, for good."""
    kept: list[Order] = []
    for order in orders:
        entry = entries[order.reference]
        if entry.status == LedgerStatus.IGNORED:
            book.ignore(entry)
            continue
        decision = verdict(order, ctx.settings.orders)
        if decision.take or entry.write_may_exist or entry.status not in _UNSTARTED:
            kept.append(order)
        elif decision.ignore:
            book.ignore(entry)
            if ctx.run.preview:
                ctx.preview({"key": order.reference, "change": "ignored", "reason": IGNORED_REASON})
        else:
            book.block(entry, decision.problem or IGNORED_REASON)
    return kept


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
    """Read → open → cut-off → validate → look up → send → prove the lookup → move LNB statuses (`OrderBook`).

    The writes and the steps after them run in an `OrderPipeline`: Fastmag writes `orders.fastmag_concurrency`
    at once, ledger records and LNB status moves `lenewblack.concurrency` at once behind them."""
    held = hold_reason(ctx.settings.orders, preview=ctx.run.preview)
    if held is not None:
        ctx.run.hold(held)
        return
    book = OrderBook.for_run(ctx)
    orders = _read_orders(ctx, book)
    ctx.run.count("read", len(orders))
    entries = book.open(order.reference for order in orders)
    orders = _after_cutoff(ctx, book, orders, entries)
    checked = _validate(ctx, [o for o in orders if entries[o.reference].status != LedgerStatus.EXPORTED])
    if ctx.run.preview:
        for entry in entries.values():
            if entry.status == LedgerStatus.EXPORTED:
                book.unchanged(entry)
        _preview(ctx, book, entries, list(checked.values()))
        return
    # A write can succeed in Fastmag while the caller sees an error: look up every order before sending.
    known = _in_fastmag(ctx, (r for r, c in checked.items() if c.order is not None or entries[r].write_may_exist))
    written: list[str] = []
    concurrency = ctx.settings.lenewblack.concurrency
    with OrderPipeline(writers=ctx.settings.orders.fastmag_concurrency, followers=concurrency) as pipeline:
        for entry in entries.values():
            if entry.status == LedgerStatus.EXPORTED:
                pipeline.follow(partial(book.unchanged, entry))
        for reference, result in checked.items():
            entry = entries[reference]
            if reference in known:
                pipeline.follow(partial(_found, book, entry, result, known[reference]))
            elif entry.write_may_exist:
                _in_doubt(ctx, book, pipeline, entry, result, written=written)
            elif result.order is None:
                pipeline.follow(partial(book.block, entry, result.reason))
            else:
                _send(ctx, book, pipeline, entry, result.order, written=written)
    if written:
        book.lookup_checked(written, _in_fastmag(ctx, written))
