"""The orders of one run and their ledger: each verb (open, block, claim, refused, not_sent, unknown, exported,
status_moved, resolve…) writes the ledger entry (compare-and-set on what was read), counts in the run and logs
the line, together, so the orders flow reads as its steps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from connector import ledger as clock
from connector.cutoff import IGNORED_REASON
from connector.errors import ConnectorError, FastmagNotSent, FastmagOutcomeUnknown
from connector.flows.context import FlowContext
from connector.ledger import LedgerEntry, LedgerStatus, LookupProof, OrderLedger
from connector.observability import log_record
from connector.settings import Settings
from connector.state import digest

if TYPE_CHECKING:
    from connector.lenewblack.client import LeNewBlackClient
    from connector.run_log import Run


# The longest a ledger write takes, as a lease check counts it.
LEDGER_WRITE_SECONDS = 10


@dataclass(frozen=True)
class Found:
    """An order Fastmag holds: its number, and how many lines it has when the lookup says (`line_count`)."""

    number: str
    line_count: int | None


@dataclass(frozen=True)
class Claimed:
    """An order taken for one write: its entry as the claim left it, and the transaction to write."""

    entry: LedgerEntry
    lines: list[str]


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
        # Every worker of the run checks: a run that lost its lease writes nothing more, not even its ledger.
        self._run.lease.require(LEDGER_WRITE_SECONDS, f"record order {entry.reference}")
        moved = self._ledger.transition(entry, status, note, last_run_id=self._run.run_id, **fields)
        if moved is None:
            self._run.skipped(entry.reference, "changed by another run meanwhile: left to that run")
        return moved

    # --- reading ------------------------------------------------------------------------------------------------

    def open(self, references: Iterable[str]) -> dict[str, LedgerEntry]:
        """The entries of the orders read (one BatchGetItem per 100); a new order's is created by its first move."""
        return self._ledger.open_all(references)

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

    def ignore(self, entry: LedgerEntry) -> None:
        """Placed before the go-live cut-off: recorded `ignored` once, never written; only counted afterwards."""
        self._run.count("ignored")
        if entry.status == LedgerStatus.IGNORED:
            return
        log_record("order.ignored", entry.reference, reason=IGNORED_REASON, lnb_status=entry.lnb_status)
        self._move(entry, LedgerStatus.IGNORED, f"ignored: {IGNORED_REASON}", reason=IGNORED_REASON)

    def claim(self, entry: LedgerEntry, lines_total: int, *, resend: bool = False) -> LedgerEntry | None:
        """Take the order for one write; None if another run changed it since it was read."""
        # Checked before the claim: a run that stops here leaves the order unclaimed, not `sent` with nothing sent.
        self.require_write_time(entry)
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

    def require_write_time(self, entry: LedgerEntry) -> None:
        """Raise LeaseLost unless the run's lease covers a whole Fastmag write of the order, from now."""
        wire = self._settings.fastmag.wire
        self._run.lease.require(
            wire.connect_timeout_seconds + wire.read_timeout_seconds + 10, f"write {entry.reference}"
        )

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
        lnb = self._settings.lenewblack
        self._run.lease.require(
            lnb.connect_timeout_seconds + lnb.read_timeout_seconds, f"move order {entry.reference} in Le New Black"
        )
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
        self._run.lease.require(LEDGER_WRITE_SECONDS, "record what the lookup found")
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
