"""Le New Black's current state, read for reconciliation (lenewblack-api.md §1.4, §2.2, §2.7–2.9).

Inventory comes whole in one call (not paginated); products (with their variants and SKUs) and retailers (with
their addresses and buyers) come page by page; prices come one model and fabric code per call, the only way the
API offers. Rows are returned as LNB answers them: comparing them with what the connector sends is the
comparison projections' job (flows/reconcile_projections.py), never the client's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connector.errors import LeNewBlackError
from connector.lenewblack.client import LeNewBlackClient

type Row = dict[str, Any]


class LeNewBlackReads:
    """The reconciliation reads, over the client's transport (token, retries, paging)."""

    def __init__(self, client: LeNewBlackClient) -> None:
        self._client = client

    def reconcile_inventory(self) -> list[Row]:
        """Every stock row (`GET /inventory`: one call, a bare array)."""
        return _rows(self._client.get("/inventory"), "/inventory")

    def reconcile_product_pages(self) -> Iterator[list[Row]]:
        """Products with their variants and SKUs (`GET /products`), a page at a time."""
        return self._client.iter_pages("/products")

    def reconcile_retailer_pages(self) -> Iterator[list[Row]]:
        """Retailers with their addresses and buyers (`GET /retailers`), a page at a time."""
        return self._client.iter_pages("/retailers")

    def reconcile_variant_prices(self, model: str, fabric_code: str) -> list[Row]:
        """The prices of one variant in every price list (`GET /prices?product_model=&fabric_code=`)."""
        body = self._client.get("/prices", {"product_model": model, "fabric_code": fabric_code})
        return _rows(body, "/prices")


def _rows(body: Any, path: str) -> list[Row]:
    if not isinstance(body, list):
        raise LeNewBlackError(f"GET {path}: expected a JSON array, got {type(body).__name__}")
    return [row for row in body if isinstance(row, dict)]
