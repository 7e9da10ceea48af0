"""Task log files: real flows on the sandbox write `runs/<run_id>.jsonl.gz`, read back through the layer and
the API (filtered, searched, paged, downloaded as JSON Lines and CSV), and a key's history found across runs.
Warnings (items sent with a caveat) are counted apart and leave the run `succeeded`."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from connector.ean import is_valid_ean13
from connector.runner import RunFailed
from connector.state import Snapshot, SnapshotStore
from connector.task_log import Outcome, TaskLogStore, parse_jsonl
from sandbox.stack import LocalStack
from tests.integration.test_api import call, event
from tests.integration.test_stock import expected_quantities, lnb_stock, push, set_stock
from tests.unit.test_task_log_spool import open_files_under


def task_logs(stack: LocalStack) -> TaskLogStore:
    return TaskLogStore(stack.s3, stack.names["STAGING_BUCKET"])


def stored_runs(stack: LocalStack) -> set[str]:
    listing = stack.s3.list_objects_v2(Bucket=stack.names["STAGING_BUCKET"], Prefix="runs/")
    return {item["Key"] for item in listing.get("Contents", [])}


def without_bad_stock_rows(stack: LocalStack) -> None:
    """Fastmag holds only stock rows the flow can send: no unknown variant, no invalid EAN13."""
    stack.fastmag.execute(
        "DELETE FROM stock WHERE NOT EXISTS (SELECT 1 FROM produits p WHERE p.barcode = stock.barcode "
        "AND p.couleur = stock.couleur AND p.taille = stock.taille)"
    )
    for barcode, colour, size, ean in stack.fastmag.execute("SELECT barcode, couleur, taille, gencod FROM produits"):
        if not is_valid_ean13(str(ean or "")):
            stack.fastmag.execute(
                "DELETE FROM stock WHERE barcode = ? AND couleur = ? AND taille = ?", (barcode, colour, size)
            )


def test_a_stock_run_writes_every_record_outcome_with_old_and_new(stack: LocalStack) -> None:
    rejected = list(expected_quantities(stack.seed))[:2]
    stack.lnb.reject_items("inventory/ean", rejected, {"ean13": ['unknown EAN13 =HYPERLINK("http://x")']})
    result = push(stack)
    run_id = result["run_id"]
    record = stack.run_record(run_id)
    assert record["task_log_key"] == f"runs/{run_id}.jsonl.gz"
    flow, entries = task_logs(stack).read_with_flow(run_id)
    assert flow == "stock"
    by_outcome: dict[str, list[Any]] = {}
    for entry in entries:
        by_outcome.setdefault(entry.outcome, []).append(entry)
    # One entry per record outcome the run counted, each under its key.
    assert len(by_outcome[Outcome.SENT]) == result["counters"]["accepted"]
    assert sorted(e.key for e in by_outcome[Outcome.REJECTED]) == sorted(rejected)
    assert len(by_outcome[Outcome.SKIPPED]) == result["counters"]["skipped"]
    sent = by_outcome[Outcome.SENT][0]
    assert (sent.old, sent.new) == (None, lnb_stock(stack)[sent.key])
    assert all(e.reason for e in by_outcome[Outcome.REJECTED] + by_outcome[Outcome.SKIPPED])

    # The second tick changes one quantity: its entry says old → new.
    ean = next(key for key in lnb_stock(stack) if key not in rejected)
    before = lnb_stock(stack)[ean]
    set_stock(stack, ean, before + 7)
    again = push(stack)
    changed = [e for e in task_logs(stack).read(again["run_id"]) if e.key == ean]
    assert [(e.outcome, e.old, e.new) for e in changed] == [(Outcome.SENT, before, before + 7)]


def test_an_idle_tick_writes_no_task_log_and_warnings_leave_a_run_succeeded(stack: LocalStack) -> None:
    without_bad_stock_rows(stack)
    first = push(stack)
    assert first["status"] == "succeeded"
    files = stored_runs(stack)
    idle = push(stack)
    assert idle["counters"]["sent"] == 0
    assert stored_runs(stack) == files  # nothing to tell: no file
    assert "task_log_key" not in stack.run_record(idle["run_id"])

    ean = next(iter(lnb_stock(stack)))
    set_stock(stack, ean, -3)
    warned = push(stack)
    assert warned["status"] == "succeeded"  # the item was sent (as 0): a warning, not an error
    assert warned["counters"]["warnings"] == 1
    record = stack.run_record(warned["run_id"])
    assert record["warnings"] == {"negative stock in Fastmag: pushed as 0": 1}
    assert record.get("errors", {}) == {}
    entries = task_logs(stack).read(warned["run_id"])
    assert [(e.outcome, e.event) for e in entries if e.key == ean] == [
        (Outcome.WARNED, "stock.zeroed"),
        (Outcome.SENT, "record.sent"),
    ]


def get(stack: LocalStack, path: str, query: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    return call(stack, event(stack, "api_run", path=path, params=None, query=query or {}))


def test_the_api_pages_filters_and_downloads_a_runs_task_log(api: LocalStack) -> None:
    hostile = list(expected_quantities(api.seed))[:3]
    api.lnb.reject_items("inventory/ean", hostile, {"ean13": ['=HYPERLINK("http://x","click")']})
    run_id = push(api)["run_id"]
    status, page, _ = get(api, f"/runs/{run_id}/items", {"outcome": "rejected", "limit": "2"})
    assert status == 200, page
    assert (page["total"], len(page["items"])) == (3, 2)
    status, rest, _ = get(api, f"/runs/{run_id}/items", {"outcome": "rejected", "limit": "2", "offset": "2"})
    assert sorted(item["key"] for item in page["items"] + rest["items"]) == sorted(hostile)
    status, found, _ = get(api, f"/runs/{run_id}/items", {"q": hostile[1][-6:]})
    assert {item["key"] for item in found["items"]} == {hostile[1]}
    status, _, _ = get(api, f"/runs/{run_id}/items", {"outcome": "exploded"})
    assert status == 422

    status, text, headers = get(api, f"/runs/{run_id}/log.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"] == f'attachment; filename="run-{run_id}.csv"'
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(task_logs(api).read(run_id))
    refused = [row for row in rows if row["outcome"] == "rejected"]
    assert len(refused) == 3 and all("=HYPERLINK" in row["reason"] for row in refused)
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]

    status, lines, headers = get(api, f"/runs/{run_id}/log.jsonl")
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    assert list(parse_jsonl(lines)) == task_logs(api).read(run_id)

    status, _, _ = get(api, "/runs/no-such-run/items")
    assert status == 404


def test_a_keys_history_is_found_across_runs_on_the_sandbox(api: LocalStack) -> None:
    ean = next(iter(expected_quantities(api.seed)))
    first = push(api)
    set_stock(api, ean, lnb_stock(api)[ean] + 2)
    second = push(api)
    status, answer, _ = get(api, f"/keys/{ean}/history")
    assert status == 200, answer
    assert answer["status"] == "complete"
    events = [(e["run_id"], e["flow"], e["event"]) for e in answer["events"]]
    assert events == [(second["run_id"], "stock", "record.sent"), (first["run_id"], "stock", "record.sent")]
    newest = answer["events"][0]
    assert newest["new"] == newest["old"] + 2
    status, answer, _ = get(api, "/keys/0000000000000/history")
    assert (status, answer["events"]) == (200, [])
    status, refused, _ = get(api, f"/keys/{'x' * 300}/history")
    assert status == 422
    assert json.dumps(refused).count("x" * 100) == 0  # the refusal does not echo the whole input


def test_a_product_named_as_a_formula_is_inert_in_the_downloaded_csv(api: LocalStack) -> None:
    from tests.integration.test_products import catalogue, export

    reference = next(iter(catalogue(api.seed)))
    api.fastmag.execute(
        "UPDATE produitsfiches SET designation = ? WHERE barcode = ?", ('=HYPERLINK("http://x","Robe")', reference)
    )
    run_id = export(api, "products")["run_id"]
    status, page, _ = get(api, f"/runs/{run_id}/items", {"q": reference, "outcome": "sent"})
    assert status == 200
    (item,) = [item for item in page["items"] if item["key"] == reference]
    assert item["what"] == '=HYPERLINK("http://x","Robe")'  # the data as it is, in JSON
    status, text, _ = get(api, f"/runs/{run_id}/log.csv")
    (row,) = [row for row in csv.DictReader(io.StringIO(text)) if row["key"] == reference and row["outcome"] == "sent"]
    assert row["what"] == '\'=HYPERLINK("http://x","Robe")'  # and inert in a spreadsheet


def test_skus_sent_without_a_valid_ean13_are_warnings_and_the_products_run_succeeds(stack: LocalStack) -> None:
    from tests.integration.test_products import export

    # Only the seed's SKUs with a bad EAN13 are left to report: they are sent (without EAN13), with a caveat.
    stack.fastmag.execute("DELETE FROM produits WHERE couleur IS NULL OR TRIM(couleur) = ''")
    result = export(stack, "products")
    assert result["status"] == "succeeded", result.get("errors")
    record = stack.run_record(result["run_id"])
    assert result["counters"]["warnings"] == sum(record["warnings"].values()) > 0
    assert any(reason.startswith("SKU sent without a valid EAN13") for reason in record["warnings"])
    assert record.get("errors", {}) == {}
    warned = [e for e in task_logs(stack).read(result["run_id"]) if e.outcome == Outcome.WARNED]
    assert len(warned) == result["counters"]["warnings"]
    assert all(e.event in {"record.incomplete", "product.sizing_merged"} and e.reason for e in warned)


def test_a_failed_run_stores_what_it_logged_and_leaves_no_spool_file(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The entries are spooled to a temporary file while the run goes; a run that fails after sending still
    stores them, and its file is gone however the run ended."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    open_while_running: list[list[str]] = []

    def failing_save(self: SnapshotStore, snapshot: Snapshot) -> None:
        open_while_running.append(open_files_under(tmp_path))
        raise RuntimeError("snapshot bucket unavailable")

    monkeypatch.setattr(SnapshotStore, "save", failing_save)
    with pytest.raises(RunFailed):
        push(stack, run_id="stock-failing")
    assert len(open_while_running[0]) == 1  # the spool, while the run went
    assert open_files_under(tmp_path) == []
    record = stack.run_record("stock-failing")
    assert record["status"] == "failed"
    entries = task_logs(stack).read("stock-failing")
    sent = [entry for entry in entries if entry.outcome == Outcome.SENT]
    assert len(sent) == record["counters"]["accepted"] == len(expected_quantities(stack.seed))
