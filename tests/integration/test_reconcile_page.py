"""The reconcile report page through ApiFunction's real handler, on reports of reconcile runs against the
normalising LNB simulator: grouped by resource, old → new, paged, inert CSV cells, and a Repair button whose
preview, once applied, sends exactly the drift."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

import pytest

from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack
from tests.integration.conftest import local_invocations
from tests.integration.test_api import call, event, run_of
from tests.integration.test_reconcile import exported, hand_edit, reconcile

__all__ = ["exported"]  # the fixture, shared with test_reconcile

HOSTILE = ("=HYPERLINK(1)", "<script>alert(1)</script>")


def _retailer(reference: str) -> dict[str, Any]:
    return {
        "reference": reference,
        "name": "LNB only",
        "price_list_code": "WHOLESALE-EUR",
        "store_address": {"reference": "S", "company": "Shop", "country": "FR"},
    }


@pytest.fixture
def drifted_run(exported: LocalStack) -> tuple[LocalStack, str, dict[tuple[str, str], str]]:
    """A reconcile run that found every kind of drift: the four hand edits (different), a stock row deleted in
    LNB (missing) and retailers LNB alone holds, with references a spreadsheet or a browser would run (unknown)."""
    edits = hand_edit(exported)
    deleted = sorted(exported.lnb.inventory_ean)[-1]
    del exported.lnb.inventory_ean[deleted]
    exported.lnb.seed("retailers", [_retailer(reference) for reference in HOSTILE])
    record, _ = reconcile(exported)
    assert record["report_key"] == f"previews/{record['run_id']}.reconcile.jsonl.gz"
    drift = {**edits, ("stock", deleted): "missing", **{("retailers", ref): "unknown" for ref in HOSTILE}}
    return exported, record["run_id"], drift


def _get(stack: LocalStack, run_id: str, **query: str) -> tuple[int, Any, dict[str, str]]:
    path = f"/reconcile/{run_id}"
    return call(stack, event(stack, "api_run", path=path, params={"run_id": run_id}, query=query))


def _page(stack: LocalStack, run_id: str, **query: str) -> str:
    path = f"/reconcile/{run_id}"
    status, body, headers = call(
        stack,
        event(stack, "api_run", path=path, params={"run_id": run_id}, query=query, headers={"Accept": "text/html"}),
    )
    assert status == 200 and headers["Content-Type"].startswith("text/html"), body
    return str(body)


def test_the_report_groups_records_by_resource_with_old_and_new_and_pages(
    drifted_run: tuple[LocalStack, str, dict[tuple[str, str], str]],
) -> None:
    stack, run_id, drift = drifted_run
    status, body, _ = _get(stack, run_id)
    assert status == 200, body
    assert body["total"] == len(drift) == 7 and body["next_offset"] is None
    resources = [item["resource"] for item in body["items"]]
    assert resources == sorted(resources, key=resources.index)  # each resource's records together
    summary = body["summary"]
    assert (summary["stock"]["missing"], summary["stock"]["different"], summary["stock"]["unknown"]) == (1, 1, 0)
    assert (summary["retailers"]["different"], summary["retailers"]["unknown"]) == (1, 2)
    found = {(item["resource"], item["key"]): item for item in body["items"]}
    for where, path in drift.items():
        item = found[where]
        if path in {"missing", "unknown"}:
            assert item["drift"] == path
        else:
            assert item["drift"] == "different" and list(item["changes"]) == [path]
    stock_edit = next(where for where, path in drift.items() if path == "in_stock")
    change = found[stock_edit]["changes"]["in_stock"]
    assert change["old"] == change["new"] + 5

    # Paging: one resource, one record a page, until the last.
    seen, offset = [], 0
    while offset is not None:
        status, body, _ = _get(stack, run_id, resource="retailers", offset=str(offset), limit="1")
        assert status == 200 and len(body["items"]) == 1
        seen.append(body["items"][0]["key"])
        offset = body["next_offset"]
    assert sorted(seen) == sorted(key for resource, key in drift if resource == "retailers")

    page = _page(stack, run_id, resource="stock", limit="1")
    assert 'id="next"' in page and "resource=stock" in html.unescape(re.findall(r'id="next" href="([^"]+)"', page)[0])
    page = _page(stack, run_id)
    assert page.index('id="records-stock"') < page.index('id="records-products"') < page.index('id="records-retailers"')
    stock_row = re.search(rf"<tr class=\"record different\"><td>{stock_edit[1]}</td>.*?</tr>", page)
    assert stock_row is not None
    assert f"<td>{change['old']}</td><td>{change['new']}</td>" in stock_row.group(0)
    assert 'id="count-stock-missing">1<' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    assert _get(stack, "reconcile-nope")[0] == 404
    assert _get(stack, run_id, resource="nothing")[0] == 400


def test_the_csv_download_has_one_row_per_changed_field_and_inert_cells(
    drifted_run: tuple[LocalStack, str, dict[tuple[str, str], str]],
) -> None:
    stack, run_id, drift = drifted_run
    status, text, headers = _get(stack, run_id, format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert f'filename="reconcile-{run_id}.csv"' in headers["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["resource", "key", "drift", "field", "old", "new"]
    assert len(rows) == len(drift)  # each hand edit changed one field
    unknown = {row[1] for row in rows if row[2] == "unknown"}
    assert unknown == {"'=HYPERLINK(1)", "<script>alert(1)</script>"}
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    missing = next(row for row in rows if row[2] == "missing")
    assert json.loads(missing[5])  # what Fastmag would send, as JSON

    status, text, _ = _get(stack, run_id, format="csv", resource="prices")
    assert [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]] == ["prices"]


def test_repair_starts_a_repair_preview_whose_apply_sends_exactly_the_drift(
    drifted_run: tuple[LocalStack, str, dict[tuple[str, str], str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, run_id, drift = drifted_run
    repairable = {key for (_, key), path in drift.items() if path != "unknown"}
    page = _page(stack, run_id)
    (button,) = re.findall(r'<button type="button" id="repair"[^>]*>', page)
    target = html.unescape(re.findall(r'data-target="([^"]+)"', button)[0])
    body = json.loads(html.unescape(re.findall(r'data-body="([^"]+)"', button)[0]))
    assert body == {"preview": True, "repair": True}
    assert target == "/dev/exports/reconcile"
    stack.lnb.clear_requests()

    with local_invocations(monkeypatch):
        path = target.removeprefix("/dev")
        status, started, _ = call(
            stack, event(stack, "api_export_start", path=path, params={"flow": "reconcile"}, body=body)
        )
        assert status == 202, started
        LocalInvoker.wait()
        preview = run_of(stack, started["run_id"])
        assert preview["status"] == "succeeded" and preview["preview"] and preview["repair"], preview
        assert stack.lnb.items_sent() == 0  # the button previews only
        run_page = _page_of_run(stack, preview["run_id"])
        assert 'id="apply"' in run_page and "Send exactly this preview (5 records)" in run_page

        status, applied, _ = call(
            stack,
            event(
                stack, "api_run_apply", path=f"/runs/{preview['run_id']}/apply", params={"run_id": preview["run_id"]}
            ),
        )
        assert status == 202, applied
        LocalInvoker.wait()
    assert run_of(stack, applied["run_id"])["status"] == "succeeded"
    assert stack.lnb.items_sent() == len(repairable) == 5
    assert all(reference in stack.lnb.retailers for reference in HOSTILE)  # unknown records are kept

    record, report = reconcile(stack)
    assert record["counters"]["drift"] == 2, report  # the two retailers LNB alone holds


def _page_of_run(stack: LocalStack, run_id: str) -> str:
    status, body, _ = call(
        stack,
        event(stack, "api_run", path=f"/runs/{run_id}", params={"run_id": run_id}, headers={"Accept": "text/html"}),
    )
    assert status == 200
    return str(body)
