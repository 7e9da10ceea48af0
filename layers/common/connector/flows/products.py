"""Products: Fastmag product sheets and variants → LNB `/multi/fabrics`, then `/multi/products`.

read (one query: sheets joined to variants) → group (models, colours, sizes in Fastmag order; settings'
filters) → map (fabrics = colour × material; product = model with categories, collection, sizing; variants by
colour; SKUs by size with EAN13 and SKU) → diff (content hash per fabric code and per model) → send fabrics
first, then products (only what changed) → record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from connector.ean import is_valid_ean13
from connector.errors import describe
from connector.flows.catalogue import (
    Line,
    Row,
    Sheet,
    collection_of,
    fabric_name,
    group_catalogue,
    sizing_name,
    slug,
)
from connector.flows.context import FlowContext
from connector.flows.source import Skip, sku_of, text, variant_label
from connector.flows.sync import Outgoing, record_skips, synchronise
from connector.lenewblack.models import Fabric, Product
from connector.observability import logger
from connector.settings import Settings

NO_WAY_BACK = "orders for it cannot come back"


@dataclass(frozen=True)
class Notice:
    """Something sent incomplete (e.g. a SKU without EAN13) or adjusted (a merged sizing), to log."""

    event: str
    key: str
    reason: str
    summary: str | None = None  # the line it adds to the run's warnings (its reason if None); not an error


@dataclass
class ProductExport:
    fabrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    left_out: int = 0


def _category(sheet: Sheet, field_name: str | None, settings: Settings) -> str | None:
    value = text(sheet.row, field_name)
    return settings.products.categories.names.get(value, value) or None


def _skus(
    sheet: Sheet, colour: str, lines: list[Line], *, settings: Settings, seen_eans: set[str], export: ProductExport
) -> list[dict[str, str | None]]:
    """SKU fields per size, validated with the whole product (one validation per product keeps 100 000 SKUs
    fast)."""
    skus: list[dict[str, str | None]] = []
    for line in lines:
        ean13 = line.ean13
        problem = None
        if not ean13:
            problem = "no EAN13 in Fastmag"
        elif not is_valid_ean13(ean13):
            problem = f"invalid EAN13 checksum {ean13}"
        elif ean13 in seen_eans:
            problem = f"EAN13 {ean13} is already on another variant"
        if problem:
            label = variant_label(line.row)
            export.notices.append(
                Notice(
                    "record.incomplete",
                    label,
                    f"{problem}: SKU {label} sent without EAN13, {NO_WAY_BACK}",
                    f"SKU sent without a valid EAN13: {NO_WAY_BACK}",
                )
            )
            ean13 = ""
        else:
            seen_eans.add(ean13)
        skus.append({"size_name": line.size, "ean13": ean13 or None, "sku": sku_of(settings, line.row) or None})
    return skus


def _product(sheet: Sheet, settings: Settings, seen_eans: set[str], export: ProductExport) -> Product | str:
    """The LNB product of one model, or why it cannot be sent."""
    row = sheet.row
    name = text(row, "designation")
    season = text(row, "season")
    mapping = settings.products.categories
    category = _category(sheet, mapping.category_field, settings)
    if not name:
        return "no designation in Fastmag"
    if not category:
        return f"no category: Fastmag field {mapping.category_field!r} is empty"
    if not season:
        return "no season in Fastmag: the collection comes from it"
    material = sheet.material
    variants: list[dict[str, Any]] = []
    codes: dict[str, str] = {}
    for colour, lines in sheet.colours.items():
        code = sheet.fabric_code(colour)
        if code in codes:
            export.skipped.append(
                Skip(f"{sheet.reference}/{colour}", f"colours {codes[code]!r} and {colour!r} give one fabric {code}")
            )
            continue
        codes[code] = colour
        export.fabrics.setdefault(
            code,
            Fabric(
                code=code,
                name=fabric_name(colour, material),
                material_code=slug(material) or None,
                color_code=slug(colour) or None,
                color_name=colour,
            ).payload(),
        )
        skus = _skus(sheet, colour, lines, settings=settings, seen_eans=seen_eans, export=export)
        if not any(sku["ean13"] for sku in skus):
            export.notices.append(
                Notice(
                    "record.incomplete",
                    f"{sheet.reference}/{code}",
                    f"variant {sheet.reference}/{colour} has no valid EAN13: exported, but {NO_WAY_BACK}",
                    f"variant without any valid EAN13 exported: {NO_WAY_BACK}",
                )
            )
        variants.append(
            {
                "fabric_code": code,
                "fabric_name": fabric_name(colour, material),
                "fabric_color_code": slug(colour) or None,
                "fabric_color_name": colour,
                "reference": sheet.reference,
                "composition": text(row, "composition") or None,
                "description": text(row, "description") or None,
                "skus": skus,
            }
        )
    if not variants:
        return "no variant left to send"
    disagreeing = sheet.disagreeing_colours()
    if disagreeing:
        export.notices.append(
            Notice(
                "product.sizing_merged",
                sheet.reference,
                f"colours {', '.join(disagreeing)} lack some sizes; sent with the union {sheet.sizes}",
            )
        )
    collection = collection_of(season, settings)
    return Product.model_validate(
        {
            "model": sheet.reference,
            "name": name,
            "category_name": category,
            "sub_category_name": _category(sheet, mapping.sub_category_field, settings),
            "sub_sub_category_name": _category(sheet, mapping.sub_sub_category_field, settings),
            "collection_code": collection.code,
            "collection_name": collection.name,
            "sizing_name": sizing_name(sheet.sizes),
            "sizing_sizes": sheet.sizes,
            "variants": variants,
        }
    )


def map_products(rows: Iterable[Row], settings: Settings) -> ProductExport:
    """Pure: rows of the products query → fabric and product payloads, skips with reasons, notices."""
    catalogue = group_catalogue(rows, settings)
    export = ProductExport(skipped=list(catalogue.skipped), left_out=catalogue.left_out)
    seen_eans: set[str] = set()
    # Each model let go once mapped: the catalogue's lines and its payloads are never both held whole.
    sheets = deque(catalogue.sheets)
    catalogue.sheets.clear()
    while sheets:
        sheet = sheets.popleft()
        try:
            product = _product(sheet, settings, seen_eans, export)
        except ValidationError as error:
            product = f"not a valid Le New Black product: {describe(error)}"
        if isinstance(product, str):
            export.skipped.append(Skip(sheet.reference, product))
        else:
            export.products[sheet.reference] = product.payload()
    return export


def _counted(ctx: FlowContext, pages: Iterable[list[Row]]) -> Iterator[Row]:
    """The rows of every page, each page counted as read when it arrives (and let go once grouped)."""
    for page in pages:
        ctx.run.count("read", len(page))
        yield from page
        del page  # not held while the next page is read


def run(ctx: FlowContext) -> None:
    export = map_products(_counted(ctx, ctx.reads.catalogue_pages()), ctx.settings)
    if export.left_out:
        logger.info(
            f"{export.left_out} models left out by the settings (inactive, or not in products.seasons)",
            extra={"event": "products.filtered", "left_out": export.left_out},
        )
    record_skips(ctx, export.skipped)
    for notice in export.notices:
        ctx.run.warned(notice.key, notice.reason, event=notice.event, summary=notice.summary)

    # Fabrics first: a product's variants point to them by code.
    fabrics = ctx.snapshots.load("products-fabrics")
    fabric_items = [Outgoing(code, payload, {"what": payload.get("name")}) for code, payload in export.fabrics.items()]
    synchronise(ctx, "fabrics", fabric_items, fabrics)
    products = ctx.snapshots.load("products")
    items = [
        Outgoing(model, payload, log_fields={"variants": len(payload["variants"]), "what": payload.get("name")})
        for model, payload in export.products.items()
    ]
    synchronise(ctx, "products", items, products)
