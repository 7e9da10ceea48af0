"""The operator's pages: links keep the caller's token and base path, every value is escaped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.api.pages import Links, confirm_page, run_page, status_page
from connector.runs import Counters, RunRecord, RunStatus


def record(status: RunStatus = RunStatus.SUCCEEDED, **fields: object) -> RunRecord:
    return RunRecord.model_validate(
        {"run_id": "stock-1", "flow": "stock", "trigger": "button", "status": status, **fields}
    )


def test_links_carry_the_base_path_and_the_token() -> None:
    assert Links("/dev", "t o&k").url("/runs", flow="stock") == "/dev/runs?flow=stock&token=t+o%26k"
    assert Links().url("/") == "/"


def test_status_page_has_a_button_per_flow_and_the_runs() -> None:
    page = status_page(
        {"stock": [record(counters=Counters(read=9, accepted=7), errors={"bad EAN": 2})], "orders": []},
        Links("/dev", "tok"),
    )
    assert 'id="export-stock" href="/dev/exports/stock?token=tok"' in page
    assert 'id="export-orders"' in page
    assert "<td>9</td>" in page
    assert "2 × bad EAN" in page
    assert "No run yet." in page


def test_confirm_page_posts_to_the_flow_with_the_token() -> None:
    page = confirm_page("stock", Links("", "tok"))
    assert '"/exports/stock?token=tok"' in page
    assert 'id="preview"' in page


def test_run_page_refreshes_until_the_run_ends() -> None:
    assert 'http-equiv="refresh"' in run_page(record(RunStatus.RUNNING), None, Links())
    assert 'http-equiv="refresh"' not in run_page(record(RunStatus.PARTIAL), None, Links())


def test_apply_button_only_for_a_finished_preview_with_a_base() -> None:
    preview = record(preview=True, preview_key="previews/stock-1.jsonl.gz", preview_base="etag")
    assert 'id="apply"' in run_page(preview, "https://s3/x", Links())
    assert 'id="apply"' not in run_page(preview.model_copy(update={"preview_base": None}), None, Links())
    assert 'id="apply"' not in run_page(record(), None, Links())
    assert 'id="preview-link" href="https://s3/x"' in run_page(preview, "https://s3/x", Links())


@given(st.text(min_size=1))
def test_hostile_text_is_escaped(reason: str) -> None:
    hostile = f"<script>{reason}</script>"
    page = run_page(record(RunStatus.FAILED, message=hostile, errors={hostile: 1}), None, Links())
    status = status_page({"stock": [record(RunStatus.FAILED, message=hostile)]}, Links())
    assert "<script>" + reason not in page.replace("<script>document", "")
    assert hostile not in status
