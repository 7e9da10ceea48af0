from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.fastmag.sql import Raw, TemplateError, render
from connector.settings import FastmagQueries
from sandbox.fastmag_sim import mysql_to_sqlite


def test_sequences_become_quoted_lists_with_quotes_and_backslashes_doubled() -> None:
    sql = render("WHERE a IN ({refs})", refs=["CH2301", "Pull d'hiver", "a\\b"])
    assert sql == "WHERE a IN ('CH2301', 'Pull d''hiver', 'a\\\\b')"


def test_an_empty_sequence_matches_nothing_instead_of_breaking_the_sql() -> None:
    assert render("WHERE a IN ({refs})", refs=[]) == "WHERE a IN (NULL)"


def test_numbers_are_bare_and_scalars_are_single_literals() -> None:
    assert render("{a} {b} {c}", a=12, b=Decimal("1.50"), c="x") == "12 1.50 'x'"


def test_raw_is_inserted_verbatim() -> None:
    sql = render("WHERE s.codemag IN ({stores}) {real_stock_filter}", stores=("WEB",), real_stock_filter=Raw(""))
    assert sql == "WHERE s.codemag IN ('WEB') "
    assert render("{f}", f=Raw("AND s.AR = 1")) == "AND s.AR = 1"


def test_a_missing_placeholder_is_named() -> None:
    with pytest.raises(TemplateError, match=r"\{stores\}, \{tariffs\}"):
        render("{stores} {tariffs} {given}", given="x")


def test_values_are_not_rendered_twice() -> None:
    assert render("{a} {b}", a="{b}", b="x") == "'{b}' 'x'"


def test_booleans_and_nul_are_refused() -> None:
    with pytest.raises(TemplateError):
        render("{a}", a=True)
    with pytest.raises(TemplateError, match="NUL"):
        render("{a}", a="x\x00")


def test_every_default_query_renders_with_its_placeholders() -> None:
    queries = FastmagQueries()
    values = {
        "stores": ["WEB"],
        "tariffs": ["GROS"],
        "eans": ["1"],
        "customers": ["1"],
        "references": ["1"],
        "real_stock_filter": Raw(""),
    }
    for name, template in queries.model_dump().items():
        if template:
            assert "{" not in render(template, **values), name


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00")))
def test_any_text_survives_as_one_literal_on_a_mysql_like_back_end(text: str) -> None:
    """The injection guard: whatever the text, the SQL selects exactly that text and nothing else."""
    sql = mysql_to_sqlite(render("SELECT {value} AS v", value=[text]))
    assert sqlite3.connect(":memory:").execute(sql).fetchall() == [(text,)]
