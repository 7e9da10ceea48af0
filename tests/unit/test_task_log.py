"""Task log files: what a run records, its reader (filter, search, paging) and its downloads (CSV, JSON Lines)."""

from __future__ import annotations

import csv
import io
import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.observability import log_record, records_to
from connector.task_log import (
    Outcome,
    TaskLog,
    TaskLogEntry,
    TaskLogMissing,
    TaskLogStore,
    csv_cell,
    entry_filter,
    entry_line,
    page_of,
    parse_jsonl,
    to_csv,
    to_jsonl,
)
from tests.unit.s3_bucket import BUCKET


def entry(key: str, outcome: Outcome = Outcome.SENT, **fields: Any) -> TaskLogEntry:
    return TaskLogEntry(
        at="2026-11-30T10:00:00.000+00:00", key=key, event=f"record.{outcome}", outcome=outcome, **fields
    )


def logged(*lines: tuple[str, str, dict[str, Any]]) -> list[TaskLogEntry]:
    log = TaskLog(clock=lambda: "2026-11-30T10:00:00.000+00:00")
    with records_to(log.add):
        for event, key, fields in lines:
            log_record(event, key, **fields)
    return list(log.entries)


def test_each_record_line_becomes_an_entry_with_its_outcome_masked_as_logged() -> None:
    entries = logged(
        ("record.sent", "3760000100014", {"old": 4, "new": 0, "what": "Robe Élise NOIR/M"}),
        ("record.rejected", "R-1", {"reason": "buyers.0.email: jeanne.durand@example.fr is taken", "level": "WARNING"}),
        ("record.skipped", "jeanne.durand@example.fr", {"reason": "no price", "level": "WARNING"}),
        ("stock.zeroed", "3760000100021", {"reason": "negative stock", "level": "WARNING", "variant": "A/B/C"}),
        ("order.blocked", "ORD-1", {"reason": "unknown EAN", "level": "WARNING", "lnb_status": "invoicing"}),
        ("order.status_failed", "ORD-2", {"reason": "502", "level": "ERROR"}),
    )
    assert [(e.key, e.outcome) for e in entries] == [
        ("3760000100014", Outcome.SENT),
        ("R-1", Outcome.REJECTED),
        ("j***@example.fr", Outcome.SKIPPED),
        ("3760000100021", Outcome.WARNED),
        ("ORD-1", Outcome.BLOCKED),
        ("ORD-2", Outcome.ERROR),
    ]
    assert (entries[0].old, entries[0].new, entries[0].what) == (4, 0, "Robe Élise NOIR/M")
    assert entries[1].reason == "buyers.0.email: j***@example.fr is taken"
    assert entries[3].detail == {"variant": "A/B/C"}
    assert entries[4].detail == {"lnb_status": "invoicing"}


def test_outside_a_run_nothing_is_collected() -> None:
    log = TaskLog()
    with records_to(log.add):
        log_record("record.sent", "inside")
    log_record("record.sent", "outside")
    assert [e.key for e in log.entries] == ["inside"]


def test_a_product_named_as_a_formula_is_inert_in_the_csv() -> None:
    hostile = [
        entry('=HYPERLINK("http://x","click")', what='=HYPERLINK("http://x")', reason="+cmd|' /C calc'!A0"),
        entry("-2+3", what="@SUM(A1)", reason="\tTAB", old="\r=1", new="-1"),
        entry("3760000100014", what='Robe, "Élise"\nligne 2', reason=None, old=0, new=5),
    ]
    rows = list(csv.reader(io.StringIO(to_csv(hostile))))
    header, *cells = rows
    assert header == ["at", "key", "event", "outcome", "what", "reason", "old", "new", "detail"]
    for row in cells:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    assert cells[0][1] == '\'=HYPERLINK("http://x","click")'
    assert cells[0][4] == '\'=HYPERLINK("http://x")'
    assert cells[1][6:8] == ["'\r=1", "'-1"]
    # Quotes, commas and line breaks survive the round trip; numbers (0 included) are written, not blanked.
    assert cells[2][4] == 'Robe, "Élise"\nligne 2'
    assert cells[2][5:8] == ["", "0", "5"]


@given(st.one_of(st.none(), st.text(), st.integers(), st.dictionaries(st.text(), st.text())))
def test_no_cell_starts_like_a_formula(value: Any) -> None:
    cell = csv_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    if isinstance(value, str) and not value.startswith(("=", "+", "-", "@", "\t", "\r")):
        assert cell == value


