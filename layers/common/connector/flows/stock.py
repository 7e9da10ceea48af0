"""Stock: Fastmag available-to-sell → LNB `/multi/inventory/ean` or `/multi/inventory/sku`.

read (one query over the configured stores, or its keyset pages with `fastmag.page_rows`, each mapped as it
arrives) → map (sum per variant − safety buffer, clamped at 0, keyed by
EAN13 or SKU) → zero what Fastmag no longer vouches for → diff (against the quantities LNB last accepted) →
guard (hold a push that would zero too much) → send (only what changed) → record.

One rule: LNB never keeps selling what Fastmag does not vouch for. A negative sum is pushed as 0 with a
warning; after a complete read, a key LNB holds with stock that the read left out or could not read (no EAN13,
bad checksum, unreadable quantity, shared EAN13, unknown variant) is pushed as 0 under that key, with its reason.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from typing import NamedTuple, cast

from connector.ean import is_valid_ean13
from connector.errors import FastmagError
from connector.fastmag.reads import StockRow, Unreadable
from connector.flows.context import FlowContext
from connector.flows.incoming_stock import incoming_stock
from connector.flows.source import Skip, sku_of, variant_label
from connector.flows.sync import SNAPSHOT_SAVE_SECONDS, Outgoing, SyncResult, record_skips, synchronise
from connector.observability import log_record
from connector.settings import Settings, StockSettings
from connector.state import Snapshot

RESOURCES = {"ean13": "inventory/ean", "sku": "inventory/sku"}
NEGATIVE = "negative stock in Fastmag: pushed as 0"  # the run summary's reason; each log line adds the sum
ABSENT = "no longer in Fastmag's stock read"


class Entry(NamedTuple):
    """What LNB holds for a key, as the snapshot remembers it: the quantity and the Fastmag variant it came from
    (so a key whose EAN13 later breaks is still found, through its variant, with the reason)."""

    quantity: int
    variant_id: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.quantity, self.variant_id)

    @classmethod
    def parse(cls, text: str) -> Entry:
        # Snapshots written before the variant was kept hold the quantity alone; incoming stock may follow.
        quantity, _, rest = text.partition(" ")
        return cls(int(quantity), rest.partition(" ")[0])


def fingerprint(quantity: int, variant_id: str) -> str:
    """A snapshot entry's text: `12 8841` (quantity, Fastmag variant id)."""
    return f"{quantity} {variant_id}"


@dataclass
class StockLevels:
    """Available-to-sell per key (what the read vouches for), and the rows that could not be keyed or counted."""

    quantities: dict[str, int] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)  # key → Fastmag variant id
    skipped: list[Skip] = field(default_factory=list)
    skipped_variants: dict[str, Skip] = field(default_factory=dict)  # variant id → why its row was skipped
    warnings: list[Skip] = field(default_factory=list)  # sent, but not as Fastmag holds it (negative → 0)


# The columns the mapping reads, in one C call per row (six `dict.get` calls cost a tenth of a 100 000-row tick).
_STOCK_FIELDS = itemgetter("ean13", "variant_id", "quantity", "reference", "colour", "size")


def _label(naming: tuple[str, str, str]) -> str:
    """`variant_label` of a variant kept as (reference, colour, size) once its row is gone."""
    reference, colour, size = naming
    return variant_label({"reference": reference, "colour": colour, "size": size})


def _skip(levels: StockLevels, skip: Skip, variant_id: str) -> None:
    levels.skipped.append(skip)
    if variant_id:
        levels.skipped_variants[variant_id] = skip


