"""The status page ("is everything OK?") and a flow's run history.

Per flow, a health header comes first (last success and its age, the last run's status, the next scheduled
run and whether its schedule is on, the open problems), then the recent runs: local times (UTC on hover),
durations, counters, and the reasons in a detail row under their run rather than in a squeezed column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connector.api.html import View, elapsed, esc, page, parse, span, table
from connector.api.i18n import known
from connector.check_report import CheckReport, CheckState
from connector.counters import COUNTER_UNITS, counter_legend
from connector.runs import RunRecord, RunStatus
from connector.schedules import ScheduleStatus

COUNTERS = ("read", "unchanged", "sent", "accepted", "rejected", "skipped")
TOP_REASONS = 3


@dataclass(frozen=True)
class FlowHealth:
    """What the status page says of one flow; `runs` newest first."""

    flow: str
    runs: Sequence[RunRecord]
    last_success: RunRecord | None = None
    schedules: Sequence[ScheduleStatus] = field(default_factory=tuple)
    problems: int = 0


def status_word(view: View, status: str) -> str:
    """A run status as a coloured, translated word (the class keeps the status' code)."""
    known = status in RunStatus.__members__.values()
    label = view.t(f"status.{status}") if known else status
    return f'<span class="{esc(status)}" data-status="{esc(status)}">{esc(label)}</span>'


def counter_word(view: View, label: str) -> str:
    """A counter's label in the page's language where the catalogue has it, else as the flow names it."""
    return view.t(f"counter.{label}") if known(f"counter.{label}") else label


def counter_label(view: View, flow: str, counter: str) -> str:
    """What `flow` calls `counter` (images: sent → "to stage", accepted → "staged"), translated."""
    units = COUNTER_UNITS.get(flow)
    return counter_word(view, units.label(counter) if units else counter)


def legend(view: View, flow: str) -> str:
    """The one-line legend of `flow`'s counters (counters.py), its labels translated; units stay as written."""
    text = counter_legend(flow, lambda label: counter_word(view, label))
    return f'<p class="help legend" id="legend-{esc(flow)}">{esc(view.t("run.legend", text))}</p>'


def run_link(view: View, run_id: str) -> str:
    return view.links.link(run_id, f"/runs/{run_id}")


def _reasons(errors: Mapping[str, int], limit: int | None = TOP_REASONS) -> str:
    top = sorted(errors.items(), key=lambda item: -item[1])[:limit]
    return "<br>".join(f"{count} × {esc(reason)}" for reason, count in top)


def run_rows(view: View, records: Sequence[RunRecord]) -> list[str]:
    """A row per run, and under it a detail row with its message and main reasons when it has any."""
    rows = []
    for r in records:
        trigger = view.t(f"trigger.{r.trigger}") + (f" ({view.t('run.preview')})" if r.preview else "")
        counters = "".join(f'<td class="n">{getattr(r.counters, name)}</td>' for name in COUNTERS)
        rows.append(
            f'<tr id="run-{esc(r.run_id)}"><td>{run_link(view, r.run_id)}</td><td>{esc(trigger)}</td>'
            f"<td>{status_word(view, r.status)}</td><td>{view.time(r.started_at or r.queued_at)}</td>"
            f'<td class="n">{esc(elapsed(r.started_at, r.finished_at))}</td>{counters}</tr>'
        )
        detail = "<br>".join(part for part in (esc(r.message or ""), _reasons(r.errors)) if part)
        if detail:
            rows.append(f'<tr class="detail"><td colspan="{5 + len(COUNTERS)}">{detail}</td></tr>')
    return rows


def runs_table(view: View, records: Sequence[RunRecord], table_id: str, flow: str = "") -> str:
    headers = [view.t(f"col.{name}") for name in ("run", "trigger", "status", "started", "duration")]
    headers += [counter_label(view, flow, name) for name in COUNTERS]
    return table(headers, run_rows(view, records), table_id=table_id)


def _next_run(view: View, schedule: ScheduleStatus) -> str:
    if schedule.problem is not None:
        return f"{view.t('schedule.unknown')} ({schedule.problem})"
    if schedule.state != "ENABLED":
        return view.t("schedules.none_disabled")
    upcoming = schedule.next
    if upcoming is not None and upcoming.at is not None:
        return f"{view.when(upcoming.at)} ({schedule.timezone})"
    if upcoming is not None and upcoming.within is not None:
        return view.t("schedules.within", span(upcoming.within))
    return view.t("schedules.never")


def _schedule_state(view: View, schedule: ScheduleStatus) -> str:
    state = (schedule.state or "unknown").lower()
    return view.t(f"schedule.{state}") if state in {"enabled", "disabled"} else state


def _health(view: View, health: FlowHealth, now: datetime) -> str:
    success = health.last_success
    if success is None:
        last_success = esc(view.t("health.never"))
    else:
        finished = parse(success.finished_at) or parse(success.started_at)
        age = f" ({esc(view.t('health.ago', span(now - finished)))})" if finished else ""
        last_success = f"{view.time(success.finished_at or success.started_at)}{age}"
    last = health.runs[0] if health.runs else None
    last_run = f"{status_word(view, last.status)} · {run_link(view, last.run_id)}" if last else esc(view.t("run.none"))
    next_runs = "<br>".join(
        f"{esc(_next_run(view, s))} ({esc(s.ref.name)}: {esc(_schedule_state(view, s))})" for s in health.schedules
    ) or esc(view.t("health.no_schedule"))
    problem_class = "failed" if health.problems else "succeeded"
    items = (
        ("last-success", "health.last_success", last_success),
        ("last-run", "health.last_run", last_run),
        ("next-run", "health.next_run", next_runs),
        ("problems", "health.problems", f'<span class="{problem_class}">{health.problems}</span>'),
    )
    cells = "".join(f'<div class="{name}"><b>{esc(view.t(key))}</b>{value}</div>' for name, key, value in items)
    return f'<div class="health" id="health-{esc(health.flow)}">{cells}</div>'


def _schedules_section(view: View, schedules: Sequence[ScheduleStatus]) -> str:
    if not schedules:
        return ""
    rows = [
        f'<tr id="schedule-{esc(s.ref.name)}"><td>{esc(s.ref.flow)}</td><td>{esc(s.ref.name)}</td>'
        f'<td class="schedule-state">{esc(_schedule_state(view, s))}</td>'
        f"<td>{esc(s.expression or '')}</td><td>{esc(_next_run(view, s))}</td></tr>"
        for s in schedules
    ]
    headers = [view.t(f"col.{name}") for name in ("flow", "schedule", "state", "expression", "next")]
    return f'<section id="schedules"><h2>{esc(view.t("schedules.title"))}</h2>{table(headers, rows)}</section>'


def _check_section(view: View, report: CheckReport | None) -> str:
    if report is None:
        return f'<p id="check">{view.t("check.never")}</p>'
    counts = {state: sum(line.state == state for line in report.lines) for state in CheckState}
    checked = datetime.fromisoformat(report.checked_at).astimezone(UTC)
    failures = "".join(f"<li>{esc(line.text())}</li>" for line in report.lines if line.state == CheckState.FAILED)
    passed = "succeeded" if report.passed else "failed"
    ok_failed = view.t("check.counts", counts[CheckState.OK], counts[CheckState.FAILED])
    return (
        f'<section id="check"><p>{esc(view.t("check.title"))} ({view.time(checked.isoformat())}): '
        f'<span class="{passed}">{esc(ok_failed)}</span>, {esc(view.t("check.unknown", counts[CheckState.UNKNOWN]))}'
        f"</p>{f'<ul>{failures}</ul>' if failures else ''}</section>"
    )


# Opens `/keys/<key>` (one key's history): the key goes in the path, so a line of script builds the URL from the
# form's `data-base`. Constant text: the CSP allows it by hash (pages.SCRIPTS).
KEY_SEARCH_SCRIPT = """
const keySearch = document.getElementById("key-search");
keySearch.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = document.getElementById("key").value.trim();
  if (key) { window.location.href = keySearch.dataset.base + encodeURIComponent(key); }
});
"""


def search_form(view: View) -> str:
    """Finds one key's history (KEY_SEARCH_SCRIPT)."""
    return (
        f'<form id="key-search" class="inline" role="search" data-base="{esc(view.links.prefix)}/keys/">'
        f'<label for="key">{esc(view.t("status.search"))}</label>'
        '<input type="search" id="key" name="key" required maxlength="200" autocomplete="off">'
        f'<button type="submit">{esc(view.t("status.search.button"))}</button></form>'
        f"<script>{KEY_SEARCH_SCRIPT}</script>"
    )


def status_page(
    flows: Sequence[FlowHealth],
    view: View,
    *,
    schedules: Sequence[ScheduleStatus] = (),
    check: CheckReport | None = None,
    now: datetime | None = None,
) -> str:
    """The health of every flow with its recent runs and its export button, then the schedules and the last
    configuration check."""
    moment = now or datetime.now(UTC)
    sections = [search_form(view)]
    for health in flows:
        flow = health.flow
        runs = (
            runs_table(view, health.runs, f"runs-{flow}", flow) + legend(view, flow)
            if health.runs
            else f"<p>{esc(view.t('run.none'))}</p>"
        )
        sections.append(
            f'<section id="flow-{esc(flow)}"><h2>{esc(flow)}</h2>{_health(view, health, moment)}'
            f'<p><a class="button" id="export-{esc(flow)}" href="{esc(view.links.url(f"/exports/{flow}"))}">'
            f"{esc(view.t('run.export', flow))}</a> "
            f'<a class="button secondary" id="history-{esc(flow)}" href="{esc(view.links.url("/runs", flow=flow))}">'
            f"{esc(view.t('run.history'))}</a></p>{runs}</section>"
        )
    sections += [
        _schedules_section(view, schedules),
        _check_section(view, check),
    ]
    title = view.t("status.title")
    return page(title, "<h1>Fastmag → Le New Black</h1>" + "".join(sections), language=view.language)


def history_page(
    flow: str, records: Sequence[RunRecord], view: View, *, status: str | None, cursor: str | None, after: str | None
) -> str:
    """One flow's runs, newest first, a page at a time (`after` is the next page's cursor), optionally of one
    status."""
    options = "".join(
        f'<option value="{esc(value)}"{" selected" if value == (status or "") else ""}>'
        f"{esc(view.t(f'status.{value}') if value else view.t('history.all'))}</option>"
        for value in ("", *RunStatus.__members__.values())
    )
    form = (
        f'<form id="history-filter" class="inline" method="get" action="{esc(view.links.prefix)}/runs">'
        f'<input type="hidden" name="flow" value="{esc(flow)}">'
        f'<label for="status">{esc(view.t("history.filter"))}</label>'
        f'<select id="status" name="status">{options}</select>'
        f'<button type="submit">{esc(view.t("history.show"))}</button></form>'
    )
    filters = {"flow": flow, **({"status": status} if status else {})}
    paging = []
    if cursor:
        paging.append(view.links.link(view.t("history.newest"), "/runs", **filters))
    if after:
        paging.append(
            f'<a class="button secondary" id="older" href="{esc(view.links.url("/runs", **filters, cursor=after))}">'
            f"{esc(view.t('history.older'))}</a>"
        )
    runs = (
        runs_table(view, records, f"runs-{flow}", flow) + legend(view, flow)
        if records
        else f"<p>{esc(view.t('run.none'))}</p>"
    )
    body = (
        f"<h1>{esc(view.t('run.history'))}: {esc(flow)}</h1>{form}{runs}<p>{' '.join(paging)}</p>"
        f"<p>{view.links.link(view.t('run.back'), '/')}</p>"
    )
    return page(f"{view.t('run.history')}: {flow}", body, language=view.language)
