"""HTML of the operator's pages: plain server-rendered HTML, a few lines of script for the two POST buttons.

Every value is escaped. No link carries a credential: a browser holds a session cookie (connector.api.auth),
and a page that POSTs carries its CSRF token in a data attribute that its script sends as `X-CSRF-Token`. The
scripts are constant text (their values come from data attributes) so the Content-Security-Policy can allow
them by hash (connector.api.security).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import urlencode

from connector.check_report import CheckReport, CheckState
from connector.runs import FINISHED, RunRecord
from connector.schedules import ScheduleStatus

COUNTERS = ("read", "unchanged", "sent", "accepted", "rejected", "skipped")
REFRESH_SECONDS = 2

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
.succeeded{color:#176f2c}.partial,.held,.skipped{color:#8a5a00}.failed{color:#b00020}
.button{display:inline-block;padding:.4rem .9rem;background:#1f4e99;color:#fff;text-decoration:none;border:0;
border-radius:4px;font-size:1rem;cursor:pointer}.error{color:#b00020}
"""


@dataclass(frozen=True)
class Links:
    """Absolute paths under the API's base path (the stage, or nothing behind a custom domain)."""

    prefix: str = ""
    csrf: str | None = None  # what the page's POSTs send as X-CSRF-Token (the caller's session or confirm ticket)

    def url(self, path: str, **query: str) -> str:
        return f"{self.prefix}{path}" + (f"?{urlencode(query)}" if query else "")


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}<title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _errors(errors: Mapping[str, int], limit: int = 3) -> str:
    top = sorted(errors.items(), key=lambda item: -item[1])[:limit]
    return "<br>".join(f"{count} × {escape(reason)}" for reason, count in top)


# Day names spelled out: strftime's follow the process locale.
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def when(moment: datetime) -> str:
    """Day, date as read in France (day/month/year), 24-hour time to the minute and the zone's abbreviation."""
    return f"{_WEEKDAYS[moment.weekday()]} {moment:%d/%m/%Y %H:%M} {moment.tzname()}"


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return (
        f"{minutes // 1440} d"
        if minutes % 1440 == 0
        else f"{minutes // 60} h"
        if minutes % 60 == 0
        else f"{minutes} min"
    )


def _next_run(schedule: ScheduleStatus) -> str:
    if schedule.problem is not None:
        return f"unknown ({schedule.problem})"
    if schedule.state != "ENABLED":
        return "none while disabled"
    upcoming = schedule.next
    if upcoming is not None and upcoming.at is not None:
        return f"{when(upcoming.at)} ({schedule.timezone})"
    if upcoming is not None and upcoming.within is not None:
        return f"within {_duration(upcoming.within)} (no tick seen yet)"
    return "none (the expression names no later time)"


def _schedules_section(schedules: Sequence[ScheduleStatus]) -> str:
    if not schedules:
        return ""
    rows = "".join(
        f'<tr id="schedule-{escape(s.ref.name)}"><td>{escape(s.ref.flow)}</td><td>{escape(s.ref.name)}</td>'
        f'<td class="schedule-state">{escape((s.state or "unknown").lower())}</td>'
        f"<td>{escape(s.expression or '')}</td><td>{escape(_next_run(s))}</td></tr>"
        for s in schedules
    )
    return (
        '<section id="schedules"><h2>Schedules</h2><table><tr><th>flow</th><th>schedule</th><th>state</th>'
        f"<th>expression</th><th>next run</th></tr>{rows}</table></section>"
    )


def _check_section(report: CheckReport | None) -> str:
    if report is None:
        return '<p id="check">Configuration check: never run (<code>connector check</code>).</p>'
    counts = {state: sum(line.state == state for line in report.lines) for state in CheckState}
    checked = datetime.fromisoformat(report.checked_at).astimezone(UTC)
    failures = "".join(f"<li>{escape(line.text())}</li>" for line in report.lines if line.state == CheckState.FAILED)
    return (
        f'<section id="check"><p>Configuration check ({escape(when(checked))}): '
        f'<span class="{"succeeded" if report.passed else "failed"}">{counts[CheckState.OK]} ok, '
        f"{counts[CheckState.FAILED]} failed</span>, {counts[CheckState.UNKNOWN]} unknown</p>"
        f"{f'<ul>{failures}</ul>' if failures else ''}</section>"
    )


