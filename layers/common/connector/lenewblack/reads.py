"""Le New Black's list reads, typed for what the connector checks (readiness); nothing here writes.

Each read is one paginated list (lenewblack-api.md §1.4: 500 per page, a bare array), so a whole account costs
a call per 500 rows: the product list already carries every variant with its image slots and category names,
which saves a call per product colour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.lenewblack.client import LeNewBlackClient

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
    """The list reads of one LNB account."""

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
