"""A run's page (counters and their units, errors apart from warnings, the records it rejected, skipped or warned
from its task log, its preview to review and what can be done with it, the orders it moved, its report) and an
order's ledger page, linked from it.

The buttons post JSON with one constant script, as the confirm page does, sending the page's CSRF token; what
they post is what the API's `ExportRequest` reads (`preview`, `full`, `force`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.api.html import View, esc, page, table
from connector.api.status_html import COUNTERS, counter_label, legend, run_link, status_word
from connector.ledger import LedgerEntry, LedgerStatus
from connector.previews import FieldChange, PreviewItem, PreviewSummary
from connector.runs import FINISHED, RunRecord, RunStatus
from connector.task_log import Outcome, Page, TaskLogEntry

# What a run's drill-down lists unless asked for one outcome: the records that did not simply go through.
PROBLEM_OUTCOMES = frozenset({Outcome.REJECTED, Outcome.SKIPPED, Outcome.WARNED, Outcome.BLOCKED, Outcome.ERROR})
PREVIEW_CHANGES = ("new", "changed", "skipped")
# Pages that read a stored report of their run: readiness's and reconcile's report pages.
REPORT_PAGES = {"readiness": "run.readiness_report", "reconcile": "run.reconcile_report"}


@dataclass(frozen=True)
class PreviewReview:
    """A stored preview as the page reviews it: counts per resource and one page of its items, as filtered."""

    summary: PreviewSummary
    items: Page[PreviewItem]
    change: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class RecordsView:
    """A run's drill-down: one page of its task log's entries (`outcome` None: the problems, PROBLEM_OUTCOMES),
    or no task log at all (`items` None)."""

    items: Page[TaskLogEntry] | None
    outcome: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class PreviewView:
    """What a preview run's page offers: its download (minted for this page view), the records it would send
    (new and changed), why it cannot be applied (None: it can), and its content to review."""

    download_url: str | None
    new: int
    changed: int
    refusal: str | None
    review: PreviewReview | None = None

    @property
    def would_send(self) -> int:
        return self.new + self.changed


# Every button carrying `data-target` posts its `data-body` there with the page's CSRF token and opens the run it
# starts (its problem shown in #problem if refused). Constant text: the CSP allows it by hash (pages.SCRIPTS).
POST_BUTTONS_SCRIPT = """
for (const button of document.querySelectorAll("button[data-target]")) {
  button.addEventListener("click", async () => {
    const answer = await fetch(button.dataset.target, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": button.dataset.csrf},
      body: button.dataset.body,
    });
    const data = await answer.json();
    if (answer.status === 202) { window.location.href = data.page_url; }
    else { document.getElementById("problem").textContent = data.message || JSON.stringify(data); }
  });
}
"""


def post_button(
    view: View, element_id: str, label: str, url: str, body: dict[str, bool], *, secondary: bool = False
) -> str:
    """A button that posts `body` to `url` (with POST_BUTTONS_SCRIPT, which the page must carry once)."""
    css = ' class="button secondary"' if secondary else ""
    return (
        f'<button type="button" id="{esc(element_id)}"{css} data-target="{esc(url)}" '
        f'data-body="{esc(json.dumps(body))}" data-csrf="{esc(view.links.csrf or "")}">{esc(label)}</button>'
    )


def _value(value: Any) -> str:
    """A field's value as plain text (structures as JSON): escaped by the caller."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _field_changes(changes: Sequence[FieldChange]) -> str:
    return "<br>".join(
        f"<code>{esc(change.field)}</code>: {esc(_value(change.old))} → {esc(_value(change.new))}" for change in changes
    )


def _old_new(old: Any, new: Any) -> str:
    return "" if old is None and new is None else f"{esc(_value(old))} → {esc(_value(new))}"


