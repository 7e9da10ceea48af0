"""Products: Fastmag product sheets and variants → LNB `/multi/fabrics`, then `/multi/products`.

read (one query: sheets joined to variants) → group (models, colours, sizes in Fastmag order; settings'
filters) → map (fabrics = colour × material; product = model with categories, collection, sizing; variants by
colour; SKUs by size with EAN13 and SKU) → diff (content hash per fabric code and per model) → send fabrics
first, then products (only what changed) → record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from connector.ean import is_valid_ean13
from connector.errors import describe
from connector.fastmag.reads import CatalogueTable
from connector.flows.catalogue import (
    Line,
    Row,
    Sheet,
    collection_of,
    fabric_name,
    group_catalogue,
    outline_models,
    sizing_name,
    slug,
)
from connector.flows.context import FlowContext
from connector.flows.source import Skip, text, variant_label
from connector.flows.sync import Outgoing, record_skips, synchronise
from connector.lenewblack.models import Fabric, Product
from connector.observability import logger
from connector.settings import Settings
from connector.state import digest, payload_digest

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


# What pydantic's `str_strip_whitespace` strips (Unicode White_Space, as Rust's `str::trim`): a SKU stripped of
# exactly these is the value validation would give, so a payload built from stripped text needs no validation.
_TRIM = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def _skus(lines: list[Line], *, settings: Settings, seen_eans: set[str], export: ProductExport) -> list[dict[str, str]]:
    """SKU fields per size, without the fields left unset: validated with the whole product where they need it."""
    skus: list[dict[str, str]] = []
    sku_format = settings.sku_format
    for size, ean13, row in lines:
        problem = None
        if not ean13:
            problem = "no EAN13 in Fastmag"
        elif not is_valid_ean13(ean13):
            problem = f"invalid EAN13 checksum {ean13}"
        elif ean13 in seen_eans:
            problem = f"EAN13 {ean13} is already on another variant"
        if problem:
            label = variant_label(row)
            export.notices.append(
                Notice(
                    "record.incomplete",
                    label,
                    f"{problem}: SKU {label} sent without EAN13, {NO_WAY_BACK}",
                    f"SKU sent without a valid EAN13: {NO_WAY_BACK}",
                )
            )
            sku = {"size_name": size}
        else:
            seen_eans.add(ean13)
            sku = {"size_name": size, "ean13": ean13}
        code = sku_format.format_map(row)
        if code:
            sku["sku"] = code.strip(_TRIM)
        skus.append(sku)
    return skus


def _unsendable(sheet: Sheet, settings: Settings) -> str | None:
    """Why a model's sheet cannot make a product (its fields alone, before its variants), or None."""
    field_name = settings.products.categories.category_field
    if not text(sheet.row, "designation"):
        return "no designation in Fastmag"
    if not _category(sheet, field_name, settings):
        return f"no category: Fastmag field {field_name!r} is empty"
    if not text(sheet.row, "season"):
        return "no season in Fastmag: the collection comes from it"
    return None


def fabrics_of(sheets: Iterable[Sheet], settings: Settings) -> dict[str, dict[str, Any]]:
    """The fabric payloads the products of `sheets` point to, known before any product is mapped, so that they
    reach LNB first while the products are mapped as they are sent."""
    fabrics: dict[str, dict[str, Any]] = {}
    for sheet in sheets:
        if _unsendable(sheet, settings) is not None:
            continue
        material, codes = sheet.material, set()
        for colour in sheet.colours:
            code = sheet.fabric_code(colour)
            if code in codes:  # a second colour giving the same code is skipped by the product
                continue
            codes.add(code)
            if code in fabrics:
                continue
            try:
                fabrics[code] = Fabric(
                    code=code,
                    name=fabric_name(colour, material),
                    material_code=slug(material) or None,
                    color_code=slug(colour) or None,
                    color_name=colour,
                ).payload()
            except ValidationError:  # its product, which carries the same text, is skipped with the reason
                break
    return fabrics