def available_to_sell(
    rows: Iterable[StockRow], settings: Settings, known_keys: Container[str] = frozenset()
) -> StockLevels:
    """Pure mapping of the stock read's rows (summed per variant in SQL) to LNB quantities: the quantity is
    floored, less `stock.safety_buffer`, clamped at 0 (`on_hand`); a blank quantity is 0.

    `known_keys` (the snapshot's keys) passed the EAN13 checksum when LNB accepted them, and a checksum depends
    on the key alone: only the other keys are checked (a 100 000-row tick checks the few new ones).
    """
    levels = StockLevels()
    key_mode = settings.stock.key
    buffer = settings.stock.safety_buffer
    quantities, variants = levels.quantities, levels.variants
    # key → the first variant seen with it (reference, colour, size), in `first` until a second one shows up. Not
    # the row itself: the rows are let go page by page, so memory grows with the keys, not the answer. A plain
    # tuple: a NamedTuple's constructor is a Python call, made for each of 100 000 rows a tick.
    shared: dict[str, tuple[str, str, str]] = {}
    first: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        try:
            ean13, variant_id, total, reference, colour, size = _STOCK_FIELDS(row)
        except KeyError:  # a row missing a column: only made by hand, a read's contract gives each row every column
            ean13, variant_id, total = row.get("ean13"), row.get("variant_id"), row.get("quantity")
            reference, colour, size = row.get("reference", ""), row.get("colour", ""), row.get("size", "")
        ean13 = (ean13 or "").strip()
        variant_id = (variant_id or "").strip()
        if not variant_id:
            label = variant_label(row)
            skip = Skip(ean13 or label, "unknown variant: stock row not in Fastmag products", {"variant": label})
            _skip(levels, skip, "")
            continue
        if key_mode == "ean13":
            if not ean13:
                label = variant_label(row)
                _skip(levels, Skip(label, "variant has no EAN13 in Fastmag", {"variant": label}), variant_id)
                continue
            if ean13 not in known_keys and not is_valid_ean13(ean13):
                _skip(levels, Skip(ean13, "invalid EAN13 checksum", {"variant": variant_label(row)}), variant_id)
                continue
            key = ean13
        else:
            key = sku_of(settings, row)
        if isinstance(total, Unreadable):
            detail = {"variant": variant_label(row), "quantity": total.text}
            _skip(levels, Skip(key, "unreadable quantity", detail), variant_id)
            continue
        if key in first or key in shared:
            # Neither variant vouches for the key's quantity: both rows are skipped, none is guessed.
            reason = f"{key_mode} shared by several variants"
            if key in first:
                shared[key] = first.pop(key)
                quantities.pop(key, None)
                first_variant = variants.pop(key)
                _skip(levels, Skip(key, reason, {"variant": _label(shared[key])}), first_variant)
                levels.warnings[:] = [warning for warning in levels.warnings if warning.key != key]
            _skip(levels, Skip(key, reason, {"variant": variant_label(row)}), variant_id)
            continue
        first[key] = (reference, colour, size)
        variants[key] = variant_id
        # A whole sum of 0 or more (nearly every row) is computed here: `on_hand` without a call per row.
        if type(total) is int and total >= 0:
            quantities[key] = total - buffer if total > buffer else 0
        else:
            quantities[key] = on_hand(total or 0, buffer, key, row, levels)
    return levels


def on_hand(total: int | Decimal, buffer: int, key: str, row: StockRow, levels: StockLevels) -> int:
    """The one place a quantity is computed from Fastmag's sum: floored, less the buffer, never below 0; a
    negative sum is pushed as 0 with a warning. A whole sum comes as an int (most rows: no Decimal made)."""
    if total < 0:
        where = {"variant": variant_label(row)}
        levels.warnings.append(Skip(key, f"negative stock in Fastmag ({total}): pushed as 0", where))
        return 0
    whole = total if isinstance(total, int) else int(total.to_integral_value(rounding="ROUND_FLOOR"))
    return max(whole - buffer, 0)


