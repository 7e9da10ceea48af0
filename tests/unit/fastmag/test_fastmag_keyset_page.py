"""The keyset page SQL (`fastmag.sql.keyset_page`): quoting of the last key, the page condition's logic."""

from __future__ import annotations

import sqlite3
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.fastmag.queries import PAGE_SQL
from connector.fastmag.sql import TemplateError, keyset_page
from connector.settings import FastmagSettings
from sandbox.fastmag_sim import mysql_to_sqlite

KEY = ("reference", "colour", "size")
PARTS = ["", "A", "A'", "B\\", "b", "{after}"]
ROWS = sorted(product(PARTS, PARTS, PARTS))


def table() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (r TEXT, c TEXT, s TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", ROWS)
    return db


def page(db: sqlite3.Connection, after: tuple[str, ...] | None, rows: int) -> list[tuple[str, ...]]:
    inner = "SELECT r AS reference, c AS colour, s AS size FROM t"
    return db.execute(mysql_to_sqlite(keyset_page(PAGE_SQL, inner, KEY, after, rows))).fetchall()


def test_the_first_page_has_no_condition_and_every_page_is_ordered_and_limited() -> None:
    sql = keyset_page(PAGE_SQL, "SELECT 1", KEY, None, 500)
    assert sql == (
        "SELECT * FROM (SELECT 1) AS fastmag_page WHERE (1 = 1) ORDER BY COALESCE(fastmag_page.reference, ''), "
        "COALESCE(fastmag_page.colour, ''), COALESCE(fastmag_page.size, '') LIMIT 500"
    )
    assert "OFFSET" not in keyset_page(PAGE_SQL, "SELECT 1", KEY, ("a", "b", "c"), 500).upper()


@pytest.mark.parametrize("rows", [1, 2, 5, 50])
def test_pages_walk_every_row_once_in_key_order(rows: int) -> None:
    db = table()
    seen: list[tuple[str, ...]] = []
    after: tuple[str, ...] | None = None
    while True:
        answer = page(db, after, rows)
        seen += answer
        if len(answer) < rows:
            break
        after = answer[-1]
    assert seen == ROWS


@given(st.tuples(*[st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"))] * 3))
def test_any_last_key_is_one_literal_per_part_and_resumes_right_after_itself(after: tuple[str, str, str]) -> None:
    """The injection guard of the last key: whatever it holds, the page is exactly the rows after it."""
    db = table()
    db.execute("INSERT INTO t VALUES (?, ?, ?)", after)
    rows = sorted({*ROWS, after})
    assert page(db, after, 1000) == rows[rows.index(after) + 1 :]


def test_a_hostile_last_key_stays_a_literal() -> None:
    after = ("x' OR '1'='1", "\\'; DROP TABLE t; --", "{query}")
    sql = keyset_page(PAGE_SQL, "SELECT r AS reference, c AS colour, s AS size FROM t", KEY, after, 10)
    assert "'x'' OR ''1''=''1'" in sql and "'\\\\''; DROP TABLE t; --'" in sql and "'{query}'" in sql
    db = table()
    assert page(db, after, 10) == [row for row in ROWS if row > after][:10]
    assert db.execute("SELECT COUNT(*) FROM t").fetchone() == (len(ROWS),)


def test_the_query_text_is_not_read_as_placeholders() -> None:
    inner = "SELECT '{rows}' AS reference, '{after}' AS colour, '' AS size"
    sql = keyset_page(PAGE_SQL, inner, KEY, None, 3)
    assert inner in sql and sql.endswith("LIMIT 3")


def test_a_top_dialect_is_a_setting() -> None:
    template = "SELECT TOP {rows} * FROM ({query}) AS fastmag_page WHERE {after} ORDER BY {order}"
    assert keyset_page(template, "SELECT 1", ("reference",), None, 9).startswith("SELECT TOP 9 * FROM (SELECT 1)")


@pytest.mark.parametrize(
    ("key", "after", "rows"),
    [(("reference",), ("a", "b"), 5), ((), None, 5), (("reference",), None, 0), (("ref erence",), None, 5)],
)
def test_malformed_pages_are_refused(key: tuple[str, ...], after: tuple[str, ...] | None, rows: int) -> None:
    with pytest.raises(TemplateError):
        keyset_page(PAGE_SQL, "SELECT 1", key, after, rows)


@pytest.mark.parametrize(
    "template", ["SELECT * FROM ({query}) LIMIT {rows}", PAGE_SQL + " {stores}", PAGE_SQL.replace("{order}", "x")]
)
def test_the_page_sql_setting_must_use_exactly_its_placeholders(template: str) -> None:
    with pytest.raises(ValueError, match="page SQL must use exactly"):
        FastmagSettings(page_sql=template)


def test_page_rows_is_off_by_default_and_bounded() -> None:
    assert FastmagSettings().page_rows is None
    assert FastmagSettings(page_rows=20_000).page_rows == 20_000
    for wrong in (0, -1, 2_000_000):
        with pytest.raises(ValueError, match="page_rows"):
            FastmagSettings(page_rows=wrong)
