"""An apply sends exactly its preview or nothing: the check in connector/flows/sync.py, without AWS."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from connector.flows.sync import Outgoing, check_preview_still_holds
from connector.previews import PreviewOutdated
from connector.state import Snapshot

ITEMS = [Outgoing("3000000000017", {"in_stock": 4}, fingerprint="4"), Outgoing("j.doe@example.fr", {"x": 1})]


def preview(base: str, items: list[Outgoing], resource: str = "inventory/ean") -> list[dict[str, Any]]:
    from connector.observability import masked

    lines: list[dict[str, Any]] = [{"summary": {"new": len(items)}, "base": {resource: base}}]
    lines += [{"resource": resource, "key": i.key, "digest": i.digest, "payload": i.payload} for i in items]
    lines.append({"key": "bad", "change": "skipped", "reason": "invalid EAN13 checksum"})
    return [masked(line) for line in lines]  # as PreviewStore stores them


def context(lines: list[dict[str, Any]]) -> Any:
    previews = SimpleNamespace(read=lambda run_id: iter(lines) if run_id == "stock-preview" else iter(()))
    return SimpleNamespace(services=SimpleNamespace(previews=previews))


def check(lines: list[dict[str, Any]], changed: list[Outgoing], version: str | None = "etag-1") -> None:
    check_preview_still_holds(context(lines), "stock-preview", "inventory/ean", changed, Snapshot("stock", {}, version))


def test_the_same_data_passes() -> None:
    check(preview("etag-1", ITEMS), ITEMS)
    check(preview("empty", []), [], version=None)


@pytest.mark.parametrize(
    ("lines", "changed", "version"),
    [
        (preview("etag-0", ITEMS), ITEMS, "etag-1"),  # the snapshot moved
        (preview("etag-1", ITEMS), [ITEMS[0], Outgoing("j.doe@example.fr", {"x": 2})], "etag-1"),  # a new payload
        (preview("etag-1", ITEMS), ITEMS[:1], "etag-1"),  # a key no longer changes
        (preview("etag-1", ITEMS[:1]), ITEMS, "etag-1"),  # a key changes that the preview did not show
        (preview("etag-1", ITEMS, resource="inventory/sku"), ITEMS, "etag-1"),  # another resource
        ([], ITEMS, "etag-1"),  # no preview stored
    ],
)
def test_any_difference_refuses_with_the_reason(
    lines: list[dict[str, Any]], changed: list[Outgoing], version: str
) -> None:
    with pytest.raises(PreviewOutdated, match=r"^the data changed since preview stock-preview: run a new preview$"):
        check(lines, changed, version)


def test_each_resource_of_a_flow_is_checked_against_its_own_snapshot() -> None:
    """Products sends fabrics then products, each diffed with its own snapshot version."""
    fabric, product = Outgoing("NOIR_COTON", {"code": "NOIR_COTON"}), Outgoing("CH1", {"model": "CH1"})
    lines: list[dict[str, Any]] = [
        {"summary": {"new": 2}, "base": {"fabrics": "etag-fabrics", "products": "etag-products"}},
        {"resource": "fabrics", "key": fabric.key, "digest": fabric.digest},
        {"resource": "products", "key": product.key, "digest": product.digest},
    ]
    ctx = context(lines)
    check_preview_still_holds(ctx, "stock-preview", "fabrics", [fabric], Snapshot("fabrics", {}, "etag-fabrics"))
    check_preview_still_holds(ctx, "stock-preview", "products", [product], Snapshot("products", {}, "etag-products"))
    with pytest.raises(PreviewOutdated):
        check_preview_still_holds(ctx, "stock-preview", "products", [product], Snapshot("products", {}, "etag-fabrics"))