def _pager(view: View, path: str, name: str, listed: Page[Any], filters: Mapping[str, str | None]) -> str:
    """Where this page of a list is (`first–last of total`) and links to the pages around it, keeping the
    filters in their query."""
    if not listed.total:
        return ""
    kept = {key: value for key, value in filters.items() if value}
    shown = view.t("records.shown", listed.offset + 1, listed.offset + len(listed.items), listed.total)
    parts = [f'<span id="{name}-shown">{esc(shown)}</span>']
    if listed.offset > 0:
        before = str(max(listed.offset - listed.limit, 0))
        url = view.links.url(path, **kept, offset=before) if before != "0" else view.links.url(path, **kept)
        parts.append(
            f'<a class="button secondary" id="{name}-previous" href="{esc(url)}">{esc(view.t("records.previous"))}</a>'
        )
    if listed.offset + listed.limit < listed.total:
        url = view.links.url(path, **kept, offset=str(listed.offset + listed.limit))
        parts.append(
            f'<a class="button secondary" id="{name}-next" href="{esc(url)}">{esc(view.t("records.next"))}</a>'
        )
    return f'<p class="pager">{" ".join(parts)}</p>'


def _filter_form(
    view: View,
    path: str,
    name: str,
    *,
    field: str,
    options: Sequence[tuple[str, str]],
    selected: str | None,
    q: str | None,
) -> str:
    """A GET form: a select of `field` (`options`: value, label) and a search by key."""
    choices = "".join(
        f'<option value="{esc(value)}"{" selected" if value == (selected or "") else ""}>{esc(label)}</option>'
        for value, label in options
    )
    return (
        f'<form id="{name}-filter" class="inline" method="get" action="{esc(view.links.url(path))}">'
        f'<select id="{name}-{field}" name="{field}" aria-label="{esc(view.t(f"col.{field}"))}">{choices}</select>'
        f'<label for="{name}-q">{esc(view.t("records.search"))}</label>'
        f'<input type="search" id="{name}-q" name="q" value="{esc(q or "")}" maxlength="200" autocomplete="off">'
        f'<button type="submit">{esc(view.t("history.show"))}</button></form>'
    )


def _review(view: View, record: RunRecord, review: PreviewReview) -> str:
    """Counts by change per resource, then the items (key, what, old → new per field), filtered and paged."""
    summary = review.summary
    changes = ("new", "changed", "unchanged")
    count_rows = [
        f'<tr id="resource-{esc(resource)}"><td>{esc(resource)}</td>'
        + "".join(f'<td class="n {change}">{getattr(counts, change)}</td>' for change in changes)
        + "</tr>"
        for resource, counts in summary.resources.items()
    ]
    headers = [view.t("col.resource"), *(view.t(f"change.{change}") for change in changes)]
    others = view.t("preview.others", summary.skipped, summary.warnings)
    path = f"/runs/{record.run_id}"
    options = [("", view.t("preview.all")), *((change, view.t(f"change.{change}")) for change in PREVIEW_CHANGES)]
    item_rows = []
    for item in review.items.items:
        if item.changes:
            fields = _field_changes(item.changes)
        elif item.change == "changed" and item.old is None:
            fields = esc(view.t("preview.no_old"))
        else:
            fields = _old_new(item.old, item.new)
        item_rows.append(
            f'<tr class="item"><td>{esc(item.key)}</td><td>{esc(item.resource or "")}</td>'
            f'<td class="{esc(item.change)}">{esc(view.t(f"change.{item.change}"))}</td>'
            f"<td>{esc(item.what or '')}</td><td>{fields}</td><td>{esc(item.reason or '')}</td></tr>"
        )
    item_headers = [view.t(f"col.{name}") for name in ("key", "resource", "change", "what", "fields", "reason")]
    listed = (
        table(item_headers, item_rows, table_id="preview-items")
        if item_rows
        else f'<p id="preview-none">{esc(view.t("records.none"))}</p>'
    )
    return (
        f'<section id="preview-review"><h2>{esc(view.t("preview.counts"))}</h2>'
        f"{table(headers, count_rows, table_id='preview-counts')}"
        f'<p id="preview-others">{esc(others)}</p>'
        f"<h2>{esc(view.t('preview.items'))}</h2>{
            _filter_form(view, path, 'preview', field='change', options=options, selected=review.change, q=review.q)
        }"
        f"{listed}{_pager(view, path, 'preview', review.items, {'change': review.change, 'q': review.q})}</section>"
    )


