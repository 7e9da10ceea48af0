"""The console's HTML through the real ApiFunction handler: a preview's page offers to send exactly it only while
it would send something and can be applied, an orders run lists the orders it moved with links to their HTML
ledger pages, a flow's run history filters by status across pages, a products preview is reviewed old → new
(filtered by change, searched by key, paged) and a partial run lists its skipped and warned records."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from connector.ledger import LedgerStatus, OrderLedger
from connector.runs import RunRecord, RunStatus, RunStore
from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack
from tests.integration.test_api import TOKEN, call, event, start
from tests.integration.test_products import export

HTML = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-GB,en;q=0.9"}


def html(stack: LocalStack, name: str, path: str, params: dict[str, str] | None = None, **query: str) -> str:
    """A page as the events' caller (Authorization: Bearer) reads it: no link on it carries a credential."""
    document = event(stack, name, path=path, params=params, headers=HTML, query=query)
    status, body, headers = call(stack, document)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in headers
    assert TOKEN not in body
    return str(body)


def run_page(stack: LocalStack, run_id: str) -> str:
    return html(stack, "api_run", f"/runs/{run_id}", {"run_id": run_id})


def test_a_preview_offers_to_send_exactly_it_with_its_count_until_the_data_moves(api: LocalStack) -> None:
    preview_id = start(api, preview=True)
    LocalInvoker.wait()
    lines = api.preview_lines(preview_id)[1:]
    would_send = sum(line.get("change") in {"new", "changed"} for line in lines)
    assert would_send > 0
    page = run_page(api, preview_id)
    assert f">Send exactly this preview ({would_send} records)</button>" in page
    assert f"would send {would_send} records ({would_send} new, 0 changed)" in page
    assert 'id="preview-link" href="http' in page and 'id="new-preview"' not in page

    start(api)  # a run that sends: the preview's base has moved
    LocalInvoker.wait()
    page = run_page(api, preview_id)
    assert 'id="apply"' not in page
    assert re.search(r'<p id="refusal">the data changed since preview [^<]+: run a new preview</p>', page)
    assert 'id="new-preview"' in page

    nothing = start(api, preview=True)  # nothing changed since that run
    LocalInvoker.wait()
    page = run_page(api, nothing)
    assert "This preview would send nothing." in page and 'id="apply"' not in page


def test_an_orders_run_lists_the_orders_it_moved_and_each_has_an_html_ledger_page(api: LocalStack) -> None:
    ran: dict[str, Any] = api.invoke(
        "import_orders", api.event("schedule_orders", execution_id=None, scheduled_time=None)
    )
    exported = {entry.reference: entry for entry in OrderLedger(api.table).with_status(LedgerStatus.EXPORTED)}
    assert exported

    page = run_page(api, ran["run_id"])
    linked = re.findall(r'<a class="order" href="/dev/orders/([^?"]+)">', page)
    assert sorted(linked) == sorted(exported)
    # A later run that moves nothing lists nothing: the orders are the first run's.
    idle = api.invoke("import_orders", api.event("schedule_orders", execution_id=None, scheduled_time=None))
    assert 'class="order"' not in run_page(api, idle["run_id"])

    reference = sorted(exported)[0]
    ledger = html(api, "api_order", f"/orders/{reference}", {"reference": reference})
    assert f'<dd id="fastmag-number">{exported[reference].fastmag_number}</dd>' in ledger
    assert f'<a href="/dev/runs/{ran["run_id"]}">' in ledger
    assert 'id="resolve"' not in ledger


def _put_runs(stack: LocalStack, statuses: list[RunStatus]) -> list[str]:
    store = RunStore(stack.table)
    run_ids = []
    for index, status in enumerate(statuses):
        run_id = f"stock-2026113{index // 10}T0{index % 10}0000Z"
        stamp = f"2026-11-3{index // 10}T0{index % 10}:00:00.000+00:00"
        store.put(
            RunRecord(
                run_id=run_id,
                flow="stock",
                trigger="schedule",
                status=status,
                queued_at=stamp,
                started_at=stamp,
                finished_at=stamp,
            )
        )
        run_ids.append(run_id)
    return run_ids


def test_the_run_history_filters_by_status_across_pages(api: LocalStack) -> None:
    statuses = [RunStatus.FAILED, *[RunStatus.SUCCEEDED] * 4, RunStatus.FAILED, *[RunStatus.SUCCEEDED] * 3]
    run_ids = _put_runs(api, statuses)
    failed = [run_id for run_id, status in zip(run_ids, statuses, strict=True) if status == RunStatus.FAILED]

    status, body, _ = call(api, event(api, "api_runs", query={"flow": "stock", "limit": "2", "status": "failed"}))
    assert status == 200, body
    assert [run["run_id"] for run in body["runs"]] == failed[::-1]  # newest first, found across pages

    page = html(api, "api_runs", "/runs", None, flow="stock", limit="2")
    assert page.count('<tr id="run-') == 2 and 'id="older"' in page
    older = re.search(r'id="older" href="/dev/runs\?([^"]+)"', page)
    assert older is not None and "cursor=" in older[1]
    filtered = html(api, "api_runs", "/runs", None, flow="stock", status="failed", limit="2")
    assert re.findall(r'<tr id="run-([^"]+)">', filtered) == failed[::-1]
    assert '<option value="failed" selected>failed</option>' in filtered


