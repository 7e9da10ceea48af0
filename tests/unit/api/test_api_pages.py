"""The operator's pages: links keep the base path and never carry a credential, POSTs carry the page's CSRF
token, every value is escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from connector.api.pages import Links, confirm_page, run_page, status_page, when
from connector.check_report import CheckLine, CheckReport, CheckState
from connector.runs import Counters, RunRecord, RunStatus
from connector.schedules import NextRun, ScheduleRef, ScheduleStatus


def record(status: RunStatus = RunStatus.SUCCEEDED, **fields: object) -> RunRecord:
    return RunRecord.model_validate(
        {"run_id": "stock-1", "flow": "stock", "trigger": "button", "status": status, **fields}
    )


def test_links_carry_the_base_path_and_never_the_csrf_token() -> None:
    assert Links("/dev", "t o&k").url("/runs", flow="a&b") == "/dev/runs?flow=a%26b"
    assert Links().url("/") == "/"


def test_status_page_has_a_button_per_flow_and_the_runs() -> None:
    page = status_page(
        {"stock": [record(counters=Counters(read=9, accepted=7), errors={"bad EAN": 2})], "orders": []},
        Links("/dev", "tok"),
    )
    assert 'id="export-stock" href="/dev/exports/stock"' in page
    assert "tok" not in page
    assert 'id="export-orders"' in page
    assert "<td>9</td>" in page
    assert "2 × bad EAN" in page
    assert "No run yet." in page


def test_confirm_page_posts_to_the_flow_with_its_csrf_token() -> None:
    page = confirm_page("stock", Links("", 'to"k'))
    assert 'data-target="/exports/stock" data-csrf="to&quot;k"' in page
    assert '"X-CSRF-Token": exportForm.dataset.csrf' in page
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


def test_when_reads_day_date_and_time_without_seconds() -> None:
    moment = datetime(2026, 3, 30, 2, 30, 59, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    assert when(moment) == "Mon 30/03/2026 02:30 CEST"
    assert when(datetime(2026, 12, 6, 18, 5, tzinfo=UTC)) == "Sun 06/12/2026 18:05 UTC"


def _schedule(name: str, **fields: object) -> ScheduleStatus:
    return ScheduleStatus(ScheduleRef(flow="stock", name=name), **fields)  # type: ignore[arg-type]


def test_schedules_show_state_expression_and_next_run_in_their_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    page = status_page(
        {},
        Links(),
        schedules=[
            _schedule(
                "nightly",
                state="ENABLED",
                expression="cron(30 2 * * ? *)",
                timezone="Europe/Paris",
                next=NextRun(at=datetime(2026, 10, 25, 2, 30, tzinfo=paris)),
            ),
            _schedule(
                "often",
                state="ENABLED",
                expression="rate(5 minutes)",
                timezone="UTC",
                next=NextRun(within=timedelta(minutes=5)),
            ),
            _schedule(
                "hourly",
                state="ENABLED",
                expression="rate(2 hours)",
                timezone="UTC",
                next=NextRun(within=timedelta(hours=2)),
            ),
            _schedule("off", state="DISABLED", expression="rate(15 minutes)", timezone="UTC"),
            _schedule("gone", problem="cannot be read: Schedule gone does not exist."),
            _schedule(
                "odd",
                state="ENABLED",
                expression="cron(0 8 15W * ? *)",
                timezone="UTC",
                problem="'cron(0 8 15W * ? *)': day-of-month '15W' (W, LW, L-n) is not supported",
            ),
        ],
    )
    assert "<h2>Schedules</h2>" in page
    assert (
        '<tr id="schedule-nightly"><td>stock</td><td>nightly</td><td class="schedule-state">enabled</td>'
        "<td>cron(30 2 * * ? *)</td><td>Sun 25/10/2026 02:30 CEST (Europe/Paris)</td></tr>"
    ) in page
    assert "<td>within 5 min (no tick seen yet)</td>" in page
    assert "<td>within 2 h (no tick seen yet)</td>" in page
    assert '<td class="schedule-state">disabled</td><td>rate(15 minutes)</td><td>none while disabled</td>' in page
    assert '<td class="schedule-state">unknown</td><td></td><td>unknown (cannot be read: Schedule gone' in page
    assert "<td>unknown (&#x27;cron(0 8 15W * ? *)&#x27;: day-of-month" in page


def test_no_schedules_no_section() -> None:
    assert "Schedules" not in status_page({}, Links())


def test_the_last_check_shows_its_time_counts_and_failed_lines() -> None:
    report = CheckReport(
        checked_at="2026-11-30T09:15:42.123456+00:00",
        lines=(
            CheckLine(name="fastmag login", state=CheckState.OK, detail="ok"),
            CheckLine(name="query stock", state=CheckState.FAILED, detail="missing column <qty>"),
            CheckLine(name="price list X", state=CheckState.UNKNOWN, detail="cannot be verified"),
        ),
    )
    page = status_page({}, Links(), check=report)
    assert "Configuration check (Mon 30/11/2026 09:15 UTC)" in page
    assert '<span class="failed">1 ok, 1 failed</span>, 1 unknown' in page
    assert "<li>failed  query stock: missing column &lt;qty&gt;</li>" in page
    assert "fastmag login" not in page
    passed = CheckReport(checked_at=report.checked_at, lines=report.lines[:1])
    assert '<span class="succeeded">1 ok, 0 failed</span>' in status_page({}, Links(), check=passed)
    assert "never run" in status_page({}, Links())


@given(st.text(min_size=1))
def test_hostile_schedule_and_check_text_is_escaped(text: str) -> None:
    hostile = f"<b x='{text}'>"
    page = status_page(
        {},
        Links(),
        schedules=[
            ScheduleStatus(ScheduleRef(flow=hostile, name=hostile), state=hostile, expression=hostile, problem=hostile),
        ],
        check=CheckReport(
            checked_at="2026-11-30T09:15:42+00:00",
            lines=(CheckLine(name=hostile, state=CheckState.FAILED, detail=hostile),),
        ),
    )
    assert "<b x=" not in page
    assert page.count("&lt;b x=") >= 7
