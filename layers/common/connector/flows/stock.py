"""Stock: Fastmag available-to-sell → LNB `/multi/inventory/ean` or `/multi/inventory/sku`.

read (one query over the configured stores) → map (sum per variant − safety buffer, clamped at 0, keyed by
EAN13 or SKU) → diff (against the quantities LNB last accepted) → guard (hold a push that would zero too
much) → send (only what changed) → record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from connector.ean import is_valid_ean13
from connector.fastmag.queries import REAL_STOCK_FILTER, STOCK
from connector.fastmag.sql import Raw, render
from connector.fastmag.wire import parse_decimal
from connector.flows.context import FlowContext
from connector.flows.source import Skip, sku_of
from connector.flows.sync import Outgoing, synchronise
from connector.observability import log_record
from connector.settings import Settings

RESOURCES = {"ean13": "inventory/ean", "sku": "inventory/sku"}


@dataclass
class StockLevels:
    """Available-to-sell per key, and the rows that could not be keyed or counted."""

    quantities: dict[str, int] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)


def available_to_sell(rows: Iterable[Mapping[str, str]], settings: Settings) -> StockLevels:
    """Pure mapping of the stock query's rows (already summed per variant) to LNB quantities."""
    levels = StockLevels()
    key_mode = settings.stock.key
    buffer = settings.stock.safety_buffer
    separator = settings.fastmag.wire.decimal_separator
    for row in rows:
        variant = f"{row.get('reference', '')}/{row.get('colour', '')}/{row.get('size', '')}"
        ean13 = (row.get("ean13") or "").strip()
        where = {"variant": variant}
        if not (row.get("variant_id") or "").strip():
            levels.skipped.append(Skip(ean13 or variant, "unknown variant: stock row not in Fastmag products", where))
            continue
        if key_mode == "ean13":
            if not ean13:
                levels.skipped.append(Skip(variant, "variant has no EAN13 in Fastmag", where))
                continue
            if not is_valid_ean13(ean13):
                levels.skipped.append(Skip(ean13, "invalid EAN13 checksum", where))
                continue
            key = ean13
        else:
            key = sku_of(settings, row)
        text = row.get("quantity") or "0"
        try:
            # Whole quantities are the rule: read them without the general decimal parser (100 000 rows a run).
            total = Decimal(int(text)) if text.isascii() and text.isdigit() else parse_decimal(text, separator)
        except (ValueError, InvalidOperation):
            levels.skipped.append(Skip(key, "unreadable quantity", {**where, "quantity": row.get("quantity", "")}))
            continue
        if total < 0:
            levels.skipped.append(Skip(key, "negative stock in Fastmag", {**where, "quantity": str(total)}))
            continue
        if key in levels.quantities:
            levels.skipped.append(Skip(key, f"{key_mode} shared by several variants", where))
            continue
        levels.quantities[key] = max(int(total.to_integral_value(rounding="ROUND_FLOOR")) - buffer, 0)
    return levels


def _payload(key_mode: str, key: str, quantity: int) -> dict[str, object]:
    return {"ean13" if key_mode == "ean13" else "sku": key, "in_stock": quantity}


def run(ctx: FlowContext) -> None:
    settings = ctx.settings
    stock = settings.stock
    sql = render(
        settings.fastmag.queries.stock,
        stores=list(stock.stores),
        real_stock_filter=Raw(REAL_STOCK_FILTER if stock.real_stock_only else ""),
    )
    rows = ctx.fastmag.query(sql, contract=STOCK)
    ctx.run.count("read", len(rows))
    levels = available_to_sell(rows, settings)
    for skip in levels.skipped:
        ctx.run.skipped(skip.key, skip.reason, **skip.detail)

    snapshot = ctx.snapshots.load(f"stock-{stock.key}")
    previous = {key: int(quantity) for key, quantity in snapshot.entries.items()}
    skipped_keys = {skip.key for skip in levels.skipped}
    # A key that left Fastmag's stock answer has no stock any more: LNB must not keep selling it.
    vanished = {
        key: 0
        for key, quantity in previous.items()
        if key not in levels.quantities and key not in skipped_keys and quantity > 0
    }
    targets = {**levels.quantities, **vanished}
    # A generator: items are diffed as they are made, so the unchanged ones are never all held at once.
    items = (
        Outgoing(
            key,
            _payload(stock.key, key, quantity),
            log_fields={"old": previous.get(key), "new": quantity},
            fingerprint=str(quantity),
        )
        for key, quantity in targets.items()
    )

    positive = sum(1 for quantity in previous.values() if quantity > 0)
    would_zero = sum(1 for key, quantity in targets.items() if quantity == 0 and previous.get(key, 0) > 0)
    if positive and would_zero / positive > stock.zero_guard_share and not ctx.run.request.force:
        message = (
            f"stock push held: it would set {would_zero} of {positive} positive SKUs to zero "
            f"({would_zero / positive:.0%} > {stock.zero_guard_share:.0%}); check Fastmag, then run with force"
        )
        ctx.run.hold(message)
        log_record("stock.guard.held", "stock", reason=message, level="ERROR", new=would_zero, old=positive)
        return
    synchronise(ctx, RESOURCES[stock.key], items, snapshot)
