"""The readiness checks, pure: what both sides hold now → the problems, each with its key and what to do.

Each function takes what the flow (flows/readiness.py) read and returns `Item`s of one or two checks. They
map Fastmag rows with the same code the export flows use, so a key here is the key those flows send.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from connector.ean import is_valid_ean13
from connector.fastmag.reads import StockRow, Unreadable
from connector.flows.catalogue import Catalogue, Row, collection_of, fabric_code
from connector.flows.customers import Retailers
from connector.flows.image_files import PREFIX as IMAGES
from connector.flows.images import NO_IMAGE
from connector.flows.prices import PriceExport, unknown_price_list
from connector.flows.products import NO_WAY_BACK, ProductExport
from connector.flows.readiness_report import Item
from connector.flows.source import text, variant_label
from connector.ledger import LedgerEntry
from connector.lenewblack.reads import LnbOrder, LnbProduct
from connector.settings import Settings

ALIGN = "align it with Fastmag before the first run, or the connector creates a second one next to it"


# --- retailers and customers ----------------------------------------------------------------------------------


def retailers(lnb_references: set[str], fastmag_ids: set[str], mapped: Retailers) -> list[Item]:
    """LNB retailers no Fastmag customer backs, and Fastmag B2B customers LNB does not hold, with why."""
    items = [
        Item(
            "retailer_unknown",
            reference,
            f"no Fastmag customer has id {reference}: orders of this retailer will block",
            "give the retailer the Fastmag customer id as its reference in Le New Black, or create the customer",
        )
        for reference in sorted(lnb_references - fastmag_ids)
    ]
    for skip in sorted(mapped.skipped, key=lambda skip: skip.key):
        if skip.key not in lnb_references:
            action = "fix the customer in Fastmag; the next customers run sends it"
            items.append(Item("customer_missing", skip.key, f"not sent: {skip.reason}", action))
    for reference in sorted(set(mapped.items) - lnb_references):
        action = "run customers (the export button or `connector run customers`)"
        items.append(Item("customer_missing", reference, "not sent yet: it is ready to send", action))
    return items


# --- EAN13 ----------------------------------------------------------------------------------------------------


def _in_stock(stock: Iterable[StockRow]) -> set[tuple[str, str, str]]:
    return {
        (text(row, "reference"), text(row, "colour"), text(row, "size"))
        for row in stock
        if not isinstance(quantity := row.get("quantity"), Unreadable) and quantity is not None and quantity > 0
    }


def eans(catalogue: Catalogue, stock: Iterable[StockRow]) -> list[Item]:
    """Sellable variants (in stock in the configured stores, in an exported model) without a valid EAN13, and
    EAN13s that more than one exported variant carries."""
    sellable = _in_stock(stock)
    items: list[Item] = []
    carriers: dict[str, list[str]] = defaultdict(list)
    for sheet in catalogue.sheets:
        for colour, lines in sheet.colours.items():
            for line in lines:
                if is_valid_ean13(line.ean13):
                    carriers[line.ean13].append(variant_label(line.row))
                elif (sheet.reference, colour, line.size) in sellable:
                    problem = f"invalid EAN13 checksum {line.ean13}" if line.ean13 else "no EAN13 in Fastmag"
                    items.append(
                        Item(
                            "ean_invalid",
                            variant_label(line.row),
                            f"{problem}: in stock, but {NO_WAY_BACK}",
                            "set the variant's EAN13 (gencod) in Fastmag",
                        )
                    )
    for ean13, labels in sorted(carriers.items()):
        if len(labels) > 1:
            problem = f"EAN13 {ean13} is on {len(labels)} variants: {', '.join(labels)}"
            action = "give each variant its own EAN13 in Fastmag; orders cannot tell them apart"
            items.append(Item("ean_shared", ean13, problem, action))
    return items


# --- prices and images ----------------------------------------------------------------------------------------


def price_lists(refusals: Mapping[str, str | None]) -> list[Item]:
    """Mapped price lists the last prices or customers run saw refused (`refusals`: code → `N × reason`)."""
    return [
        Item(
            "price_list_unknown",
            code,
            f"{unknown_price_list(code)} (refused by Le New Black in the last run: {refusal})",
            f"ask your account manager to create {code}, or map the tariff to an existing list (tariff_price_lists)",
        )
        for code, refusal in sorted(refusals.items())
        if refusal is not None
    ]


def missing_prices(export: PriceExport, settings: Settings) -> list[Item]:
    """Exported product colours (or sizes) the prices flow leaves out of a mapped list for want of a price."""
    codes = tuple(f"{code}|" for code in settings.tariff_price_lists.values())
    return [
        Item("price_missing", skip.key, skip.reason, "set a non-zero price for it in that Fastmag tariff")
        for skip in export.skipped
        if skip.key.startswith(codes) and skip.reason.startswith(("no price", "zero price"))
    ]


def images(products: ProductExport, lnb: Sequence[LnbProduct], staged: Iterable[str]) -> list[Item]:
    """Exported product colours LNB shows no image for; with why: nothing staged, or staged but not uploaded."""
    shown = {(product.model, variant.fabric_code) for product in lnb for variant in product.variants if variant.images}
    in_lnb = {product.model for product in lnb}
    folders = {key[len(IMAGES) :].rsplit("/", 1)[0] for key in staged if key.startswith(IMAGES)}
    items: list[Item] = []
    for model, payload in products.products.items():
        for variant in payload["variants"]:
            code = variant["fabric_code"]
            if (model, code) in shown:
                continue
            colour = f"{model}/{code}"
            if model not in in_lnb:
                problem = "the product is not in Le New Black yet, so neither are its images"
                action = "run products, then images"
            elif colour in folders:
                problem = "its photos are staged but Le New Black has none: the upload failed or has not run"
                action = "see the images failure queue and the upload_images log for this colour"
            else:
                problem = f"{NO_IMAGE} (or the images export has not run since the colour was added)"
                action = f"add the photos in Fastmag (or drop files under {IMAGES}{colour}/), then run images"
            items.append(Item("image_missing", colour, problem, action))
    return items


# --- orders ---------------------------------------------------------------------------------------------------


def blocked_orders(orders: Iterable[LnbOrder], ledger: Mapping[str, LedgerEntry]) -> list[Item]:
    """Orders in LNB's blocked status, oldest first, with the ledger's reason when the connector blocked them."""
    items = []
    for order in sorted(orders, key=lambda order: (order.created or order.updated, order.reference)):
        entry = ledger.get(order.reference)
        since = f" since {order.created}" if order.created else ""
        if entry is not None and entry.reason:
            problem = f"blocked{since}: {entry.reason}"
            action = f"fix the cause, then resolve it: `connector order {order.reference} --resolve …`"
        else:
            problem = f"blocked{since} in Le New Black, not by the connector"
            action = "see the order in Le New Black; move it back to invoicing once it can be imported"
        items.append(Item("order_blocked", order.reference, problem, action))
    return items


def stuck_orders(entries: Iterable[LedgerEntry], now: datetime, settle_seconds: float) -> list[Item]:
    """Ledger entries still `sent` past the settle time: a write may be in Fastmag, nobody knows."""
    items = []
    settled = now - timedelta(seconds=settle_seconds)
    for entry in sorted(entries, key=lambda entry: (entry.sent_at or "", entry.reference)):
        sent = entry.sent_time()
        if sent is not None and sent > settled:
            continue  # a run is still deciding it
        problem = f"sent to Fastmag at {entry.sent_at or 'an unknown time'}, outcome unknown"
        if entry.reason:
            problem += f": {entry.reason}"
        action = (
            f"look for it in Fastmag, then `connector order {entry.reference} --resolve exported --fastmag-number N` "
            "or `--resolve resend`"
        )
        items.append(Item("order_stuck", entry.reference, problem, action))
    return items


# --- first-run identifier audit -------------------------------------------------------------------------------


def fastmag_keys(rows: Iterable[Row], products: ProductExport, settings: Settings) -> dict[str, set[str]]:
    """Every key the catalogue flows could send: collection codes, models, fabric codes (from every catalogue
    row, left-out models included: LNB holding those is no duplicate) and the category names sent."""
    keys: dict[str, set[str]] = {"collections": set(), "models": set(), "fabrics": set(), "categories": set()}
    seasons: set[str] = set()
    for row in rows:
        keys["models"].add(text(row, "reference"))
        seasons.add(text(row, "season"))
        keys["fabrics"].add(fabric_code(text(row, "colour"), text(row, "material")))
    keys["collections"] = {collection_of(season, settings).code for season in seasons if season}
    for payload in products.products.values():
        for field in ("category_name", "sub_category_name", "sub_sub_category_name"):
            if payload.get(field):
                keys["categories"].add(str(payload[field]))
    return keys


def audit(
    keys: Mapping[str, set[str]], lnb: Sequence[LnbProduct], collections: set[str], fabrics: set[str]
) -> list[Item]:
    items = [
        Item("collection_unmatched", code, f"no Fastmag season gives collection code {code}", ALIGN)
        for code in sorted(collections - keys["collections"])
    ]
    items += [
        Item("product_unmatched", product.model, f"no Fastmag reference is model {product.model}", ALIGN)
        for product in sorted(lnb, key=lambda product: product.model)
        if product.model not in keys["models"]
    ]
    items += [
        Item("fabric_unmatched", code, f"no Fastmag colour and material give fabric code {code}", ALIGN)
        for code in sorted(fabrics - keys["fabrics"])
    ]
    seen: dict[str, list[str]] = defaultdict(list)
    for product in lnb:
        for name in product.categories:
            seen[name].append(product.model)
    for name in sorted(set(seen) - keys["categories"]):
        models = seen[name]
        items.append(
            Item(
                "category_unmapped",
                name,
                f"no Fastmag family maps to category {name!r} (on {len(models)} product(s), e.g. {models[0]})",
                "map the Fastmag family to it in products.categories.names, or rename it in Le New Black",
            )
        )
    return items