def not_vouched_for(
    previous: Mapping[str, str], levels: StockLevels, *, complete_read: bool
) -> dict[str, tuple[Entry, str]]:
    """Keys LNB holds with stock > 0 that the read does not vouch for, each with its last entry and why.

    Only a complete read vouches for what it leaves out: an incremental read (changes since…) says nothing
    about the keys it did not return, so it zeroes nothing.
    """
    if not complete_read:
        return {}
    skipped_keys = {skip.key: skip for skip in levels.skipped}
    result: dict[str, tuple[Entry, str]] = {}
    for key, text in previous.items():
        # Parsed only when the read left the key out: most keys are read, and parsing all cost a tick's CPU.
        if key in levels.quantities or not _positive(text):
            continue
        entry = Entry.parse(text)
        skip = skipped_keys.get(key) or levels.skipped_variants.get(entry.variant_id)
        reason = skip.reason if skip is not None else ABSENT
        result[key] = (entry, f"{reason}: pushed as 0")
    return result


def upgraded(previous: Mapping[str, str], variants: Mapping[str, str]) -> dict[str, str]:
    """Entries in the older quantity-only form, with the variant the read now gives their key (a key the read
    does not give keeps its old form: it is zeroed or left as it is, the same way)."""
    # Over the keys read (an incremental tick reads a hundredth of them), not over every key the snapshot holds.
    return {
        key: Entry(int(text), variant_id).fingerprint
        for key, variant_id in variants.items()
        if (text := previous.get(key)) is not None and " " not in text
    }


def would_zero(previous: Mapping[str, str], targets: Mapping[str, int]) -> tuple[int, int]:
    """(SKUs the push would set to 0, SKUs LNB holds with stock): the anomaly guard's two figures.

    The second takes a pass over every key LNB holds: it is counted only when the first is not 0 (and is 0
    otherwise), since a push that zeroes nothing is never held. An incremental tick reads a hundredth of the keys.
    """
    zeroed = sum(1 for key, quantity in targets.items() if quantity == 0 and _positive(previous.get(key, "")))
    if not zeroed:
        return 0, 0
    return zeroed, sum(1 for text in previous.values() if _positive(text))


def _positive(entry: str) -> bool:
    """A snapshot entry (`Entry.fingerprint`, or a bare quantity) holding stock > 0, read without parsing it:
    a whole number written by Python starts with 1-9 exactly when it is positive."""
    return entry[:1] in _NONZERO_DIGITS


_NONZERO_DIGITS = frozenset("123456789")


def guard_verdict(zeroed: int, positive: int, share: float) -> str | None:
    """Why a push must be held, or None: it would zero more than `share` of the SKUs LNB holds with stock."""
    # Integer division is correctly rounded, so an exact share (3 of 10 against 0.3) compares equal: not held.
    if not positive or zeroed / positive <= share:
        return None
    return (
        f"stock push held: it would set {zeroed} of {positive} positive SKUs to zero "
        f"({zeroed / positive:.0%} > {share:.0%}); check Fastmag, then run with force"
    )


def stock_payload(key_mode: str, key: str, quantity: int) -> dict[str, object]:
    """What LNB's inventory takes for one key (before incoming stock)."""
    return {"ean13" if key_mode == "ean13" else "sku": key, "in_stock": quantity}


# Snapshot marks of the incremental read: Fastmag's time to read changes after, and when the whole stock was last read.
WATERMARK = "stock_changed_since"
LAST_FULL_READ = "stock_full_read_at"
FIRST_WATERMARK = "1970-01-01 00:00:00"  # the first incremental tick reads every variant once


@dataclass(frozen=True)
class StockRead:
    # A full read streams its pages (`fastmag.page_rows`): each is mapped and let go. The read is complete only
    # once the iterator is exhausted; a page that fails raises out of the mapping, before anything is zeroed.
    rows: Iterable[StockRow]
    complete: bool  # the whole stock: what it leaves out, Fastmag no longer vouches for
    watermark: str | None  # an incremental read: the next `{since}`, in Fastmag's clock


