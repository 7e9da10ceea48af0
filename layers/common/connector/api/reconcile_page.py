"""A reconcile run's drift report, read back from the preview store (`RunRecord.report_key`): one page of
drifted records grouped by resource (missing in Le New Black, different field by field old → new, unknown to
Fastmag), its CSV download, and a Repair button that starts a repair *preview* (its run page then offers to send
exactly that preview). Every value is escaped: keys and fields quote Fastmag and Le New Black data."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.api.html import View, esc, page, table
from connector.api.run_html import POST_BUTTONS_SCRIPT, post_button
from connector.runs import RunRecord
from connector.task_log import csv_cell

DRIFTS = ("missing", "different", "unknown")  # the order a resource's records are shown and downloaded in
CSV_COLUMNS = ("resource", "key", "drift", "field", "old", "new")
REPAIR_PREVIEW = {"preview": True, "repair": True}  # the Repair button never sends: its preview is reviewed first


@dataclass(frozen=True)
class ReportPage:
    """One page of a report's drifted records (of one resource, or all), and the counts per resource."""

    summary: dict[str, dict[str, int]]
    lines: list[dict[str, Any]]
    offset: int
    limit: int
    total: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.lines)
        return end if end < self.total else None


def drifted(report: Iterable[Mapping[str, Any]], resource: str | None = None) -> list[dict[str, Any]]:
    """The report's drifted records (its summary line aside), grouped by resource then by drift, in report order."""
    lines = [dict(line) for line in report if "resource" in line and resource in {None, line["resource"]}]
    order = {name: index for index, name in enumerate(dict.fromkeys(line["resource"] for line in lines))}
    return sorted(lines, key=lambda line: (order[line["resource"]], DRIFTS.index(line["drift"])))


def summary_of(report: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    first = report[0] if report else {}
    return dict(first.get("summary") or {})


def report_page(report: Sequence[Mapping[str, Any]], resource: str | None, offset: int, limit: int) -> ReportPage:
    lines = drifted(report, resource)
    return ReportPage(summary_of(report), lines[offset : offset + limit], offset, limit, len(lines))


def to_csv(lines: Iterable[Mapping[str, Any]]) -> str:
    """One row per missing or unknown record, one per differing field; every cell inert in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        head = (line["resource"], line["key"], line["drift"])
        if line["drift"] == "different":
            for path, change in line["changes"].items():
                writer.writerow([csv_cell(cell) for cell in (*head, path, change["old"], change["new"])])
        else:
            writer.writerow([csv_cell(cell) for cell in (*head, None, None, line.get("new"))])
    return out.getvalue()


def _value(value: Any) -> str:
    """A compared value as text: strings as they are, anything else (numbers, lists, absent) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _summary(view: View, run_id: str, report: ReportPage, selected: str | None) -> str:
    rows = []
    for resource, counts in report.summary.items():
        label = esc(resource)
        if any(counts.get(drift) for drift in DRIFTS):
            label = f'<a href="{esc(view.links.url(f"/reconcile/{run_id}", resource=resource))}">{label}</a>'
        if resource == selected:
            label += f" ({esc(view.t('reconcile.shown'))})"
        cells = "".join(
            f'<td class="n" id="count-{esc(resource)}-{drift}">{int(counts.get(drift, 0))}</td>'
            for drift in (*DRIFTS, "equal")
        )
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    headers = [view.t("reconcile.resource"), *(view.t(f"reconcile.{drift}") for drift in (*DRIFTS, "equal"))]
    return table(headers, rows, table_id="drift-summary")


def _record_rows(view: View, line: Mapping[str, Any]) -> str:
    key, drift = esc(line["key"]), line["drift"]
    label = esc(view.t(f"reconcile.{drift}"))
    if drift == "different":
        changes = line["changes"]
        return "".join(
            f'<tr class="record {drift}"><td>{key if index == 0 else ""}</td><td>{label if index == 0 else ""}</td>'
            f"<td><code>{esc(path)}</code></td><td>{esc(_value(change['old']))}</td>"
            f"<td>{esc(_value(change['new']))}</td></tr>"
            for index, (path, change) in enumerate(changes.items())
        )
    new = esc(_value(line["new"])) if "new" in line else ""
    return f'<tr class="record {drift}"><td>{key}</td><td>{label}</td><td></td><td></td><td>{new}</td></tr>'


def _records(view: View, lines: Sequence[Mapping[str, Any]]) -> str:
    if not lines:
        return f'<p id="no-drift">{esc(view.t("reconcile.none"))}</p>'
    headers = [view.t(f"reconcile.{column}") for column in ("key", "drift", "field", "old", "new")]
    sections = []
    for resource in dict.fromkeys(line["resource"] for line in lines):
        rows = [_record_rows(view, line) for line in lines if line["resource"] == resource]
        sections.append(f"<h2>{esc(resource)}</h2>" + table(headers, rows, table_id=f"records-{resource}"))
    return "".join(sections)


def reconcile_page(view: View, record: RunRecord, report: ReportPage, resource: str | None) -> str:
    run_id = record.run_id
    path = f"/reconcile/{run_id}"
    scope = {"resource": resource} if resource else {}
    links = view.links
    first, last = report.offset + 1, report.offset + len(report.lines)
    shown = view.t("reconcile.range", first, last, report.total) if report.lines else ""
    parts = [_summary(view, run_id, report, resource)]
    csv_url = links.url(path, **scope, format="csv")
    parts.append(
        f'<p><a id="csv" href="{esc(csv_url)}">{esc(view.t("reconcile.csv"))}</a>'
        + (
            f' · <a id="every-resource" href="{esc(links.url(path))}">{esc(view.t("reconcile.all"))}</a>'
            if resource
            else ""
        )
        + "</p>"
    )
    repairable = sum(counts.get("missing", 0) + counts.get("different", 0) for counts in report.summary.values())
    if repairable:
        button = post_button(
            view, "repair", view.t("reconcile.repair"), links.url("/exports/reconcile"), REPAIR_PREVIEW
        )
        parts.append(
            f'<p>{button}<br><span class="help">{esc(view.t("reconcile.repair.help"))}</span></p>'
            '<p class="error" id="problem"></p>'
            f"<script>{POST_BUTTONS_SCRIPT}</script>"
        )
    parts.append(_records(view, report.lines))
    if shown:
        parts.append(f'<p id="range">{esc(shown)}</p>')
    if report.next_offset is not None:
        following = links.url(path, **scope, offset=str(report.next_offset), limit=str(report.limit))
        parts.append(f'<p><a id="next" href="{esc(following)}">{esc(view.t("reconcile.next"))}</a></p>')
    parts.append(
        f"<p>{links.link(view.t('reconcile.run'), f'/runs/{run_id}')} · {links.link(view.t('run.back'), '/')}</p>"
    )
    title = view.t("reconcile.title", run_id)
    return page(title, f"<h1>{esc(title)}</h1>{''.join(parts)}", language=view.language)
