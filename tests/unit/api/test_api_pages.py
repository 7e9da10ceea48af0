"""The operator's pages: links keep the base path and never carry a credential, POSTs carry the page's CSRF
token from data attributes (the scripts are constant), every value is escaped, the language follows the browser,
times are local with UTC on hover, and the actions appear only where they apply."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.api.html import Links, View, span, when
from connector.api.i18n import preferred_language
from connector.api.pages import SCRIPTS, confirm_page
from connector.api.run_html import PreviewView, ledger_page, run_page, runs_of
from connector.api.status_html import FlowHealth, history_page, status_page
from connector.check_report import CheckLine, CheckReport, CheckState
from connector.config import Environment
from connector.counters import Counters
from connector.ledger import LedgerEntry
from connector.runs import RunRecord, RunStatus
from connector.schedules import NextRun, ScheduleRef, ScheduleStatus
from tests.properties import examples

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def record(status: RunStatus = RunStatus.SUCCEEDED, **fields: object) -> RunRecord:
    return RunRecord.model_validate(
        {"run_id": "stock-1", "flow": "stock", "trigger": "button", "status": status, **fields}
    )


def view(csrf: str | None = None, language: str = "en", prefix: str = "") -> View:
    return View(Links(prefix, csrf), language)  # type: ignore[arg-type]


def health(flow: str = "stock", *runs: RunRecord, **fields: object) -> FlowHealth:
    return FlowHealth(flow, runs, **fields)  # type: ignore[arg-type]


def entry(**fields: object) -> LedgerEntry:
    return LedgerEntry.model_validate({"reference": "LNB-1", "status": "exported", **fields})


# --- language ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-FR,fr;q=0.9", "fr"),
        ("fr-CH;q=0.8, en;q=0.5", "fr"),
        ("en-GB,fr;q=0.9", "en"),
        ("de-DE, fr;q=0.3, en;q=0.2", "fr"),
        ("fr;q=0, en;q=0.1", "en"),
        ("fr;q=0.5, en;q=0.5", "fr"),  # a tie goes to the one named first
        ("en;q=0.5, fr;q=0.5", "en"),
        ("FR", "fr"),
        ("fr;q=abc", "en"),
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("es, de", "en"),
    ],
)
def test_french_only_when_the_browser_ranks_it_above_english(header: str | None, language: str) -> None:
    assert preferred_language(header) == language


def test_every_page_is_in_the_chosen_language_with_a_viewport() -> None:
    held = record(RunStatus.HELD, message="stock push held")
    pages_en = [
        status_page([health("stock", held)], view(), now=NOW),
        run_page(held, view()),
        confirm_page("stock", view()),
        ledger_page(entry(), view()),
        history_page("stock", [held], view(), status=None, cursor=None, after=None),
    ]
    pages_fr = [
        status_page([health("stock", held)], view(language="fr"), now=NOW),
        run_page(held, view(language="fr")),
        confirm_page("stock", view(language="fr")),
        ledger_page(entry(), view(language="fr")),
        history_page("stock", [held], view(language="fr"), status=None, cursor=None, after=None),
    ]
    viewport = '<meta name="viewport" content="width=device-width, initial-scale=1">'
    assert all('<html lang="en">' in page and viewport in page for page in pages_en)
    assert all('<html lang="fr">' in page and viewport in page for page in pages_fr)
    assert "Send anyway" in pages_en[1] and "Envoyer quand même" in pages_fr[1]
    assert "Force (bypass the anomaly guard)" in pages_en[2] and "Forcer" in pages_fr[2]
    # Reasons are data: Fastmag's and the connector's words are shown as written, in both languages.
    assert "stock push held" in pages_fr[1]


# --- status page ------------------------------------------------------------------------------------------------


def test_links_carry_the_base_path_and_never_the_csrf_token() -> None:
    assert Links("/dev", "t o&k").url("/runs", flow="a&b") == "/dev/runs?flow=a%26b"
    assert Links().url("/") == "/"


def test_status_page_has_health_a_button_and_runs_with_reasons_in_a_detail_row() -> None:
    failed = record(
        RunStatus.FAILED,
        run_id="stock-2",
        counters=Counters(read=9, accepted=7),
        errors={"bad EAN": 2},
        message="Fastmag did not answer",
        started_at="2026-11-30T07:00:00.000+00:00",
        finished_at="2026-11-30T07:03:05.000+00:00",
    )
    success = record(started_at="2026-11-30T05:00:00+00:00", finished_at="2026-11-30T05:00:42+00:00")
    page = status_page(
        [health("stock", failed, success, last_success=success, problems=1), health("orders")],
        view("tok", prefix="/dev"),
        now=NOW,
    )
    assert 'id="export-stock" href="/dev/exports/stock"' in page
    assert 'id="history-stock" href="/dev/runs?flow=stock"' in page
    assert "tok" not in page
    assert 'id="export-orders"' in page
    assert '<td class="n">9</td>' in page
    assert '<tr class="detail"><td colspan="11">Fastmag did not answer<br>2 × bad EAN</td></tr>' in page
    assert '<td class="n">3 min 05 s</td>' in page
    # 05:00:42 UTC is 06:00 in Paris in November, and it was 3 h 59 min ago.
    health_box = re.search(r'<div class="health" id="health-stock">(.*?)</div></div>', page)
    assert health_box is not None
    assert 'title="2026-11-30 05:00:42 UTC">Mon 30/11/2026 06:00 CET</time> (3 h 59 ago)' in health_box[1]
    assert '<span class="failed" data-status="failed">failed</span> · <a href="/dev/runs/stock-2">' in page
    assert '<span class="failed">1</span>' in health_box[1]
    assert "No run yet." in page
    assert "never" in page  # the orders flow never succeeded


def test_the_search_form_opens_the_key_page_from_its_data_attribute() -> None:
    page = status_page([], view("tok", prefix="/dev"), now=NOW)
    assert '<form id="key-search" class="inline" role="search" data-base="/dev/keys/">' in page
    assert "keySearch.dataset.base + encodeURIComponent(key)" in page
    assert 'data-base="/keys/"' in status_page([], view(), now=NOW)
    assert "tok" not in page


def test_confirm_page_posts_to_the_flow_with_its_csrf_token() -> None:
    page = confirm_page("stock", view('to"k'))
    assert 'data-target="/exports/stock" data-csrf="to&quot;k"' in page
    assert '"X-CSRF-Token": exportForm.dataset.csrf' in page
    assert 'id="preview"' in page


def test_durations_read_naturally() -> None:
    assert [span(timedelta(seconds=s)) for s in (0, 42, 185, 300, 3600, 7500, 86400, 97200)] == [
        "0 s",
        "42 s",
        "3 min 05 s",
        "5 min",
        "1 h",
        "2 h 05",
        "1 d",
        "1 d 3 h",
    ]


def test_when_reads_day_date_and_time_without_seconds() -> None:
    moment = datetime(2026, 3, 30, 2, 30, 59, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    assert when(moment) == "Mon 30/03/2026 02:30 CEST"
    assert when(moment, "fr") == "lun. 30/03/2026 02:30 CEST"
    assert when(datetime(2026, 12, 6, 18, 5, tzinfo=UTC)) == "Sun 06/12/2026 18:05 UTC"


def test_times_are_local_with_the_utc_value_on_hover() -> None:
    tokyo = View(Links(), "en", "Asia/Tokyo")
    assert tokyo.time("2026-11-30T09:15:42.123+00:00") == (
        '<time datetime="2026-11-30T09:15:42+00:00" title="2026-11-30 09:15:42 UTC">Mon 30/11/2026 18:15 JST</time>'
    )
    assert tokyo.time(None) == tokyo.time("not a time") == ""


def _schedule(name: str, **fields: object) -> ScheduleStatus:
    return ScheduleStatus(ScheduleRef(flow="stock", name=name), **fields)  # type: ignore[arg-type]


def test_schedules_show_state_expression_and_next_run_in_their_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    schedules = [
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
        _schedule("off", state="DISABLED", expression="rate(15 minutes)", timezone="UTC"),
        _schedule("gone", problem="cannot be read: Schedule gone does not exist."),
    ]
    page = status_page([health("stock", schedules=schedules[:3])], view(), schedules=schedules, now=NOW)
    assert (
        '<tr id="schedule-nightly"><td>stock</td><td>nightly</td><td class="schedule-state">enabled</td>'
        "<td>cron(30 2 * * ? *)</td><td>Sun 25/10/2026 02:30 CEST (Europe/Paris)</td></tr>"
    ) in page
    assert "<td>within 5 min (no tick seen yet)</td>" in page
    assert '<td class="schedule-state">disabled</td><td>rate(15 minutes)</td><td>none while disabled</td>' in page
    assert '<td class="schedule-state">unknown</td><td></td><td>unknown (cannot be read: Schedule gone' in page
    assert "Sun 25/10/2026 02:30 CEST (Europe/Paris) (nightly: enabled)" in page  # the flow's health header
    assert "none while disabled (off: disabled)" in page
    assert "Schedules" not in status_page([], view(), now=NOW)


def test_the_last_check_shows_its_time_counts_and_failed_lines() -> None:
    report = CheckReport(
        checked_at="2026-11-30T09:15:42.123456+00:00",
        lines=(
            CheckLine(name="fastmag login", state=CheckState.OK, detail="ok"),
            CheckLine(name="query stock", state=CheckState.FAILED, detail="missing column <qty>"),
            CheckLine(name="price list X", state=CheckState.UNKNOWN, detail="cannot be verified"),
        ),
    )
    page = status_page([], view(), check=report, now=NOW)
    assert "Configuration check (<time " in page and ">Mon 30/11/2026 10:15 CET</time>)" in page
    assert '<span class="failed">1 ok, 1 failed</span>, 1 unknown' in page
    assert "<li>failed  query stock: missing column &lt;qty&gt;</li>" in page
    assert "fastmag login" not in page
    assert "never run" in status_page([], view(), now=NOW)


def test_the_history_page_pages_and_filters_without_any_credential() -> None:
    page = history_page("stock", [record()], view("tok"), status="failed", cursor="c1", after="c2")
    assert "tok" not in page and 'name="token"' not in page
    assert '<option value="failed" selected>failed</option>' in page
    assert 'id="older" href="/runs?flow=stock&amp;status=failed&amp;cursor=c2"' in page
    assert 'href="/runs?flow=stock&amp;status=failed">Newest runs</a>' in page
    last = history_page("stock", [], view(), status=None, cursor=None, after=None)
    assert 'id="older"' not in last and "No run yet." in last


# --- confirm, run and preview pages -----------------------------------------------------------------------------


def test_confirm_page_posts_to_the_flow_and_offers_force_only_where_a_guard_holds() -> None:
    page = confirm_page("stock", view("tok"))
    assert 'data-target="/exports/stock" data-csrf="tok"' in page
    assert 'id="preview"' in page and 'id="force"' in page
    assert "would set too many SKUs with stock to zero" in page
    assert 'id="force"' not in confirm_page("orders", view())


def test_run_page_refreshes_until_the_run_ends() -> None:
    assert 'http-equiv="refresh"' in run_page(record(RunStatus.RUNNING), view())
    assert 'http-equiv="refresh"' not in run_page(record(RunStatus.PARTIAL), view())


def test_a_held_run_offers_a_forced_run_of_the_same_flow() -> None:
    page = run_page(record(RunStatus.HELD, full=True, message="stock push held: …"), view("tok"))
    assert 'id="send-anyway"' in page
    assert 'data-target="/exports/stock" data-body="{&quot;force&quot;: true, &quot;full&quot;: true}" ' in page
    assert 'data-csrf="tok"' in page and page.count("<script>") == 1
    assert 'id="send-anyway"' not in run_page(record(RunStatus.FAILED), view())


def test_send_exactly_this_preview_only_when_it_would_send_and_can_be_applied() -> None:
    preview = record(preview=True, preview_key="previews/stock-1.jsonl.gz", preview_base="etag")
    ready = run_page(preview, view("tok"), preview=PreviewView("https://s3/x?sig=1&b=2", 5, 7, None))
    assert ">Send exactly this preview (12 records)</button>" in ready
    assert "would send 12 records (5 new, 7 changed)" in ready
    assert 'data-target="/runs/stock-1/apply" data-body="{}" data-csrf="tok"' in ready
    assert 'id="preview-link" href="https://s3/x?sig=1&amp;b=2"' in ready
    assert 'id="new-preview"' not in ready

    nothing = run_page(preview, view(), preview=PreviewView(None, 0, 0, None))
    assert 'id="apply"' not in nothing and "would send nothing" in nothing and 'id="new-preview"' in nothing

    stale = run_page(preview, view(), preview=PreviewView(None, 5, 7, "the data changed since preview stock-1"))
    assert 'id="apply"' not in stale
    assert '<p id="refusal">the data changed since preview stock-1</p>' in stale
    assert 'id="new-preview"' in stale and 'data-body="{&quot;preview&quot;: true, &quot;full&quot;: false}"' in stale

    running = run_page(
        preview.model_copy(update={"status": RunStatus.RUNNING}), view(), preview=PreviewView(None, 1, 2, None)
    )
    assert 'id="apply"' not in running and 'id="new-preview"' not in running and "<script>" not in running


def test_every_run_id_and_applied_preview_is_a_link() -> None:
    page = run_page(record(applied_from="stock-0", run_id="stock-2"), view("tok"))
    assert 'applies preview <a href="/runs/stock-0">stock-0</a>' in page


def test_an_orders_run_links_each_order_to_its_ledger_page() -> None:
    orders = [entry(reference="A/1 B", fastmag_number="77"), entry(reference="C", status="blocked", reason="no EAN")]
    page = run_page(record(flow="orders", run_id="orders-1"), view("tok"), orders=orders)
    assert '<a class="order" href="/orders/A/1 B">A/1 B</a></td><td>exported</td><td>77</td>' in page
    assert '<a class="order" href="/orders/C">C</a></td><td>blocked</td><td></td><td>no EAN</td>' in page


# --- ledger page ------------------------------------------------------------------------------------------------


def test_the_ledger_page_shows_the_order_its_runs_and_how_to_resolve_it_when_stuck() -> None:
    blocked = entry(
        status="blocked",
        reason="outcome unknown",
        lnb_status="invoicing",
        last_run_id="orders-3",
        history=[
            "2026-11-30T07:00:00.000+00:00 seen by run orders-1",
            "2026-11-30T07:15:00.000+00:00 sent by run orders-2",
            "2026-11-30T07:30:00.000+00:00 blocked: outcome unknown",
        ],
    )
    page = ledger_page(blocked, view("tok"))
    assert runs_of(blocked) == ["orders-3", "orders-2", "orders-1"]
    assert '<a href="/runs/orders-1">orders-1</a>' in page
    assert ">Mon 30/11/2026 08:30 CET</time></td><td>blocked: outcome unknown</td>" in page
    assert '<dd id="lnb-status">invoicing</dd>' in page
    assert "--resolve exported --fastmag-number NUMBER" in page and "--resolve resend" in page
    assert 'id="resolve"' not in ledger_page(entry(fastmag_number="9"), view())


# --- escaping ---------------------------------------------------------------------------------------------------

HOSTILE = st.text(min_size=1).map(lambda text: f"<script>alert('{text}')</script>\"'&")


@given(HOSTILE)
@examples(100)
def test_every_value_is_escaped(hostile: str) -> None:
    bad = record(
        RunStatus.HELD,
        run_id="stock-1",
        message=hostile,
        errors={hostile: 1},
        applied_from=hostile,
        started_at=hostile,
    )
    ledger = entry(
        reference=hostile,
        status="blocked",
        reason=hostile,
        fastmag_number=hostile,
        lnb_status=hostile,
        last_run_id=hostile,
        history=[hostile, f"2026-11-30T07:00:00+00:00 {hostile}"],
    )
    schedule = ScheduleStatus(
        ScheduleRef(flow=hostile, name=hostile), state=hostile, expression=hostile, problem=hostile
    )
    report = CheckReport(
        checked_at=NOW.isoformat(), lines=(CheckLine(name=hostile, state=CheckState.FAILED, detail=hostile),)
    )
    pages = [
        status_page(
            [health(hostile, bad, schedules=[schedule])], view(hostile), schedules=[schedule], check=report, now=NOW
        ),
        run_page(bad, view(hostile), preview=PreviewView(hostile, 1, 0, hostile), orders=[ledger]),
        ledger_page(ledger, view(hostile)),
        history_page(hostile, [bad], view(hostile), status=hostile, cursor=hostile, after=hostile),
        confirm_page(hostile, view(hostile)),
    ]
    for page in pages:
        # The page's own scripts aside, no script element and no raw value: it only ever appears escaped. Those
        # scripts are the constant texts the CSP allows, whatever the values (they live in data attributes).
        assert all(script.split("</script>")[0] in SCRIPTS for script in page.split("<script>")[1:])
        assert "<script>alert(" not in page
        assert hostile not in page


def test_the_brand_timezone_must_be_a_known_zone() -> None:
    assert Environment.model_validate({}).BRAND_TIMEZONE == "Europe/Paris"
    assert Environment.model_validate({"BRAND_TIMEZONE": "America/Montreal"}).BRAND_TIMEZONE == "America/Montreal"
    for wrong in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValidationError, match="BRAND_TIMEZONE"):
            Environment.model_validate({"BRAND_TIMEZONE": wrong})