def test_json_lines_round_trip() -> None:
    entries = [entry("a", old={"price": "12.50"}, new={"price": "13.00"}), entry('b"\n', Outcome.REJECTED)]
    text = to_jsonl(entries)
    assert len(text.splitlines()) == 2
    assert all(json.loads(line)["key"] for line in text.splitlines())
    assert list(parse_jsonl(text)) == entries


def test_reader_filters_by_outcome_searches_keys_and_pages() -> None:
    entries = [entry(f"EAN-{n:03d}", Outcome.REJECTED if n % 3 == 0 else Outcome.SENT) for n in range(120)]
    everything = page_of(entries, entry_filter(), offset=0, limit=50)
    assert (len(everything.items), everything.total) == (50, 120)
    last = page_of(entries, entry_filter(), offset=100, limit=50)
    assert [e.key for e in last.items] == [e.key for e in entries[100:]]
    rejected = page_of(entries, entry_filter(Outcome.REJECTED), offset=10, limit=5)
    assert rejected.total == 40
    assert [e.key for e in rejected.items] == [e.key for e in entries if e.outcome == "rejected"][10:15]
    found = page_of(entries, entry_filter(None, " ean-11 "), offset=0, limit=50)  # trimmed, any case
    assert [e.key for e in found.items] == [f"EAN-{n:03d}" for n in range(110, 120)]
    both = page_of(entries, entry_filter("rejected", "EAN-11"))
    assert [e.key for e in both.items] == [f"EAN-{n:03d}" for n in (111, 114, 117)]
    beyond = page_of(entries, entry_filter(), offset=500, limit=50)
    assert (beyond.items, beyond.total) == ([], 120)


def test_page_bounds_are_clamped() -> None:
    entries = [entry(str(n)) for n in range(3)]
    page = page_of(entries, entry_filter(), offset=-5, limit=0)
    assert (page.offset, page.limit, [e.key for e in page.items]) == (0, 1, ["0"])
    assert page_of(entries, entry_filter(), limit=10**9).limit == 500


def test_store_writes_nothing_for_an_idle_run_and_reads_back_what_it_wrote(s3: Any) -> None:
    store = TaskLogStore(s3, BUCKET)
    assert store.write("idle", [], flow="stock") is None
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")
    with pytest.raises(TaskLogMissing):
        store.read("idle")
    entries = [entry("3760000100014", old=1, new=0), entry("x", Outcome.SKIPPED, reason="no colour")]
    assert store.write("stock-1", entries, flow="stock") == "runs/stock-1.jsonl.gz"
    assert store.read_with_flow("stock-1") == ("stock", entries)
    assert store.page("stock-1", outcome="skipped").items == entries[1:]
    assert list(store.run_ids()) == ["stock-1"]


def test_json_lines_write_what_json_cannot_hold_as_its_text() -> None:
    class Odd:
        def __str__(self) -> str:
            return 'odd "value"\n'

    text = to_jsonl([entry("k", new=Odd(), detail={"when": Odd()})])
    [line] = text.splitlines()
    assert json.loads(line)["new"] == 'odd "value"\n'
    assert json.loads(line)["detail"] == {"when": 'odd "value"\n'}


class _Text(str):
    """A str subclass: the model reads it as text, the fast path must not take it as plain."""


line_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.decimals(allow_nan=False)
    | st.just(Outcome.SENT)
    | st.builds(_Text, st.text(max_size=3)),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
line_fields = st.fixed_dictionaries(
    {"event": st.sampled_from(["record.sent", "record.rejected", "order.blocked", "image.staged", "other"])},
    optional={
        "key": st.text(max_size=5) | st.integers(),
        "reason": st.text(max_size=5),
        "what": st.text(max_size=5) | st.integers() | st.none(),
        "old": line_values,
        "new": line_values,
        "http_status": st.integers(),
        "fields": line_values,
    },
)


@given(st.sampled_from(["INFO", "WARNING", "ERROR"]), line_fields)
@example("INFO", {"event": "record.sent", "new": math.nan, "old": {"quantities": [1, math.inf]}})
@example("INFO", {"event": "record.sent", "new": [Decimal("1.50")], "fields": {"at": [[_Text("x")]]}})
def test_a_task_log_line_is_the_one_its_entry_model_dumps(level: str, fields: dict[str, Any]) -> None:
    """Built without the model for plain JSON (a push's record lines), through the model otherwise: the same."""
    at = "2026-11-30T10:00:00.000+00:00"
    try:
        expected = TaskLogEntry.from_line(level, fields, at).model_dump(mode="json")
    except ValidationError:
        with pytest.raises(ValidationError):
            entry_line(level, fields, at)
        return
    line = entry_line(level, fields, at)
    assert line == expected
    assert json.dumps(line, default=str) == json.dumps(expected, default=str)  # same key order, same types