def _counted(ctx: FlowContext, pages: Iterable[list[StockRow]]) -> Iterator[StockRow]:
    """The rows of every page, each page counted as read when it arrives."""

    def counted_pages() -> Iterator[list[StockRow]]:
        for page in pages:
            ctx.run.count("read", len(page))
            yield page
            del page  # not held while the next page is read

    # Chained in C: a generator resumed per row cost a few ms a 100 000-row tick.
    return chain.from_iterable(counted_pages())


def read_stock(ctx: FlowContext, marks: Mapping[str, str], now: datetime) -> StockRead:
    """The whole stock, or with `fastmag.queries.stock_changed_since` set, only the variants changed since the
    watermark, unless a full read is due (`stock.full_read_every_minutes`, a `full` run, or none yet)."""
    stock = ctx.settings.stock
    last_full = marks.get(LAST_FULL_READ)
    due = (
        ctx.settings.fastmag.queries.stock_changed_since is None
        or ctx.run.request.full
        or last_full is None
        or now - datetime.fromisoformat(last_full) >= timedelta(minutes=stock.full_read_every_minutes)
    )
    if due:
        return StockRead(_counted(ctx, ctx.reads.stock_pages(stock.stores, stock.real_stock_only)), True, None)
    since = marks.get(WATERMARK, FIRST_WATERMARK)
    rows = ctx.reads.stock_changed_rows(stock.stores, stock.real_stock_only, since)
    ctx.run.count("read", len(rows))
    latest = max((row["modified_at"] for row in rows if row.get("modified_at")), default=None)
    return StockRead(cast(list[StockRow], rows), False, since if latest is None else _watermark(latest, stock))


def _watermark(latest: str, stock: StockSettings) -> str:
    """`latest` (Fastmag's clock) less the overlap: a row committed late with an earlier time is read again."""
    try:
        moment = datetime.fromisoformat(latest.strip())
    except ValueError:
        raise FastmagError(
            f"fastmag.queries.stock_changed_since: modified_at {latest!r} is not a date and time (YYYY-MM-DD HH:MM:SS)"
        ) from None
    return (moment - timedelta(seconds=stock.incremental_overlap_seconds)).strftime("%Y-%m-%d %H:%M:%S")


def run(ctx: FlowContext) -> None:
    settings = ctx.settings
    if ctx.run.request.full and settings.reconcile.nightly_stock == "reconcile":
        # Imported here: reconcile builds on this module's mapping.
        from connector.flows.reconcile import reconcile_and_repair_stock

        reconcile_and_repair_stock(ctx)
        return
    stock = settings.stock
    snapshot = ctx.snapshots.load(f"stock-{stock.key}")
    previous = snapshot.entries
    started = datetime.now(UTC)
    read = read_stock(ctx, snapshot.marks, started)
    levels = available_to_sell(read.rows, settings, known_keys=previous if stock.key == "ean13" else frozenset())
    record_skips(ctx, levels.skipped)
    incoming = incoming_stock(ctx)
    record_skips(ctx, incoming.skipped)

    # The previous release kept the quantity alone: its entries take their variant from this read, without a send.
    for key, upgraded_entry in upgraded(previous, levels.variants).items():
        snapshot.accept(key, upgraded_entry)
    # A full read covers the whole stock of every configured store: what it leaves out, it does not vouch for; an
    # incremental read says nothing of the keys it did not return.
    zeroed = not_vouched_for(previous, levels, complete_read=read.complete)
    targets = levels.quantities  # in place, not copied: a million keys cost a second map otherwise
    targets.update(dict.fromkeys(zeroed, 0))

    zero_count, positive = would_zero(previous, targets)
    message = guard_verdict(zero_count, positive, stock.zero_guard_share)
    if message is not None and not ctx.run.request.force:
        ctx.run.hold(message)
        log_record("stock.guard.held", "stock", reason=message, level="ERROR", new=zero_count, old=positive)
        return

    reasons: dict[str, str] = {}
    for warning in levels.warnings:
        reasons[warning.key] = warning.reason
        ctx.run.warned(warning.key, warning.reason, event="stock.zeroed", summary=NEGATIVE, **warning.detail)
    for key, (entry, reason) in zeroed.items():
        reasons[key] = reason
        log_record("stock.zeroed", key, reason=reason, level="WARNING", old=entry.quantity)

    # Diffed on the snapshot's text before any item is made: an unchanged key (most keys, every tick) costs one
    # string and one comparison, and is never parsed nor given a payload.
    def outgoing() -> Iterator[Outgoing]:
        unchanged = 0
        variants, full, with_incoming = levels.variants, ctx.run.request.full, incoming.configured
        for key, quantity in targets.items():
            text = previous.get(key)
            variant_id = variants.get(key)
            if variant_id is None:
                variant_id = Entry.parse(text).variant_id if text else ""
            entry = fingerprint(quantity, variant_id)
            if with_incoming:  # a call per key saved where it is not configured (100 000 keys a full read)
                entry = incoming.fingerprint(variant_id, entry)
            if text == entry and not full:
                unchanged += 1
                continue
            same = text == entry
            old = quantity if same else (Entry.parse(text).quantity if text else None)
            fields: dict[str, object] = {"old": old, "new": quantity}
            if key in reasons:
                fields["zero_reason"] = reasons[key]
            payload = incoming.payload(variant_id, stock_payload(stock.key, key, quantity))
            yield Outgoing(key, payload, log_fields=fields, fingerprint=entry, unchanged=same)
        ctx.run.count("unchanged", unchanged)

    _synchronise_and_mark(ctx, outgoing(), snapshot, read, started)


