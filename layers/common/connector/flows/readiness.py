"""Readiness (ReadinessFunction, daily, a button, the CLI): what will block orders or exports, before it does.

Reads both sides and writes to neither: Fastmag's catalogue, stock, prices and customers (the export flows'
own queries and mapping, so a key here is the key they send); Le New Black's retailers, products (with their
variants' image slots and category names), collections, fabrics and blocked orders, one list each (a call per
500 rows); the order ledger; the last prices and customers runs (LNB cannot list price lists). The report
(readiness_checks.py, one item per problem with its key, what is wrong and what to do) is stored in the staging
bucket (readiness_report.py), the count per check goes on the run record, and the total of blocking problems
is a metric the template alarms on when it grows from one report to the next.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from connector.flows import readiness_checks as checks
from connector.flows.catalogue import group_catalogue
from connector.flows.context import FlowContext
from connector.flows.customers import map_retailers
from connector.flows.image_files import PREFIX as IMAGES
from connector.flows.prices import map_prices, tariffs_to_read
from connector.flows.products import map_products
from connector.flows.readiness_report import METRIC, Item, ReportStore, blocking_total, counts, ordered
from connector.flows.refusals import price_list_refusal
from connector.flows.source import text
from connector.ledger import LedgerStatus
from connector.lenewblack.reads import LeNewBlackReads
from connector.observability import logger, metrics


def _refusals(ctx: FlowContext) -> dict[str, str | None]:
    codes = sorted(set(ctx.settings.tariff_price_lists.values()))
    try:
        return {code: price_list_refusal(ctx.services.runs, code) for code in codes}
    except (BotoCoreError, ClientError) as error:  # the report goes on; this one check says it could not tell
        logger.warning(f"run records unreadable, price lists not checked: {error}", extra={"event": "readiness.skip"})
        return {}


def _catalogue_items(ctx: FlowContext, lnb: LeNewBlackReads) -> list[Item]:
    settings = ctx.settings
    reads = ctx.reads
    rows = reads.catalogue_rows()
    stock = reads.stock_rows(settings.stock.stores, settings.stock.real_stock_only)
    price_rows = reads.price_rows(tariffs_to_read(settings))
    products = map_products(rows, settings)
    lnb_products = lnb.products()
    ctx.run.count("read", len(rows) + len(lnb_products))
    items = checks.eans(group_catalogue(rows, settings), stock)
    items += checks.price_lists(_refusals(ctx))
    items += checks.missing_prices(map_prices(rows, price_rows, settings), settings)
    items += checks.images(products, lnb_products, ctx.services.staging.files(IMAGES))
    keys = checks.fastmag_keys(rows, products, settings)
    items += checks.audit(keys, lnb_products, lnb.collection_codes(), lnb.fabric_codes())
    return items


def _customer_items(ctx: FlowContext, lnb: LeNewBlackReads) -> list[Item]:
    reads = ctx.reads
    customers = reads.customers()
    mapped = map_retailers(customers, reads.addresses(), reads.extra_buyers(), ctx.settings)
    references = lnb.retailer_references()
    ctx.run.count("read", len(customers) + len(references))
    fastmag_ids = {text(row, "customer_id") for row in customers}
    return checks.retailers(references, fastmag_ids, mapped)


def _order_items(ctx: FlowContext, lnb: LeNewBlackReads) -> list[Item]:
    blocked = lnb.orders(ctx.settings.lenewblack.order_statuses.blocked)
    ledger = ctx.services.ledger
    entries = {order.reference: entry for order in blocked if (entry := ledger.get(order.reference)) is not None}
    sent = list(ledger.with_status(LedgerStatus.SENT))
    ctx.run.count("read", len(blocked) + len(sent))
    settle = ctx.settings.orders.resend_settle_seconds
    return checks.blocked_orders(blocked, entries) + checks.stuck_orders(sent, datetime.now(UTC), settle)


def run(ctx: FlowContext) -> None:
    lnb = LeNewBlackReads(ctx.lnb)
    items = ordered(_customer_items(ctx, lnb) + _catalogue_items(ctx, lnb) + _order_items(ctx, lnb))
    found = counts(items)
    ctx.run.checks = found
    ReportStore(ctx.services.s3, ctx.services.bucket).write(ctx.run.run_id, items)
    total = blocking_total(found)
    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=total)
    logger.info(
        f"readiness: {len(items)} problem(s), {total} blocking",
        extra={"event": "readiness.finished", "blocking": total, **found},
    )
