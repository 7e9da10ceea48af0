"""The readiness report's page: the count per check, then one page of items grouped by check, with links to the
other checks, the next page and the CSV download. Every value is escaped: items quote Fastmag and LNB data."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from connector.api.pages import Links
from connector.flows.readiness_report import BY_NAME, CHECKS, Page

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}.blocking{color:#b00020}"
)


def _summary(run_id: str, checks: Mapping[str, int], selected: str | None, links: Links) -> str:
    rows = []
    for check in CHECKS:
        count = checks.get(check.name, 0)
        label = escape(check.title)
        if count:
            label = f'<a href="{escape(links.url(f"/readiness/{run_id}", check=check.name))}">{label}</a>'
        mark = ' class="blocking"' if check.blocking and count else ""
        current = " (shown)" if check.name == selected else ""
        rows.append(f'<tr><td>{label}{current}</td><td id="count-{check.name}"{mark}>{count}</td></tr>')
    return f"<table><tr><th>check</th><th>problems</th></tr>{''.join(rows)}</table>"


def _items(page: Page) -> str:
    sections: list[str] = []
    current = None
    for item in page.items:
        if item.check != current:
            if current is not None:
                sections.append("</table>")
            current = item.check
            sections.append(
                f"<h2>{escape(BY_NAME[item.check].title)}</h2>"
                "<table><tr><th>key</th><th>what is wrong</th><th>what to do</th></tr>"
            )
        sections.append(
            f'<tr class="item"><td>{escape(item.key)}</td><td>{escape(item.problem)}</td>'
            f"<td>{escape(item.action)}</td></tr>"
        )
    if current is not None:
        sections.append("</table>")
    return "".join(sections) or "<p>No problem found.</p>"


def readiness_page(run_id: str, checks: Mapping[str, int], page: Page, check: str | None, links: Links) -> str:
    path = f"/readiness/{run_id}"
    scope = {"check": check} if check else {}
    shown = f"{page.offset + 1}–{page.offset + len(page.items)} of {page.total}" if page.items else f"0 of {page.total}"
    navigation = [f"<p>Items {shown}.</p>"]
    if page.next_offset is not None:
        following = links.url(path, **scope, offset=str(page.next_offset), limit=str(page.limit))
        navigation.append(f'<p><a id="next" href="{escape(following)}">Next page</a></p>')
    csv_url = links.url(path, **scope, format="csv")
    body = (
        f"<h1>Readiness report {escape(run_id)}</h1>"
        + _summary(run_id, checks, check, links)
        + f'<p><a id="csv" href="{escape(csv_url)}">Download (CSV)</a>'
        + (f' · <a href="{escape(links.url(path))}">every check</a>' if check else "")
        + "</p>"
        + _items(page)
        + "".join(navigation)
        + f'<p><a href="{escape(links.url("/"))}">Back to the status page</a></p>'
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Readiness {escape(run_id)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