def _preview_section(view: View, record: RunRecord, preview: PreviewView) -> str:
    parts = []
    if preview.download_url:
        parts.append(
            f'<p><a id="preview-link" href="{esc(preview.download_url)}">{esc(view.t("preview.download"))}</a>'
            f'<br><span class="help">{esc(view.t("preview.download.help"))}</span></p>'
        )
    if record.status not in FINISHED:
        return "".join(parts)
    if preview.would_send:
        counts = view.t("preview.would_send", preview.would_send, preview.new, preview.changed)
        parts.append(f'<p id="would-send">{esc(counts)}</p>')
    else:
        parts.append(f'<p id="would-send">{esc(view.t("preview.nothing"))}</p>')
    if preview.would_send and preview.refusal is None:
        url = view.links.url(f"/runs/{record.run_id}/apply")
        parts.append(f"<p>{post_button(view, 'apply', view.t('preview.apply', preview.would_send), url, {})}</p>")
    else:
        if preview.refusal:
            parts.append(f'<p id="refusal">{esc(preview.refusal)}</p>')
        url = view.links.url(f"/exports/{record.flow}")
        body = {"preview": True, "full": record.full}
        parts.append(f"<p>{post_button(view, 'new-preview', view.t('preview.new'), url, body, secondary=True)}</p>")
    if preview.review is not None:
        parts.append(_review(view, record, preview.review))
    return "".join(parts)


def _records_section(view: View, record: RunRecord, records: RecordsView) -> str:
    """The run's rejected, skipped and warned records from its task log (or one outcome), with the downloads."""
    title = f"<h2>{esc(view.t('records.title'))}</h2>"
    if records.items is None:
        return f'<section id="records">{title}<p id="records-none">{esc(view.t("records.no_log"))}</p></section>'
    path = f"/runs/{record.run_id}"
    downloads = (
        f'<p id="downloads">{esc(view.t("records.download"))} '
        f'<a id="log-jsonl" href="{esc(view.links.url(f"{path}/log.jsonl"))}">JSON Lines</a> · '
        f'<a id="log-csv" href="{esc(view.links.url(f"{path}/log.csv"))}">CSV</a></p>'
    )
    options = [("", view.t("records.problems")), *((o.value, view.t(f"outcome.{o.value}")) for o in Outcome)]
    rows = [
        f'<tr class="record"><td>{esc(entry.key)}</td>'
        f'<td class="{esc(entry.outcome)}">{esc(view.t(f"outcome.{entry.outcome.value}"))}</td>'
        f"<td>{esc(entry.what or '')}</td><td>{esc(entry.reason or '')}</td>"
        f"<td>{_old_new(entry.old, entry.new)}</td><td>{view.time(entry.at)}</td></tr>"
        for entry in records.items.items
    ]
    headers = [view.t(f"col.{name}") for name in ("key", "outcome", "what", "reason", "fields", "when")]
    listed = (
        table(headers, rows, table_id="records-table")
        if rows
        else f'<p id="records-none">{esc(view.t("records.none"))}</p>'
    )
    filters = {"outcome": records.outcome, "q": records.q}
    form = _filter_form(view, path, "records", field="outcome", options=options, selected=records.outcome, q=records.q)
    return (
        f'<section id="records">{title}{downloads}{form}'
        f"{listed}{_pager(view, path, 'records', records.items, filters)}</section>"
    )


def _counters(view: View, record: RunRecord) -> str:
    """The run's counters as its flow names them, the flow's own (warnings, ignored, drift), and their legend."""
    names = [*COUNTERS, "warnings"]
    names += ["ignored"] if record.flow == "orders" else []
    names += ["drift"] if record.flow == "reconcile" else []
    rows = "".join(
        f'<tr><th>{esc(counter_label(view, record.flow, name))}</th><td id="counter-{name}" class="n">'
        f"{getattr(record.counters, name)}</td></tr>"
        for name in names
    )
    return f'<div class="scroll"><table id="counters">{rows}</table></div>{legend(view, record.flow)}'