def _synchronise_and_mark(
    ctx: FlowContext, items: Iterable[Outgoing], snapshot: Snapshot, read: StockRead, started: datetime
) -> None:
    """Send and save; the marks travel in the snapshot save of what LNB accepted (one S3 PUT a tick, not one more
    for the marks): a crash before that save leaves both as they were, and the next tick reads and sends the same
    changes again."""

    def advance_marks(result: SyncResult) -> None:
        _advance_marks(ctx, snapshot, read, result, started, saving=True)

    result = synchronise(ctx, RESOURCES[ctx.settings.stock.key], items, snapshot, before_save=advance_marks)
    if not ctx.run.preview:
        # Nothing was sent, so nothing saved: the upgraded entries and the marks alone, if any moved.
        _advance_marks(ctx, snapshot, read, result, started, saving=snapshot.unsaved)
        ctx.run.lease.require(SNAPSHOT_SAVE_SECONDS, "save the stock snapshot's marks")
        ctx.snapshots.save(snapshot)


# An incremental tick that changed nothing (its rows were touched in Fastmag, their sums the same) moves the watermark
# only once the rows it would spare the next reads are this share of the snapshot's keys: moving it alone rewrites
# the whole snapshot (every key, and an S3 PUT) each tick, where reading those few rows again costs less. Not moving
# it is safe: the next tick reads the same rows again, and more, never fewer.
WATERMARK_ALONE_SHARE = 0.01


def _advance_marks(
    ctx: FlowContext, snapshot: Snapshot, read: StockRead, result: SyncResult, started: datetime, *, saving: bool
) -> None:
    """Remember when the whole stock was read, and the next incremental read's watermark (with incremental reads
    configured only: otherwise a tick that sent nothing saves nothing). Setting a mark to its value again is no
    change: a tick whose read brought nothing new saves nothing. `saving`: the snapshot is written anyway."""
    if read.complete and ctx.settings.fastmag.queries.stock_changed_since is not None:
        snapshot.mark(LAST_FULL_READ, started.isoformat(timespec="seconds"))
    # The watermark moves only when LNB took every change: a rejected key is read (and sent) again next tick.
    if read.watermark is None or result.accepted != result.changed:
        return
    if saving or ctx.run.counters.read >= WATERMARK_ALONE_SHARE * len(snapshot.entries):
        snapshot.mark(WATERMARK, read.watermark)