def test_an_expired_preview_still_has_a_page_that_offers_a_new_preview(api: LocalStack) -> None:
    preview_id = start(api, preview=True)
    LocalInvoker.wait()
    api.s3.delete_object(Bucket="connector-staging", Key=f"previews/{preview_id}.jsonl.gz")
    page = run_page(api, preview_id)
    assert f"preview {preview_id} is no longer stored (stored previews expire): run a new preview" in page
    assert 'id="apply"' not in page and 'id="new-preview"' in page and 'id="preview-link"' not in page


def rename_products(stack: LocalStack, count: int) -> list[str]:
    """Fastmag renames `count` models (quotes and markup in the new names): their LNB products change."""
    models = [
        row[0]
        for row in stack.fastmag.execute(
            f"SELECT barcode FROM produitsfiches WHERE actif = 1 ORDER BY barcode LIMIT {count}"
        )
    ]
    for model in models:
        stack.fastmag.execute(
            "UPDATE produitsfiches SET designation = designation || ' <b>\"v2\"</b>' WHERE barcode = ?", (model,)
        )
    return models


def test_a_products_preview_is_reviewed_old_to_new_filtered_and_paged(api: LocalStack) -> None:
    export(api, "products")
    renamed = rename_products(api, 60)
    preview = export(api, "products", preview=True)
    preview_id, skipped = preview["run_id"], preview["counters"]["skipped"]

    page = run_page(api, preview_id)
    counts = re.search(r'<tr id="resource-products">.*?class="n new">(\d+)<.*?class="n changed">(\d+)<', page)
    assert counts is not None and (int(counts[1]), int(counts[2])) == (0, len(renamed))
    assert "(0 new, 60 changed)" in page and ">Send exactly this preview (60 records)</button>" in page
    assert page.count('<tr class="item">') == 50 and f"1–50 of {len(renamed) + skipped}" in page
    assert "&lt;b&gt;&quot;v2&quot;&lt;/b&gt;" in page and '<b>"v2"</b>' not in page  # new names, escaped

    changed = html(api, "api_run", f"/runs/{preview_id}", {"run_id": preview_id}, change="changed", offset="50")
    assert changed.count('<tr class="item">') == 10 and "51–60 of 60" in changed
    assert 'id="preview-previous" href="/dev/runs/' in changed and 'id="preview-next"' not in changed
    one = html(api, "api_run", f"/runs/{preview_id}", {"run_id": preview_id}, change="changed", q=renamed[0].lower())
    assert one.count('<tr class="item">') == 1 and f"<td>{renamed[0]}</td>" in one
    name = next(
        row[0] for row in api.fastmag.execute("SELECT designation FROM produitsfiches WHERE barcode = ?", (renamed[0],))
    )
    old = name.removesuffix(' <b>"v2"</b>')
    assert f"<code>name</code>: {old} → {escape(name)}</td>" in one  # old → new per changed field

    status, body, _ = call(
        api,
        event(
            api,
            "api_run",
            path=f"/runs/{preview_id}",
            params={"run_id": preview_id},
            headers=HTML,
            query={"change": "exploded"},
        ),
    )
    assert status == 422, body


def test_a_partial_run_lists_its_skipped_and_warned_records_and_offers_its_task_log(api: LocalStack) -> None:
    ran = export(api, "products")
    assert ran["status"] == "partial" and ran["counters"]["skipped"] > 0
    page = run_page(api, ran["run_id"])
    shown = re.findall(r'<tr class="record"><td>([^<]*)</td><td class="([a-z]+)">', page)
    assert {outcome for _, outcome in shown} == {"skipped", "warned"}
    assert len(shown) == ran["counters"]["skipped"] + ran["counters"]["warnings"]
    assert f'href="/dev/runs/{ran["run_id"]}/log.csv"' in page and f'href="/dev/runs/{ran["run_id"]}/log.jsonl"' in page
    assert 'id="warnings"' in page and 'id="legend-products"' in page

    key = next(key for key, outcome in shown if outcome == "skipped")
    skipped = html(api, "api_run", f"/runs/{ran['run_id']}", {"run_id": ran["run_id"]}, outcome="skipped", q=key)
    assert re.findall(r'<tr class="record"><td>([^<]*)</td>', skipped) == [key]
    sent = html(api, "api_run", f"/runs/{ran['run_id']}", {"run_id": ran["run_id"]}, outcome="sent")
    assert sent.count('<tr class="record">') == 50 and 'id="records-next"' in sent