def _uploads(view: View, record: RunRecord) -> str:
    """An images run: the files it staged, and what became of their uploads to Le New Black."""
    if record.uploads is None:
        return ""
    tally = record.uploads
    facts = (
        ("staged", view.t("uploads.staged"), record.counters.accepted),
        ("uploaded", view.t("uploads.uploaded"), tally.uploaded),
        ("failed", view.t("uploads.failed"), tally.failed),
        ("pending", view.t("uploads.pending"), tally.pending),
    )
    rows = "".join(
        f'<tr><th>{esc(label)}</th><td id="uploads-{name}" class="n">{n}</td></tr>' for name, label, n in facts
    )
    return f'<h2>{esc(view.t("run.uploads"))}</h2><div class="scroll"><table id="uploads">{rows}</table></div>'


def _reasons(view: View, reasons: Mapping[str, int], table_id: str) -> str:
    rows = [
        f'<tr><td class="n">{count}</td><td>{esc(reason)}</td></tr>'
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1])
    ]
    return table([view.t("col.items"), view.t("col.reason")], rows, table_id=table_id)


def _order_rows(view: View, orders: Sequence[LedgerEntry]) -> list[str]:
    return [
        f'<tr><td><a class="order" href="{esc(view.links.url(f"/orders/{entry.reference}"))}">'
        f"{esc(entry.reference)}</a></td><td>{esc(entry.status)}</td>"
        f"<td>{esc(entry.fastmag_number or '')}</td><td>{esc(entry.reason or '')}</td></tr>"
        for entry in orders
    ]


def run_page(
    record: RunRecord,
    view: View,
    *,
    preview: PreviewView | None = None,
    orders: Sequence[LedgerEntry] = (),
    records: RecordsView | None = None,
) -> str:
    """One run: refreshes itself until the run has ended."""
    finished = record.status in FINISHED
    options = [view.t(f"trigger.{record.trigger}")]
    options += [view.t("run.preview")] if record.preview else []
    options += [view.t("run.full")] if record.full else []
    applied = f", {esc(view.t('run.applies'))} {run_link(view, record.applied_from)}" if record.applied_from else ""
    details = [
        f'<p>{esc(view.t("run.status"))}: <strong id="status" data-status="{esc(record.status)}">'
        f"{status_word(view, record.status)}</strong>{'' if finished else esc(view.t('run.refreshes'))}</p>",
        f"<p>{esc(view.t('run.flow', record.flow, ', '.join(options)))}{applied}</p>",
        f"<p>{esc(view.t('col.started'))}: {view.time(record.started_at or record.queued_at)}"
        + (f" → {view.time(record.finished_at)}" if record.finished_at else "")
        + "</p>",
    ]
    if record.message:
        details.append(f'<p id="message">{esc(record.message)}</p>')
    if record.status == RunStatus.HELD:
        url = view.links.url(f"/exports/{record.flow}")
        button = post_button(view, "send-anyway", view.t("run.send_anyway"), url, {"force": True, "full": record.full})
        details.append(f'<p>{button}<br><span class="help">{esc(view.t("run.send_anyway.help"))}</span></p>')
    if finished and record.flow in REPORT_PAGES:
        url = view.links.url(f"/{record.flow}/{record.run_id}")
        details.append(
            f'<p><a class="button" id="report-link" href="{esc(url)}">{esc(view.t(REPORT_PAGES[record.flow]))}</a></p>'
        )
    if preview is not None:  # what a preview would send comes first: it is what its page is read for
        details.append(_preview_section(view, record, preview))
    details.append(_counters(view, record))
    details.append(_uploads(view, record))
    if record.errors:
        details.append(f"<h2>{esc(view.t('run.errors'))}</h2>{_reasons(view, record.errors, 'errors')}")
    if record.warnings:
        details.append(f"<h2>{esc(view.t('run.warnings'))}</h2>{_reasons(view, record.warnings, 'warnings')}")
    if orders:
        headers = [view.t("col.order"), view.t("col.outcome"), view.t("order.fastmag_number"), view.t("col.reason")]
        details.append(f"<h2>{esc(view.t('run.orders'))}</h2>")
        details.append(table(headers, _order_rows(view, orders), table_id="orders"))
    if records is not None:
        details.append(_records_section(view, record, records))
    details.append('<p class="error" id="problem"></p>')
    # A held run offers Send anyway; a finished preview, to apply it or to run a new one.
    if record.status == RunStatus.HELD or (preview is not None and finished):
        details.append(f"<script>{POST_BUTTONS_SCRIPT}</script>")
    details.append(f"<p>{view.links.link(view.t('run.back'), '/')}</p>")
    title = view.t("run.title", record.run_id)
    return page(title, f"<h1>{esc(title)}</h1>{''.join(details)}", language=view.language, refresh=not finished)


