"""The part every Fastmag → LNB flow shares: diff against the snapshot, send in batches, record, preview.

A flow reads and maps its records into `Outgoing` items, then calls `synchronise`. Only items whose
digest differs from the snapshot are sent (all of them with `full`); the snapshot moves forward only for
items LNB accepted (a success result naming the item), so a rejected, unsent or unattributable item is sent again
by the next run. The save is conditional: another run's save in between is merged, never overwritten.

What changed is diffed and sent a chunk at a time (`SEND_CHUNK_BATCHES`), as the flow makes its items: a first
full push of a million keys never holds a million items (a preview, and the apply that checks it, hold them all).
A flow whose items cost real work to make (products' mapping) asks for `stream`: the client then takes them a batch
at a time as batches finish, so the making runs while earlier batches wait on LNB.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import batched
from typing import Any

from connector import previews
from connector.flows.context import FlowContext
from connector.flows.source import Skip
from connector.lenewblack.models import ItemOutcome
from connector.observability import log_record, masked, record_lines_batched
from connector.state import Snapshot, payload_digest

# Time a snapshot save may take (S3 PUT of a few MB, with the SDK's retries).
SNAPSHOT_SAVE_SECONDS = 30
# Batches sent per chunk of changed items: a whole number of batches, so that the batches are those one list of
# every item makes (the calls and their items are the same), and enough that the pause between chunks, while the
# last batches of one finish, is rare. A chunk's digests are made before its batches go: made while they go, they
# contend with the batch threads for the interpreter, which cost a price export more CPU than it saved wall time.
SEND_CHUNK_BATCHES = 100


@dataclass(frozen=True)
class Outgoing:
    """One record ready for LNB: its key, the exact payload, and fields worth logging with its outcome."""

    key: str
    payload: dict[str, Any]
    log_fields: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None  # a compact stand-in for the digest, e.g. the stock quantity itself
    # A full push re-sends it as LNB already holds it: its acceptance is counted and summarised in one line
    # per run (`records.resent_unchanged`), not logged record by record; `record.sent` is for what changed.
    unchanged: bool = False
    known_digest: str | None = None  # `payload_digest(payload)`, where the flow had it computed already

    @cached_property
    def digest(self) -> str:
        """Computed once: the diff and the snapshot update both read it."""
        if self.fingerprint is not None:
            return self.fingerprint
        return self.known_digest if self.known_digest is not None else payload_digest(self.payload)


@dataclass
class SyncResult:
    changed: int = 0  # items LNB did not hold in this exact form (sent, or previewed)
    accepted: int = 0
    # key → (digest, payload) LNB accepted, kept to show old → new in later previews (previews.SentValues).
    accepted_values: dict[str, tuple[str, Any]] = field(default_factory=dict)


def record_skips(ctx: FlowContext, skips: Iterable[Skip], *, part_event: str | None = None) -> None:
    """Count and log every record the mapping left out, each under its key with its reason.

    With `part_event`, the skips are parts left out of a record that is still sent (an order's lines): each is
    logged under that event, and not counted as a skipped record.
    """
    for skip in skips:
        if part_event is not None:
            log_record(part_event, skip.key, reason=skip.reason, level="WARNING", **skip.detail)
        else:
            ctx.run.skipped(skip.key, skip.reason, **skip.detail)


def changed_items(ctx: FlowContext, items: Iterable[Outgoing], snapshot: Snapshot) -> Iterator[Outgoing]:
    """Items LNB does not hold yet in this exact form, as `items` come; counts the others as unchanged once
    `items` are exhausted."""
    full = ctx.run.request.full
    entries = snapshot.entries
    unchanged = 0
    for item in items:
        if not full and entries.get(item.key) == item.digest:
            unchanged += 1
        else:
            yield item
    # One count for all: counting item by item cost a third of a 100 000-SKU stock run's CPU.
    ctx.run.count("unchanged", unchanged)


def check_preview_still_holds(
    ctx: FlowContext, preview_run_id: str, resource: str, changed: list[Outgoing], snapshot: Snapshot
) -> None:
    """Raise PreviewOutdated unless `changed` is what the preview approved, on the same snapshot (previews.py)."""
    previews.check_preview_still_holds(
        ctx.services.previews, preview_run_id, resource, changed, snapshot.loaded_version
    )


def preview_items(ctx: FlowContext, resource: str, items: Iterable[Outgoing], snapshot: Snapshot) -> None:
    """Record would-be sends with their diff class; the digest lets an apply prove nothing changed since. A
    changed item also carries its changed fields, old → new, where the old payload is known (SentValues)."""
    # A flow may send several resources (fabrics, then products), each diffed against its own snapshot.
    ctx.run.preview_bases.setdefault(resource, snapshot.version or "empty")
    sent: dict[str, tuple[str, Any]] | None = None  # read once, and only if an item changed
    for item in items:
        line: dict[str, Any] = {
            "resource": resource,
            "key": item.key,
            "change": "changed" if item.key in snapshot.entries else "new",
            "digest": item.digest,
            "payload": item.payload,
            **item.log_fields,
        }
        if line["change"] == "changed" and item.fingerprint is None:
            sent = ctx.services.sent_values.load(snapshot.flow) if sent is None else sent
            digest, old = sent.get(item.key, (None, None))
            if digest is not None and digest == snapshot.entries[item.key]:  # the value the snapshot stands for
                changes = previews.field_changes(old, masked(item.payload))
                line["changes"] = [change.model_dump(mode="json") for change in changes]
        ctx.preview(line)


def synchronise(
    ctx: FlowContext,
    resource: str,
    items: Iterable[Outgoing],
    snapshot: Snapshot,
    explain: Callable[[Outgoing, ItemOutcome], str] | None = None,
    *,
    resend: Callable[[Outgoing, ItemOutcome], Outgoing | None] | None = None,
    before_save: Callable[[SyncResult], None] | None = None,
    stream: bool = False,
) -> SyncResult:
    """Send what changed to `POST /multi/<resource>` (or store it as the preview) and record each outcome.

    `explain` turns a rejection into the reason support reads, where the flow knows better than LNB's raw
    field errors what the user must do (e.g. an unknown price list). `resend` gives a rejected item a second
    chance in the same run: the part LNB can take (e.g. a retailer without the buyers it refused), or None; the
    snapshot then holds the digest of what LNB accepted. `before_save` sees the outcomes just before the snapshot
    is saved, e.g. to set the snapshot's marks so that they travel in the same object (one S3 PUT, not two).
    `stream`: `items` are made as the client takes them (see the module docstring), not a chunk at a time.
    """
    unchanged_before = ctx.run.counters.unchanged
    changed: Iterable[Outgoing] = changed_items(ctx, items, snapshot)
    result = SyncResult()
    if ctx.run.preview or ctx.run.request.apply_run_id is not None:
        changed = list(changed)  # a preview stores them all; its apply compares them all with it
        if ctx.run.request.apply_run_id is not None:
            check_preview_still_holds(ctx, ctx.run.request.apply_run_id, resource, changed, snapshot)
        if ctx.run.preview:
            result.changed = len(changed)  # an apply counts them as it sends them, below
            ctx.run.unchanged_by_resource[resource] += ctx.run.counters.unchanged - unchanged_before
            preview_items(ctx, resource, changed, snapshot)
            return result
    chunks: Iterable[Iterable[Outgoing]] = (
        [_counted_as_changed(changed, result)]
        if stream
        else batched(changed, ctx.lnb.settings.batch_size * SEND_CHUNK_BATCHES, strict=False)
    )
    retries: list[Outgoing] = []
    resent_unchanged = 0
    for chunk in chunks:
        if isinstance(chunk, tuple):
            result.changed += len(chunk)
        chunk_retries, chunk_resent = _send(ctx, resource, chunk, snapshot, result, explain=explain, resend=resend)
        retries += chunk_retries
        resent_unchanged += chunk_resent
    ctx.run.unchanged_by_resource[resource] += ctx.run.counters.unchanged - unchanged_before
    _log_resent_unchanged(resource, resent_unchanged)
    if not result.changed:
        return result
    if retries:
        _, resent_unchanged = _send(ctx, resource, retries, snapshot, result, explain=explain, resend=None)
        _log_resent_unchanged(resource, resent_unchanged)
    if before_save is not None:
        before_save(result)
    ctx.run.lease.require(SNAPSHOT_SAVE_SECONDS, f"save the {resource} snapshot")
    ctx.snapshots.save(snapshot)
    ctx.services.sent_values.update(snapshot.flow, result.accepted_values, snapshot.entries)
    return result


def _counted_as_changed(items: Iterable[Outgoing], result: SyncResult) -> Iterator[Outgoing]:
    for item in items:
        result.changed += 1
        yield item


def _log_resent_unchanged(resource: str, count: int) -> None:
    if count:
        log_record("records.resent_unchanged", resource, count=count)


def _send(
    ctx: FlowContext,
    resource: str,
    items: Iterable[Outgoing],
    snapshot: Snapshot,
    result: SyncResult,
    *,
    explain: Callable[[Outgoing, ItemOutcome], str] | None,
    resend: Callable[[Outgoing, ItemOutcome], Outgoing | None] | None,
) -> tuple[list[Outgoing], int]:
    """Send `items` (a sequence, or made as the client takes them), record each outcome; returns the reduced items
    `resend` made of rejected ones, and how many accepted items LNB held already (re-sent unchanged: one line)."""
    waiting: dict[int, Outgoing] = {}  # taken by the client and not answered yet: a few batches

    def payloads() -> Iterator[dict[str, Any]]:
        for position, item in enumerate(items):
            waiting[position] = item
            yield item.payload

    outgoing: Iterable[dict[str, Any]] = payloads()
    item_at: Callable[[int], Outgoing] = waiting.pop
    if isinstance(items, Sequence):  # made already: looked up by position, without a generator step per item
        outgoing, item_at = [item.payload for item in items], items.__getitem__

    retries: list[Outgoing] = []
    resent_unchanged = 0
    entries = snapshot.entries
    # `sent` and the unchanged items' `accepted` are added to the run's counters a batch's worth at a time: a
    # count each cost a lock and a clock read per record (200 000 a prices export). Progress still moves while
    # the batches go, and nothing counted is lost if a callback raises.
    tally = _Tally(ctx)
    try:
        with record_lines_batched():  # a batch's lines written at once
            for position, outcome in ctx.lnb.send_batches(resource, outgoing):
                item = item_at(position)
                tally.add("sent")
                if outcome.accepted:
                    # A full export re-sends what LNB already holds: summarised like the flows' own `unchanged` items.
                    unchanged = item.unchanged or entries.get(item.key) == item.digest
                    snapshot.accept(item.key, item.digest)
                    result.accepted += 1
                    # Old values kept for previews: only what changed (a re-sent unchanged value is kept already, so
                    # a full re-export rewrites nothing), and nothing where a fingerprint is itself readable (stock).
                    if item.fingerprint is None and not unchanged:
                        result.accepted_values[item.key] = (item.digest, item.payload)
                    if unchanged:
                        tally.add("accepted")
                        resent_unchanged += 1
                    else:
                        ctx.run.accepted(item.key, http_status=outcome.http_status, **item.log_fields)
                elif resend is not None and (reduced := resend(item, outcome)) is not None:
                    retries.append(reduced)
                else:
                    reason = explain(item, outcome) if explain else outcome.reason
                    ctx.run.rejected(item.key, reason, http_status=outcome.http_status, **item.log_fields)
    finally:
        tally.commit()
    return retries, resent_unchanged


class _Tally:
    """Counts kept aside and added to the run's counters every `EVERY` of them, and on `commit`."""

    EVERY = 100

    def __init__(self, ctx: FlowContext) -> None:
        self._run = ctx.run
        self._pending: Counter[str] = Counter()
        self._size = 0

    def add(self, counter: str) -> None:
        self._pending[counter] += 1
        self._size += 1
        if self._size >= self.EVERY:
            self.commit()

    def commit(self) -> None:
        for counter, n in self._pending.items():
            self._run.count(counter, n)
        self._pending.clear()
        self._size = 0