def _product(
    sheet: Sheet, settings: Settings, seen_eans: set[str], export: ProductExport
) -> tuple[dict[str, Any], str] | str:
    """The LNB product payload of one model and its digest, or why it cannot be sent."""
    unsendable = _unsendable(sheet, settings)
    if unsendable is not None:
        return unsendable
    row = sheet.row
    mapping = settings.products.categories
    material = sheet.material
    composition, description = text(row, "composition"), text(row, "description")
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
        skus = _skus(lines, settings=settings, seen_eans=seen_eans, export=export)
        if not any("ean13" in sku for sku in skus):
            export.notices.append(
                Notice(
                    "record.incomplete",
                    f"{sheet.reference}/{code}",
                    f"variant {sheet.reference}/{colour} has no valid EAN13: exported, but {NO_WAY_BACK}",
                    f"variant without any valid EAN13 exported: {NO_WAY_BACK}",
                )
            )
        # The fields in the order of the model (and of its dump), the unset ones left out.
        variant: dict[str, Any] = {"fabric_code": code, "fabric_name": fabric_name(colour, material)}
        variant["reference"] = sheet.reference
        if color_code := slug(colour):
            variant["fabric_color_code"] = color_code
        variant["fabric_color_name"] = colour
        if composition:
            variant["composition"] = composition
        if description:
            variant["description"] = description
        variant["skus"] = skus
        variants.append(variant)
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
    collection = collection_of(text(row, "season"), settings)
    product: dict[str, Any] = {
        "model": sheet.reference,
        "name": text(row, "designation"),
        "category_name": _category(sheet, mapping.category_field, settings),
        "collection_code": collection.code,
        "collection_name": collection.name,
        "sizing_name": sizing_name(sheet.sizes),
        "sizing_sizes": sheet.sizes,
        "variants": variants,
    }
    for name, field_name in (
        ("sub_category_name", mapping.sub_category_field),
        ("sub_sub_category_name", mapping.sub_sub_category_field),
    ):
        if (value := _category(sheet, field_name, settings)) is not None:
            product[name] = value
    return _validated(product)


