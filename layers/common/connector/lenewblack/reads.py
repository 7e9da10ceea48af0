"""Le New Black's reads: nothing here writes (lenewblack-api.md §1.4, §2.2, §2.7–2.9).

Readiness reads typed lists: each is one paginated list (500 per page, a bare array), so a whole account costs a
call per 500 rows; the product list already carries every variant with its image slots and category names, which
saves a call per product colour. Reconciliation reads LNB's current state as LNB answers it: inventory whole in
one call, fabrics, products and retailers page by page, prices (and prices by size) one model and fabric code per
call (the only way the API offers); comparing those rows with what the connector sends is the comparison
projections' job (flows/reconcile_projections.py), never the client's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.errors import LeNewBlackError

if TYPE_CHECKING:
    from connector.lenewblack.client import LeNewBlackClient

type Row = dict[str, Any]

IMAGE_SLOTS = 8  # image_1_url … image_8_url on a variant (lenewblack-api.md §2.2)
CATEGORY_FIELDS = ("category_name", "sub_category_name", "sub_sub_category_name")


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return str(value).strip() if value is not None else ""


@dataclass(frozen=True, slots=True)
class LnbVariant:
    fabric_code: str
    images: int  # filled image slots


@dataclass(frozen=True, slots=True)
class LnbProduct:
    model: str
    collection_code: str
    categories: tuple[str, ...]  # the category names it carries, at every level
    variants: tuple[LnbVariant, ...]


@dataclass(frozen=True, slots=True)
class LnbOrder:
    reference: str
    retailer_reference: str
    status: str
    created: str  # create_time as LNB wrote it ("" when absent)
    updated: str


def _product(row: Mapping[str, Any]) -> LnbProduct:
    variants = row.get("variants")
    return LnbProduct(
        model=_text(row, "model"),
        collection_code=_text(row, "collection_code"),
        categories=tuple(name for field in CATEGORY_FIELDS if (name := _text(row, field))),
        variants=tuple(
            LnbVariant(
                _text(variant, "fabric_code"),
                sum(1 for index in range(1, IMAGE_SLOTS + 1) if variant.get(f"image_{index}_url")),
            )
            for variant in (variants if isinstance(variants, list) else [])
            if isinstance(variant, dict)
        ),
    )


class LeNewBlackReads:
    """The reads of one LNB account: typed lists (readiness) and rows as LNB answers them (reconcile)."""

    def __init__(self, client: LeNewBlackClient) -> None:
        self._client = client

    def retailer_references(self) -> set[str]:
        return {reference for row in self._client.list_all("/retailers") if (reference := _text(row, "reference"))}

    def products(self) -> list[LnbProduct]:
        return [_product(row) for row in self._client.list_all("/products")]

    def collection_codes(self) -> set[str]:
        return {code for row in self._client.list_all("/collections") if (code := _text(row, "code"))}

    def fabric_codes(self) -> set[str]:
        return {code for row in self._client.list_all("/fabrics") if (code := _text(row, "code"))}

    def orders(self, status: str) -> list[LnbOrder]:
        return [
            LnbOrder(
                _text(row, "reference"),
                _text(row, "retailer_reference"),
                _text(row, "status"),
                _text(row, "create_time"),
                _text(row, "update_time"),
            )
            for row in self._client.list_orders(status)
        ]

    def reconcile_inventory(self) -> list[Row]:
        """Every stock row (`GET /inventory`: one call, a bare array)."""
        return _rows(self._client.get("/inventory"), "/inventory")

    def reconcile_product_pages(self) -> Iterator[list[Row]]:
        """Products with their variants and SKUs (`GET /products`), a page at a time."""
        return self._client.iter_pages("/products")

    def reconcile_retailer_pages(self) -> Iterator[list[Row]]:
        """Retailers with their addresses and buyers (`GET /retailers`), a page at a time."""
        return self._client.iter_pages("/retailers")

    def reconcile_fabric_pages(self) -> Iterator[list[Row]]:
        """Fabrics (colour × material; `GET /fabrics`), a page at a time."""
        return self._client.iter_pages("/fabrics")

    def reconcile_variant_prices(self, model: str, fabric_code: str, *, by_size: bool = False) -> list[Row]:
        """The prices of one variant in every price list (`GET /prices?product_model=&fabric_code=`), or its
        prices per size (`GET /prices_by_size?…`, same parameters)."""
        path = "/prices_by_size" if by_size else "/prices"
        body = self._client.get(path, {"product_model": model, "fabric_code": fabric_code})
        return _rows(body, path)


def _rows(body: Any, path: str) -> list[Row]:
    if not isinstance(body, list):
        raise LeNewBlackError(f"GET {path}: expected a JSON array, got {type(body).__name__}")
    return [row for row in body if isinstance(row, dict)]
