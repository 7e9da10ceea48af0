"""One key's page: what the connector finds wrong, what each side holds (sections), the differences field by
field, and its recent events, which a constant script fetches from `/keys/{key}/history` (polling while a Logs
Insights query runs), so the page never waits for the query. Every value is escaped: it quotes Fastmag and LNB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connector.api.html import View, esc, page, table

# Fills #events from the history route named in its `data-url`, polling while the search runs. Values go in with
# textContent only. Constant text: the CSP allows it by hash (pages.SCRIPTS).
KEY_EVENTS_SCRIPT = """
const keyEvents = document.getElementById("events");
const eventsState = keyEvents.querySelector(".state");
async function pollHistory(queryId) {
  const url = new URL(keyEvents.dataset.url, window.location.href);
  if (queryId) { url.searchParams.set("query_id", queryId); }
  const answer = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
  const data = await answer.json();
  if (answer.ok && data.status === "running") { setTimeout(() => pollHistory(data.query_id), 1000); return; }
  if (!answer.ok || data.status !== "complete") { eventsState.textContent = data.message || answer.statusText; return; }
  const rows = keyEvents.querySelector("tbody");
  for (const item of data.events) {
    const row = rows.insertRow();
    row.className = "event";
    for (const value of [item.at, item.flow, item.event, item.outcome, item.reason, item.old, item.new]) {
      row.insertCell().textContent = value === null || value === undefined ? "" : String(value);
    }
  }
  eventsState.textContent = data.events.length ? "" : keyEvents.dataset.none;
}
pollHistory(null);
"""


# The facts nest (a store's real and pending stock inside the stock section): side-by-side columns and the
# definitions' default indent, at every level, would push a phone's page sideways, so each name sits above its value.
KEY_STYLE = "<style>#facts dl{display:block;margin:.25rem 0}#facts dd{margin:0 0 .25rem .75rem;min-width:0}</style>"


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return _facts(value)
    if isinstance(value, list) and all(not isinstance(item, Mapping | list) for item in value):
        return esc(", ".join(str(item) for item in value)) or "—"
    if isinstance(value, list):
        return f"<code>{esc(json.dumps(value, ensure_ascii=False, default=str))}</code>"
    return esc("—" if value is None else value)


def _facts(facts: Mapping[str, Any]) -> str:
    rows = "".join(f"<dt>{esc(name)}</dt><dd>{_value(value)}</dd>" for name, value in facts.items())
    return f"<dl>{rows}</dl>"


def _cell(value: Any) -> str:
    shown = "—" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"<td>{esc(shown)}</td>"


def key_page(explanation: Mapping[str, Any], view: View) -> str:
    """The page of an explanation, as `connector.explain.Explanation` dumps it to JSON (the JSON answer)."""
    key, kind = str(explanation["key"]), str(explanation["kind"])
    findings = "".join(f'<li class="finding">{esc(finding)}</li>' for finding in explanation["findings"])
    sections = "".join(
        f'<section id="section-{esc(name.replace(" ", "-"))}"><h2>{esc(name)}</h2>{_value(facts)}</section>'
        for name, facts in explanation["sections"].items()
    )
    differences = ""
    if explanation["differences"]:
        rows = [
            f'<tr class="difference"><td>{esc(d["field"])}</td>{_cell(d["connector"])}{_cell(d["lnb"])}</tr>'
            for d in explanation["differences"]
        ]
        headers = [view.t("key.field"), view.t("key.connector"), view.t("key.lnb")]
        differences = f"<h2>{esc(view.t('key.differences'))}</h2>{table(headers, rows, table_id='differences')}"
    history_url = view.links.url(f"/keys/{quote(key, safe='')}/history")
    event_headers = [view.t(f"key.event.{name}") for name in ("at", "flow", "event", "outcome", "reason", "old", "new")]
    events = (
        f'<section id="events" data-url="{esc(history_url)}" data-none="{esc(view.t("key.events.none"))}">'
        f'<h2>{esc(view.t("key.events"))}</h2><p class="state help">{esc(view.t("key.events.loading"))}</p>'
        f"{table(event_headers, [], table_id='event-rows')}</section>"
        f"<script>{KEY_EVENTS_SCRIPT}</script>"
    )
    title = view.t("key.title", key)
    body = (
        f'<h1>{esc(title)}</h1><p id="kind" data-kind="{esc(kind)}">{esc(view.t("key.kind", kind))}</p>'
        f'{KEY_STYLE}<ul id="findings">{findings}</ul>{differences}<div id="facts">{sections}</div>{events}'
        f"<p>{view.links.link(view.t('run.back'), '/')}</p>"
    )
    return page(title, body, language=view.language)
