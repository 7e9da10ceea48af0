"""A run's page drills down: a preview's counts per resource and its items old → new (filtered, paged, links
keeping the filters), a run's rejected, skipped and warned records from its task log with their downloads,
warnings apart from errors, counters with their flow's own labels and legend, an images run's uploads, and the
report of a readiness or reconcile run. Every value is escaped; the words follow the page's language."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from connector.api.html import Links, View
from connector.api.pages import SCRIPTS
from connector.api.run_html import PreviewReview, PreviewView, RecordsView, run_page
from connector.api.status_html import FlowHealth, status_page
from connector.previews import FieldChange, PreviewItem, PreviewSummary, ResourceCounts
from connector.runs import RunRecord, RunStatus
from connector.task_log import Outcome, Page, TaskLogEntry
from connector.upload_tally import UploadTally
from tests.properties import examples


def record(flow: str = "products", status: RunStatus = RunStatus.SUCCEEDED, **fields: object) -> RunRecord:
    return RunRecord.model_validate(
        {"run_id": f"{flow}-1", "flow": flow, "trigger": "button", "status": status, **fields}
    )


def view(language: str = "en") -> View:
    return View(Links("/dev", "tok"), language)  # type: ignore[arg-type]


def summary() -> PreviewSummary:
    return PreviewSummary(
        resources={
            "products": ResourceCounts(new=2, changed=3, unchanged=40),
            "fabrics": ResourceCounts(new=1, changed=0, unchanged=9),
        },
        skipped=4,
        warnings=5,
    )


def changed_item(key: str = "MODEL-1") -> PreviewItem:
    return PreviewItem(
        resource="products",
        key=key,
        change="changed",
        what="Robe Élodie",
        changes=[FieldChange(field="name", old="Robe", new="Robe Élodie"), FieldChange(field="price", old=10, new=12)],
    )


def review(items: list[PreviewItem], *, total: int | None = None, offset: int = 0, **filters: str) -> PreviewReview:
    listed = Page[PreviewItem](items=items, total=len(items) if total is None else total, offset=offset, limit=50)
    return PreviewReview(summary(), listed, filters.get("change"), filters.get("q"))


def preview_page(preview_review: PreviewReview, language: str = "en") -> str:
    preview = record(status=RunStatus.SUCCEEDED, preview=True, preview_key="previews/products-1.jsonl.gz")
    return run_page(preview, view(language), preview=PreviewView("https://s3/p?x=1", 3, 3, None, preview_review))


def query_of(page: str, element_id: str) -> dict[str, list[str]]:
    found = re.search(rf'id="{element_id}" href="([^"]+)"', page)
    assert found is not None, element_id
    url = urlsplit(unescape(found[1]))
    assert url.path == "/dev/runs/products-1"
    return parse_qs(url.query)


# --- preview review ---------------------------------------------------------------------------------------------


def test_a_preview_page_counts_each_resource_by_change_and_shows_old_to_new() -> None:
    page = preview_page(review([changed_item()]))
    assert '<tr id="resource-products"><td>products</td><td class="n new">2</td><td class="n changed">3</td>' in page
    assert '<td class="n unchanged">40</td>' in page and 'id="resource-fabrics"' in page
    assert '<p id="preview-others">4 skipped, 5 warnings</p>' in page
    assert "<code>name</code>: Robe → Robe Élodie<br><code>price</code>: 10 → 12" in page
    assert "<td>Robe Élodie</td>" in page
    # Apply keeps its rules: offered with its count beside the review.
    assert ">Send exactly this preview (6 records)</button>" in page


def test_a_changed_item_without_its_old_value_says_so_and_a_skipped_one_gives_its_reason() -> None:
    unknown = PreviewItem(resource="products", key="M-2", change="changed", new={"name": "x"})
    skipped = PreviewItem(key="M-3", change="skipped", reason="no EAN13")
    page = preview_page(review([unknown, skipped]))
    assert "(old value not known)" in page
    assert re.search(
        r"<td>M-3</td><td></td><td class=\"skipped\">skipped</td><td></td><td></td><td>no EAN13</td>", page
    )


def test_the_preview_paging_links_keep_the_change_filter_and_the_search() -> None:
    page = preview_page(review([changed_item()], total=120, offset=50, change="changed", q="a&b c"))
    assert "51–51 of 120" in page
    assert query_of(page, "preview-next") == {"change": ["changed"], "q": ["a&b c"], "offset": ["100"]}
    assert query_of(page, "preview-previous") == {"change": ["changed"], "q": ["a&b c"]}
    assert '<option value="changed" selected>changed</option>' in page
    assert 'name="q" value="a&amp;b c"' in page
    first = preview_page(review([changed_item()], total=120))
    assert 'id="preview-previous"' not in first and query_of(first, "preview-next")["offset"] == ["50"]
    assert 'id="preview-next"' not in preview_page(review([changed_item()]))


def test_a_filter_that_matches_nothing_says_so() -> None:
    page = preview_page(review([], change="new", q="zzz"))
    assert 'id="preview-none"' in page and 'id="preview-items"' not in page and 'id="preview-next"' not in page


# --- a run's records from its task log ----------------------------------------------------------------------------


def entry(key: str, outcome: Outcome, reason: str | None = None, **fields: object) -> TaskLogEntry:
    return TaskLogEntry.model_validate(
        {"at": "2026-11-30T08:00:00+00:00", "key": key, "event": "record.x", "outcome": outcome, "reason": reason}
        | fields
    )


def records(entries: list[TaskLogEntry], *, total: int | None = None, offset: int = 0, **filters: str) -> RecordsView:
    listed = Page[TaskLogEntry](items=entries, total=len(entries) if total is None else total, offset=offset, limit=50)
    return RecordsView(listed, filters.get("outcome"), filters.get("q"))


def test_a_partial_run_lists_its_rejected_skipped_and_warned_records_with_reasons_and_downloads() -> None:
    partial = record(status=RunStatus.PARTIAL, errors={"bad EAN": 1}, warnings={"SKU sent without a valid EAN13": 7})
    shown = records(
        [
            entry("3760000000001", Outcome.REJECTED, "bad EAN", what="Robe"),
            entry("SKU-9", Outcome.SKIPPED, "no price"),
            entry("SKU-7", Outcome.WARNED, "SKU sent without a valid EAN13", old=3, new=0),
        ]
    )
    page = run_page(partial, view(), records=shown)
    assert page.count('<tr class="record">') == 3
    assert '<td class="skipped">skipped</td><td></td><td>no price</td>' in page
    assert "<td>3 → 0</td>" in page
    assert 'id="log-jsonl" href="/dev/runs/products-1/log.jsonl"' in page
    assert 'id="log-csv" href="/dev/runs/products-1/log.csv"' in page
    # Warnings are listed apart from the errors.
    errors = page.split('id="errors"')[1].split("</table>")[0]
    warnings = page.split('id="warnings"')[1].split("</table>")[0]
    assert "bad EAN" in errors and "EAN13" not in errors
    assert '<td class="n">7</td><td>SKU sent without a valid EAN13</td>' in warnings


def test_the_records_paging_and_filter_keep_the_outcome_and_the_search() -> None:
    page = run_page(
        record(status=RunStatus.PARTIAL),
        view(),
        records=records([entry("SKU-1", Outcome.SKIPPED)], total=75, outcome="skipped", q="SKU"),
    )
    assert query_of(page, "records-next") == {"outcome": ["skipped"], "q": ["SKU"], "offset": ["50"]}
    assert '<option value="skipped" selected>skipped</option>' in page
    assert '<option value="" selected>' not in page


def test_a_run_without_a_task_log_says_so() -> None:
    page = run_page(record(), view(), records=RecordsView(None))
    assert 'id="records-none"' in page and "logged no record outcome" in page and 'id="log-csv"' not in page


# --- counters, uploads, reports -----------------------------------------------------------------------------------


def test_an_images_run_names_its_counters_staged_and_shows_its_uploads() -> None:
    images = record(
        "images",
        counters={"read": 30, "sent": 12, "accepted": 11},
        uploads=UploadTally(uploaded=8, failed=1, pending=2),
    )
    page = run_page(images, view())
    assert "<th>to stage</th>" in page and '<th>staged</th><td id="counter-accepted" class="n">11</td>' in page
    assert "<th>accepted</th>" not in page
    for name, count in {"staged": 11, "uploaded": 8, "failed": 1, "pending": 2}.items():
        assert f'id="uploads-{name}" class="n">{count}</td>' in page
    assert 'id="legend-images"' in page and "read = Fastmag photos;" in page
    french = run_page(images, view("fr"))
    assert "<th>à déposer</th>" in french and "<th>déposés</th>" in french
    assert "lus = Fastmag photos; inchangés, à déposer, déposés" in french  # labels French, units as written


def test_readiness_and_reconcile_runs_link_to_their_report_once_finished() -> None:
    readiness = run_page(record("readiness"), view())
    assert 'id="report-link" href="/dev/readiness/readiness-1"' in readiness
    reconcile = run_page(record("reconcile", counters={"drift": 4}), view("fr"))
    assert 'id="report-link" href="/dev/reconcile/reconcile-1">Ouvrir le rapport de rapprochement' in reconcile
    assert '<th>écarts</th><td id="counter-drift" class="n">4</td>' in reconcile
    assert 'id="report-link"' not in run_page(record("readiness", RunStatus.RUNNING), view())
    assert 'id="report-link"' not in run_page(record("stock"), view())


def test_the_status_page_gives_each_flow_its_legend_in_the_page_language() -> None:
    flows = [FlowHealth("images", [record("images")]), FlowHealth("prices", [record("prices")])]
    english = status_page(flows, view())
    assert "read = Fastmag price rows;" in english.split('id="legend-prices"')[1]
    assert "<th>to stage</th>" in english.split('id="runs-images"')[1].split("</table>")[0]
    french = status_page(flows, view("fr"))
    assert "Ce que comptent les compteurs : lus = Fastmag price rows; inchangés, envoyés" in french


# --- escaping -------------------------------------------------------------------------------------------------------

HOSTILE = st.text(min_size=1).map(lambda text: f"<script>alert('{text}')</script>\"'&")


@given(HOSTILE)
@examples(100)
def test_every_value_of_the_drill_down_is_escaped(hostile: str) -> None:
    item = PreviewItem(
        resource=hostile,
        key=hostile,
        change="changed",
        what=hostile,
        reason=hostile,
        changes=[FieldChange(field=hostile, old=hostile, new={"x": hostile})],
    )
    counted = PreviewSummary(resources={hostile: ResourceCounts(new=1)})
    listed = Page[PreviewItem](items=[item], total=200, offset=50, limit=50)
    preview = PreviewView(hostile, 1, 0, None, PreviewReview(counted, listed, hostile, hostile))
    logged = entry(hostile, Outcome.REJECTED, hostile, what=hostile, old=hostile, new=[hostile])
    log_page = Page[TaskLogEntry](items=[logged], total=200, offset=50, limit=50)
    run = record(hostile, RunStatus.PARTIAL, run_id=hostile, preview=True, errors={hostile: 1}, warnings={hostile: 2})
    for language in ("en", "fr"):
        page = run_page(run, view(language), preview=preview, records=RecordsView(log_page, hostile, hostile))
        assert all(script.split("</script>")[0] in SCRIPTS for script in page.split("<script>")[1:])
        assert "<script>alert(" not in page
        assert hostile not in page
