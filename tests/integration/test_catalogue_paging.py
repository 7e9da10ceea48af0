"""Products and prices read in keyset pages (`fastmag.page_rows`) make the very payloads one query makes."""

from __future__ import annotations

import pytest

from sandbox.stack import LocalStack
from tests.integration.test_products import export

PAGE_ROWS = 29  # a model has about twelve variants: most pages end inside a model


@pytest.mark.parametrize("flow", ["products", "prices"])
def test_a_paged_export_finds_every_payload_unchanged_from_the_one_query_export(stack: LocalStack, flow: str) -> None:
    if flow == "prices":
        export(stack, "products")  # LNB refuses a price for a variant it does not hold
    first = export(stack, flow)
    assert first["counters"]["accepted"] > 0
    stack.configure({"fastmag": {"page_rows": PAGE_ROWS}})
    stack.fastmag.requests.clear()
    stack.lnb.clear_requests()
    paged = export(stack, flow)
    # Every payload digest equals the one LNB accepted from the one-query read: nothing to send.
    assert stack.lnb.data_calls() == []
    assert paged["counters"]["sent"] == 0
    assert paged["counters"]["read"] == first["counters"]["read"]
    assert len([r for r in stack.fastmag.requests if "fastmag_page" in r.params["data"]]) > 10