def status_page(
    runs: Mapping[str, Sequence[RunRecord]],
    links: Links,
    *,
    schedules: Sequence[ScheduleStatus] = (),
    check: CheckReport | None = None,
) -> str:
    """The schedules and their next run, the last configuration check, then the recent runs per flow with their
    counters and errors, and one export button per flow."""
    sections = [_schedules_section(schedules), _check_section(check)]
    for flow, records in runs.items():
        rows = "".join(
            f'<tr><td><a href="{escape(links.url(f"/runs/{r.run_id}"))}">{escape(r.run_id)}</a></td>'
            f"<td>{escape(r.trigger)}{' (preview)' if r.preview else ''}</td>"
            f'<td class="{escape(r.status)}">{escape(r.status)}</td>'
            + "".join(f"<td>{getattr(r.counters, name)}</td>" for name in COUNTERS)
            + f"<td>{escape(r.started_at or r.queued_at or '')}</td><td>{escape(r.finished_at or '')}</td>"
            f"<td>{escape(r.message or '')}{'<br>' if r.message and r.errors else ''}{_errors(r.errors)}</td></tr>"
            for r in records
        )
        header = "".join(f"<th>{name}</th>" for name in ("run", "trigger", "status", *COUNTERS))
        table = (
            f"<table><tr>{header}<th>started</th><th>finished</th><th>errors</th></tr>{rows}</table>"
            if records
            else "<p>No run yet.</p>"
        )
        sections.append(
            f'<section id="flow-{escape(flow)}"><h2>{escape(flow)}</h2>'
            f'<p><a class="button" id="export-{escape(flow)}" href="{escape(links.url(f"/exports/{flow}"))}">'
            f"Export {escape(flow)}</a> "
            f'<a href="{escape(links.url("/runs", flow=flow))}">all runs (JSON)</a></p>{table}</section>'
        )
    return _page("Connector status", "<h1>Fastmag → Le New Black</h1>" + "".join(sections))


# Posts the choice with the page's CSRF token; drops the link code from the address bar and history first.
_CONFIRM_SCRIPT = """
history.replaceState(null, "", location.pathname);
const exportForm = document.getElementById("export-form");
exportForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await fetch(exportForm.dataset.target, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": exportForm.dataset.csrf,
    },
    body: JSON.stringify({preview: exportForm.preview.checked, full: exportForm.full.checked}),
  });
  const data = await answer.json();
  if (answer.status === 202) { window.location.href = data.page_url; }
  else { document.getElementById("problem").textContent = data.message || JSON.stringify(data); }
});
"""


def confirm_page(flow: str, links: Links) -> str:
    """The button's landing page: nothing runs until Confirm posts the choice."""
    target = links.url(f"/exports/{flow}")
    body = f"""
<h1>Export {escape(flow)}</h1>
<form id="export-form" data-target="{escape(target)}" data-csrf="{escape(links.csrf or "")}">
<p><label><input type="checkbox" name="preview" id="preview"> Preview only: compute and store what would be
sent, send nothing</label></p>
<p><label><input type="checkbox" name="full" id="full"> Full: send every record, not only what changed</label></p>
<p><button class="button" type="submit" id="confirm">Confirm</button>
<a href="{escape(links.url("/"))}">Cancel</a></p>
<p class="error" id="problem"></p>
</form>
<script>{_CONFIRM_SCRIPT}</script>"""
    return _page(f"Export {flow}", body)


_APPLY_SCRIPT = """
const applyButton = document.getElementById("apply");
applyButton.addEventListener("click", async () => {
  const answer = await fetch(applyButton.dataset.target, {
    method: "POST", credentials: "same-origin",
    headers: {"Accept": "application/json", "X-CSRF-Token": applyButton.dataset.csrf},
  });
  const data = await answer.json();
  if (answer.status === 202) { window.location.href = data.page_url; }
  else { document.getElementById("problem").textContent = data.message; }
});
"""


# Every script a page may run: the Content-Security-Policy allows these texts and no other (connector.api.security).
SCRIPTS = (_CONFIRM_SCRIPT, _APPLY_SCRIPT)


def run_page(record: RunRecord, preview_url: str | None, links: Links) -> str:
    """One run: refreshes itself until the run has ended."""
    finished = record.status in FINISHED
    counters = "".join(
        f'<tr><th>{name}</th><td id="counter-{name}">{getattr(record.counters, name)}</td></tr>' for name in COUNTERS
    )
    errors = "".join(
        f"<tr><td>{count}</td><td>{escape(reason)}</td></tr>"
        for reason, count in sorted(record.errors.items(), key=lambda item: -item[1])
    )
    details = [
        f'<p>Status: <strong id="status" class="{escape(record.status)}">{escape(record.status)}</strong>'
        f"{'' if finished else ' (this page refreshes itself)'}</p>",
        f"<p>Flow {escape(record.flow)}, trigger {escape(record.trigger)}"
        f"{', preview' if record.preview else ''}{', full' if record.full else ''}"
        f"{f', applies preview {escape(record.applied_from)}' if record.applied_from else ''}</p>",
    ]
    if record.message:
        details.append(f'<p id="message">{escape(record.message)}</p>')
    details.append(f"<table>{counters}</table>")
    if errors:
        details.append(f"<h2>Errors</h2><table><tr><th>items</th><th>reason</th></tr>{errors}</table>")
    if preview_url:
        details.append(
            f'<p><a id="preview-link" href="{escape(preview_url)}">Download the preview (JSON Lines)</a></p>'
        )
    if finished and record.preview and record.preview_base:
        apply_url = links.url(f"/runs/{record.run_id}/apply")
        details.append(
            f'<p><button class="button" id="apply" data-target="{escape(apply_url)}" '
            f'data-csrf="{escape(links.csrf or "")}">Send exactly this preview</button></p>'
            f'<p class="error" id="problem"></p><script>{_APPLY_SCRIPT}</script>'
        )
    details.append(f'<p><a href="{escape(links.url("/"))}">Back to the status page</a></p>')
    return _page(
        f"Run {record.run_id}", f"<h1>Run {escape(record.run_id)}</h1>{''.join(details)}", refresh=not finished
    )
