"""The reconcile report page renders LNB's and Fastmag's data as text: keys, field paths, old and new values and
resource names cannot open a tag, an attribute or a script; the CSV download keeps them inert."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from connector.api.html import Links, View
from connector.api.reconcile_page import drifted, reconcile_page, report_page, to_csv
from connector.runs import RunRecord, RunStatus

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'


def _report() -> list[dict[str, Any]]:
    return [
        {"summary": {ATTRIBUTE: {"missing": 1, "different": 1, "unknown": 1, "equal": 0}}},
        {"resource": ATTRIBUTE, "key": SCRIPT, "drift": "missing", "new": {"name": SCRIPT}},
        {
            "resource": ATTRIBUTE,
            "key": ATTRIBUTE,
            "drift": "different",
            "changes": {f"buyers[{SCRIPT}]": {"old": ATTRIBUTE, "new": SCRIPT}, "price": {"old": "1.0", "new": 2}},
        },
        {"resource": ATTRIBUTE, "key": "=cmd|' /C calc'!A0", "drift": "unknown"},
    ]


def _render(report: list[dict[str, Any]], resource: str | None = None) -> str:
    record = RunRecord(run_id="reconcile-1", flow="reconcile", trigger="button", status=RunStatus.SUCCEEDED)
    view = View(links=Links(prefix="/dev", csrf=ATTRIBUTE))
    return reconcile_page(view, record, report_page(report, resource, 0, 200), resource)


def test_every_value_is_escaped_in_text_and_attributes() -> None:
    page = _render(_report())
    assert SCRIPT not in page
    assert "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # The only scripts are the page's constant button script.
    assert len(re.findall(r"<script>", page)) == 1
    assert re.search(r'data-csrf="&quot;&gt;&lt;img', page)


def test_a_different_record_shows_one_row_per_field_old_then_new() -> None:
    page = _render(_report())
    rows = re.findall(r'<tr class="record different">(.*?)</tr>', page)
    assert len(rows) == 2
    assert rows[1].endswith("<td><code>price</code></td><td>1.0</td><td>2</td>")


def test_without_drift_to_repair_there_is_no_repair_button() -> None:
    only_unknown = [_report()[0] | {"summary": {"stock": {"unknown": 1}}}, {**_report()[3], "resource": "stock"}]
    page = _render(only_unknown)
    assert 'id="repair"' not in page and "<script>" not in page
    assert 'id="repair"' in _render(_report())


def test_the_csv_cells_are_inert_and_one_row_per_changed_field() -> None:
    header, *rows = list(csv.reader(io.StringIO(to_csv(drifted(_report())))))
    assert header == ["resource", "key", "drift", "field", "old", "new"]
    assert [row[2] for row in rows] == ["missing", "different", "different", "unknown"]
    assert rows[3][1] == "'=cmd|' /C calc'!A0"
    assert rows[0][5] == '{"name": "<script>alert(1)</script>"}'


def test_records_are_grouped_by_resource_and_drift_whatever_the_stored_order() -> None:
    lines = [
        {"resource": "stock", "key": "a", "drift": "unknown"},
        {"resource": "products", "key": "b", "drift": "missing"},
        {"resource": "stock", "key": "c", "drift": "missing"},
    ]
    assert [(line["resource"], line["key"]) for line in drifted(lines)] == [
        ("stock", "c"),
        ("stock", "a"),
        ("products", "b"),
    ]
    assert [line["key"] for line in drifted(lines, "stock")] == ["c", "a"]
