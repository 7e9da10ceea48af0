"""A configured Fastmag query is read against its column contract (`connector/fastmag/queries.py`): an answer
lacking a required alias fails the run with the setting's name and the alias, before anything reaches LNB."""

from __future__ import annotations

import pytest

from connector.fastmag.queries import QUERIES
from sandbox.stack import LocalStack
from tests.integration.flows import run_flow


def renamed(query: str, alias: str) -> str:
    """The default SQL with one alias misspelled, as an integrator's own SQL might have it."""
    sql = QUERIES[query].sql
    assert sql is not None and sql.count(f" AS {alias},") + sql.count(f" AS {alias} ") == 1
    return sql.replace(f" AS {alias}", f" AS {alias}_x", 1)


@pytest.mark.parametrize(
    ("flow", "query", "alias"),
    [
        ("stock", "stock", "variant_id"),
        ("products", "products", "season"),
        ("prices", "prices", "price"),
        ("prices", "products", "ean13"),
        ("customers", "customers", "tariff"),
        ("customers", "addresses", "name"),
    ],
)
def test_a_query_lacking_a_required_alias_fails_the_run_naming_the_query_and_the_alias(
    stack: LocalStack, flow: str, query: str, alias: str
) -> None:
    stack.configure({"fastmag": {"queries": {query: renamed(query, alias)}}})
    result = run_flow(stack, flow)
    assert result["status"] == "failed"
    assert f"fastmag.queries.{query}: " in result["message"]
    assert f"lacks column(s) ['{alias}']" in result["message"]
    assert stack.lnb.data_calls() == []


def test_an_optional_alias_may_be_missing(stack: LocalStack) -> None:
    stack.configure({"fastmag": {"queries": {"customers": renamed("customers", "family")}}})
    assert run_flow(stack, "customers")["status"] in {"succeeded", "partial"}
    assert stack.lnb.retailers


def test_an_optional_alias_becomes_required_when_a_setting_needs_it(stack: LocalStack) -> None:
    queries = {"customers": renamed("customers", "family")}
    stack.configure({"customers": {"families": ["REVENDEUR"]}, "fastmag": {"queries": queries}})
    result = run_flow(stack, "customers")
    assert result["status"] == "failed"
    assert "fastmag.queries.customers: " in result["message"] and "lacks column(s) ['family']" in result["message"]
    assert stack.lnb.data_calls() == []
