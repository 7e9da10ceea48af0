"""The query contracts (`connector/fastmag/queries.py`) against the default SQL and the settings model."""

from __future__ import annotations

import re

import pytest

from connector.fastmag.queries import CUSTOMERS, ORDERS_BY_REFERENCE, QUERIES, REAL_STOCK_FILTER, Query
from connector.settings import FastmagQueries

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The aliases of the outer SELECT list: every `AS name` before the outer FROM (a sub-select sits in parentheses).
_ALIAS = re.compile(r"\bAS (\w+)", re.IGNORECASE)


def _select_list(sql: str) -> str:
    depth = 0
    for position, character in enumerate(sql):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth == 0 and sql[position : position + 6].upper() == " FROM ":
            return sql[:position]
    raise AssertionError(f"no outer FROM in {sql}")


def test_the_settings_model_holds_one_field_per_query_defaulting_to_its_sql() -> None:
    defaults = FastmagQueries().model_dump()
    assert list(defaults) == list(QUERIES)
    assert defaults == {name: query.sql for name, query in QUERIES.items()}


@pytest.mark.parametrize("query", [q for q in QUERIES.values() if q.sql], ids=lambda q: q.name)
def test_the_default_sql_returns_exactly_the_declared_columns_and_uses_the_declared_placeholders(query: Query) -> None:
    assert query.sql is not None
    assert sorted(_ALIAS.findall(_select_list(query.sql))) == sorted(column.alias for column in query.columns)
    assert tuple(_PLACEHOLDER.findall(query.sql)) == query.placeholders


@pytest.mark.parametrize("query", list(QUERIES.values()), ids=lambda q: q.name)
def test_each_query_declares_each_alias_once_with_something_it_feeds(query: Query) -> None:
    aliases = [column.alias for column in query.columns]
    assert len(set(aliases)) == len(aliases)
    assert query.required and all(column.feeds.strip() for column in query.columns)
    assert all(column.required_when is None for column in query.columns if column.required)


def test_the_order_lookup_needs_the_reference_and_may_give_the_number_and_line_count() -> None:
    assert ORDERS_BY_REFERENCE.required == ("external_reference",)
    (line_count,) = [c for c in ORDERS_BY_REFERENCE.columns if c.alias == "line_count"]
    assert line_count.type == "integer"
    assert line_count.required_when == "`fastmag.wire.transactions_per_call` is `one`"


def test_requiring_makes_optional_columns_required_and_refuses_unknown_aliases() -> None:
    assert "family" not in CUSTOMERS.required
    assert CUSTOMERS.requiring("family").required == (*CUSTOMERS.required, "family")
    assert CUSTOMERS.requiring("family").name == "customers"
    assert "family" not in CUSTOMERS.required  # the declaration itself is unchanged
    with pytest.raises(ValueError, match=r"customers declares no column\(s\) \['famliy'\]"):
        CUSTOMERS.requiring("famliy")


def test_the_real_stock_filter_is_the_fragment_the_stock_query_expects() -> None:
    assert "{real_stock_filter}" in (QUERIES["stock"].sql or "")
    assert REAL_STOCK_FILTER.startswith("AND s.")