# A run id in a ledger note ("seen by run orders-…", "… by run X"): the notes are the connector's own words.
_RUN_IN_NOTE = re.compile(r"\brun ([A-Za-z0-9._:\-]+)")


def runs_of(entry: LedgerEntry) -> list[str]:
    """The runs that touched an order, newest first: its last run and those its history names."""
    found = [entry.last_run_id] if entry.last_run_id else []
    for note in reversed(entry.history):
        found += [run_id for run_id in _RUN_IN_NOTE.findall(note) if run_id not in found]
    return found


def _history_rows(view: View, entry: LedgerEntry) -> list[str]:
    rows = []
    for note in reversed(entry.history):
        stamp, _, words = note.partition(" ")
        moment = view.time(stamp)
        rows.append(
            f"<tr><td>{moment}</td><td>{esc(words)}</td></tr>"
            if moment
            else f'<tr><td colspan="2">{esc(note)}</td></tr>'
        )
    return rows


def _resolve_section(view: View, entry: LedgerEntry) -> str:
    """The command line resolves a stuck order (it also moves the Le New Black status)."""
    reference = shlex.quote(entry.reference)
    where = "--settings settings.json --secret credentials.json"  # the CLI runs only with both given
    exported = f"connector order {reference} --resolve exported --fastmag-number NUMBER --why TEXT {where}"
    resend = f"connector order {reference} --resolve resend --why TEXT {where}"
    return (
        f'<section id="resolve"><h2>{esc(view.t("order.resolve"))}</h2>'
        f"<p>{esc(view.t('order.resolve.exported'))}<br><code>{esc(exported)}</code></p>"
        f"<p>{esc(view.t('order.resolve.resend'))}<br><code>{esc(resend)}</code></p></section>"
    )


def ledger_page(entry: LedgerEntry, view: View) -> str:
    """An order as the ledger knows it: status, Fastmag number, LNB status, history, runs, and what to do when
    it is stuck."""
    facts = (
        ("order-status", "order.status", esc(entry.status)),
        ("fastmag-number", "order.fastmag_number", esc(entry.fastmag_number or "—")),
        ("lnb-status", "order.lnb_status", esc(entry.lnb_status or "—")),
        ("reason", "order.reason", esc(entry.reason or "—")),
        ("attempts", "order.attempts", f"{entry.attempt} / {entry.auto_resends}"),
    )
    facts_html = "".join(f'<dt>{esc(view.t(key))}</dt><dd id="{name}">{value}</dd>' for name, key, value in facts)
    runs = ", ".join(run_link(view, run_id) for run_id in runs_of(entry))
    history = table([view.t("col.when"), view.t("col.event")], _history_rows(view, entry), table_id="history")
    body = [
        f"<h1>{esc(view.t('order.title', entry.reference))}</h1><dl>{facts_html}</dl>",
        f'<p id="runs">{esc(view.t("order.runs"))}: {runs or "—"}</p>',
        f"<h2>{esc(view.t('order.history'))}</h2>{history}",
    ]
    if entry.status == LedgerStatus.BLOCKED:
        body.append(_resolve_section(view, entry))
    body.append(f"<p>{view.links.link(view.t('run.back'), '/')}</p>")
    return page(view.t("order.title", entry.reference), "".join(body), language=view.language)