def _validated(product: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The payload `Product` validation gives, and its digest: `product` itself where validation would change
    nothing, which holds for any product of stripped Fastmag text (the model's own checks, e.g. every size in the
    sizing, hold by construction); pydantic's own answer (or ValidationError) otherwise."""
    plain = bool(product["model"]) and all(
        _stripped(product[name]) for name in ("category_name", "collection_code", "collection_name")
    )
    if plain and all(_stripped(product.get(name) or "x") for name in ("sub_category_name", "sub_sub_category_name")):
        try:
            return product, digest(product)  # no None at any depth: the digest `payload_digest` gives
        except UnicodeEncodeError:  # a lone surrogate, which validation refuses
            pass
    payload = Product.model_validate(product).payload()
    return payload, payload_digest(payload)


def _stripped(value: str) -> bool:
    return bool(value) and value == value.strip()  # Python's strip removes all `_TRIM` does, and more


def mapped_products(
    sheets: Iterable[Sheet], settings: Settings, export: ProductExport
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Model by model, in Fastmag order: `(model, product payload, its digest)`, the skips and notices added to
    `export`."""
    seen_eans: set[str] = set()  # across products, in Fastmag order: the first variant keeps an EAN13
    for sheet in sheets:
        try:
            product = _product(sheet, settings, seen_eans, export)
        except ValidationError as error:
            product = f"not a valid Le New Black product: {describe(error)}"
        if isinstance(product, str):
            export.skipped.append(Skip(sheet.reference, product))
        else:
            yield sheet.reference, *product


def _drained(sheets: list[Sheet]) -> Iterator[Sheet]:
    """`sheets` in order, each let go once taken: the catalogue's lines and its payloads are never both held whole."""
    sheets.reverse()
    while sheets:
        yield sheets.pop()


def map_products(rows: Iterable[Row], settings: Settings) -> ProductExport:
    """Pure: rows of the products query → fabric and product payloads, skips with reasons, notices."""
    catalogue = group_catalogue(rows, settings)
    export = ProductExport(skipped=list(catalogue.skipped), left_out=catalogue.left_out)
    export.fabrics = fabrics_of(catalogue.sheets, settings)
    export.products = {model: payload for model, payload, _ in mapped_products(catalogue.sheets, settings, export)}
    return export


def _counted(ctx: FlowContext, pages: Iterable[list[Row]]) -> Iterator[Row]:
    """The rows of every page, each page counted as read when it arrives (and let go once grouped)."""
    for page in pages:
        ctx.run.count("read", len(page))
        yield from page
        del page  # not held while the next page is read


def _report(ctx: FlowContext, export: ProductExport) -> None:
    """Record the skips and notices the mapping added since the last call."""
    record_skips(ctx, export.skipped)
    for notice in export.notices:
        ctx.run.warned(notice.key, notice.reason, event=notice.event, summary=notice.summary)
    export.skipped.clear()
    export.notices.clear()


def _catalogue(ctx: FlowContext, export: ProductExport) -> tuple[dict[str, dict[str, Any]], Iterator[Sheet]]:
    """The fabrics the products need, and the models to map, grouped as they are taken.

    Read in one answer with each model's rows consecutive (the default query's order), the catalogue is outlined
    in one light pass, which is all the fabrics need: they go to LNB while the models are still to group, and each
    model is grouped as the client takes its product, while earlier batches wait on LNB. Otherwise (read page by
    page, or in another order), every row is grouped first."""
    settings = ctx.settings
    table = ctx.reads.catalogue_table()
    if table is not None:
        ctx.run.count("read", len(table.table.records))
    outline = None if table is None else outline_models(table, settings)
    if outline is not None and table is not None:
        left_out, sheets, models = outline.left_out, outline.sheets, _grouped(table, outline.runs, settings, export)
    else:
        pages = _counted(ctx, ctx.reads.catalogue_pages()) if table is None else table.rows()
        catalogue = group_catalogue(pages, settings)
        export.skipped += catalogue.skipped
        left_out, sheets, models = catalogue.left_out, catalogue.sheets, _drained(catalogue.sheets)
    if left_out:
        logger.info(
            f"{left_out} models left out by the settings (inactive, or not in products.seasons)",
            extra={"event": "products.filtered", "left_out": left_out},
        )
    return fabrics_of(sheets, settings), models


def _grouped(
    table: CatalogueTable, runs: list[tuple[int, int]], settings: Settings, export: ProductExport
) -> Iterator[Sheet]:
    """Each model of `runs` grouped when taken, its skipped rows added to `export`."""
    for start, stop in runs:
        catalogue = group_catalogue(table.rows(start, stop), settings)
        export.skipped += catalogue.skipped
        yield from catalogue.sheets


def run(ctx: FlowContext) -> None:
    export = ProductExport()
    fabrics, sheets = _catalogue(ctx, export)
    _report(ctx, export)

    # Fabrics first: a product's variants point to them by code.
    fabric_items = [Outgoing(code, payload, {"what": payload.get("name")}) for code, payload in fabrics.items()]
    synchronise(ctx, "fabrics", fabric_items, ctx.snapshots.load("products-fabrics"))

    # Products mapped model by model as the client takes them: the mapping runs while earlier batches wait on LNB.
    def items() -> Iterator[Outgoing]:
        for model, payload, known in mapped_products(sheets, ctx.settings, export):
            _report(ctx, export)
            fields = {"variants": len(payload["variants"]), "what": payload["name"]}
            yield Outgoing(model, payload, log_fields=fields, known_digest=known)
        _report(ctx, export)

    synchronise(ctx, "products", items(), ctx.snapshots.load("products"), stream=True)
