"""A run's page (counters, reasons, its preview and what can be done with it, the orders it moved) and an
order's ledger page, linked from it.

The buttons post JSON with one constant script, as the confirm page does, sending the page's CSRF token; what
they post is what the API's `ExportRequest` reads (`preview`, `full`, `force`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from connector.api.html import View, esc, page, table
from connector.api.status_html import COUNTERS, run_link, status_word
from connector.ledger import LedgerEntry, LedgerStatus
from connector.runs import FINISHED, RunRecord, RunStatus


@dataclass(frozen=True)
class PreviewView:
    """What a preview run's page offers: its download (minted for this page view), the records it would send
    (new and changed), and why it cannot be applied (None: it can)."""

    download_url: str | None
    new: int
    changed: int
    refusal: str | None

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
    return "".join(parts)


def _order_rows(view: View, orders: Sequence[LedgerEntry]) -> list[str]:
    return [
        f'<tr><td><a class="order" href="{esc(view.links.url(f"/orders/{entry.reference}"))}">'
        f"{esc(entry.reference)}</a></td><td>{esc(entry.status)}</td>"
        f"<td>{esc(entry.fastmag_number or '')}</td><td>{esc(entry.reason or '')}</td></tr>"
        for entry in orders
    ]


def run_page(
    record: RunRecord, view: View, *, preview: PreviewView | None = None, orders: Sequence[LedgerEntry] = ()
) -> str:
    """One run: refreshes itself until the run has ended."""
    finished = record.status in FINISHED
    counters = "".join(
        f'<tr><th>{esc(view.t(f"counter.{name}"))}</th><td id="counter-{name}" class="n">'
        f"{getattr(record.counters, name)}</td></tr>"
        for name in COUNTERS
    )
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
    details.append(f'<div class="scroll"><table id="counters">{counters}</table></div>')
    if record.errors:
        rows = [
            f'<tr><td class="n">{count}</td><td>{esc(reason)}</td></tr>'
            for reason, count in sorted(record.errors.items(), key=lambda item: -item[1])
        ]
        details.append(f"<h2>{esc(view.t('run.errors'))}</h2>")
        details.append(table([view.t("col.items"), view.t("col.reason")], rows, table_id="errors"))
    if orders:
        headers = [view.t("col.order"), view.t("col.outcome"), view.t("order.fastmag_number"), view.t("col.reason")]
        details.append(f"<h2>{esc(view.t('run.orders'))}</h2>")
        details.append(table(headers, _order_rows(view, orders), table_id="orders"))
    if preview is not None:
        details.append(_preview_section(view, record, preview))
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
    exported = f"python -m connector order {reference} --resolve exported --fastmag-number NUMBER --why TEXT"
    resend = f"python -m connector order {reference} --resolve resend --why TEXT"
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
