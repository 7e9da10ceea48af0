"""Reconcile: does Le New Black hold what the connector would send from Fastmag now? Report, and on request repair.

read LNB (inventory in one call; fabrics, products and retailers page by page; prices, and prices by size when
`prices.by_size` is on, one variant per call, for a sample of `reconcile.price_models` models, none by default)
→ compute what each flow would send now (the flows' own read and map functions) → compare each record through its
resource's projection (reconcile_projections.py) → report per resource: missing in LNB, different (field by field,
old → new), unknown to Fastmag (reported, never deleted) → with `repair`: send exactly the missing and different
records, and set the snapshot entry of every key found equal or repaired to the digest the flow itself keeps, so
the next delta runs start from the truth.

A repair takes the lock of every flow it may write for (waiting up to `reconcile.lock_wait_seconds` for a run
in progress) before it reads anything, so what it compares is what it repairs. It honours `preview`: the
records it would send are stored as the preview, and an apply sends them only if nothing moved since.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connector import runs
from connector.errors import ConnectorError
from connector.fastmag.reads import ProductRow
from connector.flows.context import FlowContext
from connector.flows.customers import SNAPSHOT as CUSTOMERS_SNAPSHOT
from connector.flows.customers import RefusedBuyers, map_retailers
from connector.flows.incoming_stock import incoming_stock
from connector.flows.prices import map_prices, tariffs_to_read
from connector.flows.products import map_products
from connector.flows.reconcile_projections import FABRICS, PRICES, PRODUCTS, RETAILERS, STOCK, Change, Projection
from connector.flows.stock import RESOURCES as STOCK_RESOURCES
from connector.flows.stock import available_to_sell, fingerprint, stock_payload
from connector.flows.sync import SNAPSHOT_SAVE_SECONDS, Outgoing, check_preview_still_holds, preview_items
from connector.lease import Heartbeat
from connector.lenewblack.reads import LeNewBlackReads, Row
from connector.observability import log_record, mask_email
from connector.settings import Flow
from connector.state import Snapshot

LOCK_POLL_SECONDS = 1.0
REPORT_SUFFIX = ".reconcile"  # the report is stored as previews/<run_id>.reconcile.jsonl.gz


def report_name(run_id: str) -> str:
    """The name the preview store keeps a run's drift report under (its run record's `report_key` points to it)."""
    return f"{run_id}{REPORT_SUFFIX}"


class LockWaitExpired(ConnectorError):
    """A flow's lock stayed taken longer than `reconcile.lock_wait_seconds`: nothing was repaired."""


@dataclass(frozen=True)
class Resource:
    """One reconciled resource: the flow that sends it (its lock and snapshot), where it is sent, how compared."""

    name: str
    flow: Flow
    snapshot: str
    send_to: str
    projection: Projection


@dataclass
class Findings:
    """One resource compared: what LNB lacks, holds otherwise, or holds unknown to Fastmag; what matches."""

    resource: Resource
    expected: dict[str, Outgoing]
    missing: list[str] = field(default_factory=list)
    different: dict[str, dict[str, Change]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    equal: list[str] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.different) + len(self.unknown)

    def to_send(self) -> list[Outgoing]:
        return [self.expected[key] for key in (*self.missing, *self.different)]

    def counts(self) -> dict[str, int]:
        return {
            "missing": len(self.missing),
            "different": len(self.different),
            "unknown": len(self.unknown),
            "equal": len(self.equal),
        }


def compare(resource: Resource, expected: Mapping[str, Outgoing], held: Mapping[str, Row]) -> Findings:
    """Pure: each expected record against LNB's (by key, through the resource's projection)."""
    findings = Findings(resource, dict(expected))
    for key, item in expected.items():
        row = held.get(key)
        if row is None:
            findings.missing.append(key)
            continue
        changes = resource.projection.differences(item.payload, row)
        if changes:
            findings.different[key] = changes
        else:
            findings.equal.append(key)
    findings.unknown = sorted(key for key in held if key not in expected)
    return findings


def _keyed(rows: Iterable[Row], *fields: str) -> dict[str, Row]:
    """LNB rows by their key (several fields joined by `|`, as the flows key them); a row lacking one is not ours."""
    result: dict[str, Row] = {}
    for row in rows:
        parts = [str(row.get(name) or "").strip() for name in fields]
        if all(parts):
            result["|".join(parts)] = row
    return result


# --- what the connector would send now (each flow's own read and map) ------------------------------------------


def expected_stock(ctx: FlowContext) -> dict[str, Outgoing]:
    stock = ctx.settings.stock
    levels = available_to_sell(ctx.reads.stock_rows(stock.stores, stock.real_stock_only), ctx.settings)
    incoming = incoming_stock(ctx)
    expected: dict[str, Outgoing] = {}
    for key, quantity in levels.quantities.items():
        variant_id = levels.variants[key]
        payload = incoming.payload(variant_id, stock_payload(stock.key, key, quantity))
        entry = incoming.fingerprint(variant_id, fingerprint(quantity, variant_id))
        expected[key] = Outgoing(key, payload, log_fields={"new": quantity}, fingerprint=entry)
    return expected


def expected_catalogue(catalogue: list[ProductRow], ctx: FlowContext) -> dict[str, dict[str, Outgoing]]:
    """The products and the fabrics they point to, as the products flow maps them (fabrics keyed by code)."""
    export = map_products(catalogue, ctx.settings)
    return {
        "products": {model: Outgoing(model, payload) for model, payload in export.products.items()},
        "fabrics": {code: Outgoing(code, payload) for code, payload in export.fabrics.items()},
    }


def expected_retailers(ctx: FlowContext, snapshot: Snapshot) -> dict[str, Outgoing]:
    reads = ctx.reads
    retailers = map_retailers(reads.customers(), reads.addresses(), reads.extra_buyers(), ctx.settings)
    # As the customers flow sends them: without the buyers LNB refused while their data is unchanged.
    refused = RefusedBuyers(ctx, snapshot)
    return {
        reference: Outgoing(reference, refused.payload(reference, retailer))
        for reference, retailer in retailers.items.items()
    }


def expected_prices(catalogue: list[ProductRow], ctx: FlowContext) -> dict[str, dict[str, Outgoing]]:
    """The variant prices and the prices by size, as the prices flow maps them."""
    price_rows = ctx.reads.price_rows(tariffs_to_read(ctx.settings))
    export = map_prices(catalogue, price_rows, ctx.settings)
    return {
        name: {key: Outgoing(key, payload) for key, payload in payloads.items()}
        for name, payloads in (("prices", export.prices), ("prices_by_size", export.prices_by_size))
    }


def price_sample(
    expected: Mapping[str, Mapping[str, Outgoing]], size: int, seed: str
) -> dict[str, dict[str, Outgoing]]:
    """The expected prices (variant and by size alike) of `size` models drawn at random (seeded by the run: over
    runs, every model's turn comes), or all of them when there are fewer."""
    models = sorted({str(item.payload["product_model"]) for items in expected.values() for item in items.values()})
    # A sample of models to compare, not a secret: a seeded pseudo-random generator is what it needs.
    sampler = random.Random(seed)  # noqa: S311  # nosec B311
    chosen = set(models if size >= len(models) else sampler.sample(models, size))
    return {
        name: {key: item for key, item in items.items() if item.payload["product_model"] in chosen}
        for name, items in expected.items()
    }


def held_prices(lnb: LeNewBlackReads, expected: Mapping[str, Outgoing], *, by_size: bool = False) -> dict[str, Row]:
    """LNB's prices (or prices by size) of the expected variants: one call per model and fabric code, the fewest
    the API allows."""
    variants = sorted(
        {(str(item.payload["product_model"]), str(item.payload["fabric_code"])) for item in expected.values()}
    )
    rows = (row for model, code in variants for row in lnb.reconcile_variant_prices(model, code, by_size=by_size))
    key = ("price_list_code", "product_model", "fabric_code", *(("size_name",) if by_size else ()))
    return _keyed(rows, *key)


# --- the run ----------------------------------------------------------------------------------------------------


def resources(ctx: FlowContext) -> list[Resource]:
    stock_resource = STOCK_RESOURCES[ctx.settings.stock.key]
    chosen = [
        Resource("stock", "stock", f"stock-{ctx.settings.stock.key}", stock_resource, STOCK),
        # Before the products: a repair sends a missing fabric before the product that points to it.
        Resource("fabrics", "products", "products-fabrics", "fabrics", FABRICS),
        Resource("products", "products", "products", "products", PRODUCTS),
        Resource("retailers", "customers", CUSTOMERS_SNAPSHOT, "retailers", RETAILERS),
    ]
    if ctx.settings.reconcile.price_models:
        chosen.append(Resource("prices", "prices", "prices", "prices", PRICES))
        if ctx.settings.prices.by_size:  # LNB reads prices by size only on accounts with the option
            chosen.append(Resource("prices_by_size", "prices", "prices", "prices_by_size", PRICES))
    return chosen


def reconcile(ctx: FlowContext, chosen: list[Resource]) -> list[Findings]:
    """Read both sides of each resource and compare them."""
    lnb = LeNewBlackReads(ctx.lnb)
    settings = ctx.settings
    names = {resource.name for resource in chosen}
    catalogue = ctx.reads.catalogue_rows() if names & {"fabrics", "products", "prices"} else []
    products = expected_catalogue(catalogue, ctx) if names & {"fabrics", "products"} else {}
    prices = (
        price_sample(expected_prices(catalogue, ctx), settings.reconcile.price_models, ctx.run.run_id)
        if "prices" in names
        else {}
    )
    found: list[Findings] = []
    for resource in chosen:
        match resource.name:
            case "stock":
                held = _keyed(lnb.reconcile_inventory(), "ean13" if settings.stock.key == "ean13" else "sku")
                expected = expected_stock(ctx)
            case "fabrics":
                held = _keyed((row for page in lnb.reconcile_fabric_pages() for row in page), "code")
                expected = products["fabrics"]
            case "products":
                held = _keyed((row for page in lnb.reconcile_product_pages() for row in page), "model")
                expected = products["products"]
            case "retailers":
                held = _keyed((row for page in lnb.reconcile_retailer_pages() for row in page), "reference")
                expected = expected_retailers(ctx, ctx.snapshots.load(resource.snapshot))
            case _:
                expected = prices[resource.name]
                held = held_prices(lnb, expected, by_size=resource.name == "prices_by_size")
        ctx.run.count("read", len(held))
        found.append(compare(resource, expected, held))
    return found


def _keys_masked(value: Any) -> Any:
    """Paths and list keys may name a buyer by email (`buyers[anne@…]`): masked as the store masks values."""
    if isinstance(value, dict):
        return {mask_email(str(key)): _keys_masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys_masked(item) for item in value]
    return value


def report_lines(findings: Iterable[Findings]) -> Iterator[dict[str, Any]]:
    """The stored report: a summary per resource, then one line per record that drifted."""
    return (_keys_masked(line) for line in _report(list(findings)))


def _report(found: list[Findings]) -> Iterator[dict[str, Any]]:
    yield {"summary": {item.resource.name: item.counts() for item in found}}
    for item in found:
        name, projection = item.resource.name, item.resource.projection
        for key in item.missing:
            yield {
                "resource": name,
                "key": key,
                "drift": "missing",
                "new": projection.project(item.expected[key].payload),
            }
        for key, changes in item.different.items():
            shown = {path: {"old": old, "new": new} for path, (old, new) in changes.items()}
            yield {"resource": name, "key": key, "drift": "different", "changes": shown}
        for key in item.unknown:
            yield {"resource": name, "key": key, "drift": "unknown"}


def _log(findings: Findings) -> None:
    name = findings.resource.name
    for key in findings.missing:
        log_record("reconcile.missing", key, reason=f"{name} missing in Le New Black", level="WARNING")
    for key, changes in findings.different.items():
        fields = ", ".join(f"{path}: {old!r} → {new!r}" for path, (old, new) in changes.items())
        log_record("reconcile.different", key, reason=f"{name} differs in Le New Black: {fields}", level="WARNING")
    for key in findings.unknown:
        log_record(
            "reconcile.unknown", key, reason=f"{name} in Le New Black, unknown to Fastmag: kept", level="WARNING"
        )


@contextmanager
def flow_locks(ctx: FlowContext, flows: Iterable[Flow]) -> Iterator[None]:
    """Hold the locks of `flows` (waiting for runs in progress), released on exit. A heartbeat of their own renews
    them (the run's renews its own lock only); a renewal refused marks the run's lease lost, so it writes nothing
    more."""
    locks, timing = ctx.services.locks, runs.timing
    holder = ctx.run.holder or ctx.run.run_id
    held: list[Flow] = []

    def renew(at: float, seconds: float) -> str | None:
        for flow in list(held):
            if not locks.renew(flow, holder, now=at, lease_seconds=seconds):
                return f"the {flow} lock expired or was taken over during the repair"
        return None

    try:
        with Heartbeat(run_id=ctx.run.run_id, renew=renew, lease=ctx.run.lease, settings=timing):
            for flow in sorted(set(flows)):
                deadline = timing.clock() + ctx.settings.reconcile.lock_wait_seconds
                while not locks.acquire(
                    flow, holder, run_id=ctx.run.run_id, now=timing.clock(), lease_seconds=timing.lease_seconds
                ):
                    other = locks.holder(flow, now=timing.clock()) or "unknown"
                    if timing.clock() >= deadline:
                        raise LockWaitExpired(
                            f"the {flow} lock stayed taken by run {other} for "
                            f"{ctx.settings.reconcile.lock_wait_seconds:g} s: nothing was repaired"
                        )
                    log_record("reconcile.lock_wait", flow, reason=f"waiting for the {flow} run {other}")
                    time.sleep(LOCK_POLL_SECONDS)
                held.append(flow)
            yield
    finally:
        for flow in held:
            locks.release(flow, holder)


def repair(ctx: FlowContext, findings: Findings) -> None:
    """Send exactly the missing and different records; every key found equal or accepted gets the digest the flow
    keeps for it, saved with the snapshot's conditional write."""
    resource = findings.resource
    snapshot = ctx.snapshots.load(resource.snapshot)
    items = findings.to_send()
    if ctx.run.request.apply_run_id is not None:
        check_preview_still_holds(ctx, ctx.run.request.apply_run_id, resource.send_to, items, snapshot)
    if ctx.run.preview:
        preview_items(ctx, resource.send_to, items, snapshot)
        return
    for key in findings.equal:
        digest = findings.expected[key].digest
        if snapshot.entries.get(key) != digest:
            snapshot.accept(key, digest)
    ctx.run.lease.require(SNAPSHOT_SAVE_SECONDS, f"repair {resource.name}")
    for index, outcome in ctx.lnb.send_batches(resource.send_to, [item.payload for item in items]):
        item = items[index]
        ctx.run.count("sent")
        if outcome.accepted:
            snapshot.accept(item.key, item.digest)
            ctx.run.accepted(item.key, http_status=outcome.http_status, resource=resource.name)
        else:
            ctx.run.rejected(item.key, outcome.reason, http_status=outcome.http_status, resource=resource.name)
    ctx.run.lease.require(SNAPSHOT_SAVE_SECONDS, f"save the {resource.snapshot} snapshot")
    ctx.snapshots.save(snapshot)


def run(ctx: FlowContext) -> None:
    chosen = resources(ctx)
    request = ctx.run.request
    if request.repair and not request.preview:
        with flow_locks(ctx, (resource.flow for resource in chosen)):
            for findings in _reconcile_and_report(ctx, chosen):
                repair(ctx, findings)
        return
    found = _reconcile_and_report(ctx, chosen)
    if request.repair:
        for findings in found:
            repair(ctx, findings)


def reconcile_and_repair_stock(ctx: FlowContext) -> None:
    """The full stock push as "reconcile stock and repair" (`reconcile.nightly_stock`): only the differences are
    sent. It runs inside the stock run, which already holds the stock lock."""
    stock = [resource for resource in resources(ctx) if resource.name == "stock"]
    for findings in _reconcile_and_report(ctx, stock):
        repair(ctx, findings)


def _reconcile_and_report(ctx: FlowContext, chosen: list[Resource]) -> list[Findings]:
    found = reconcile(ctx, chosen)
    for findings in found:
        _log(findings)
        ctx.run.count("unchanged", len(findings.equal))
        ctx.run.count("drift", findings.drift)
    ctx.run.report_key = ctx.services.previews.write(report_name(ctx.run.run_id), report_lines(found))
    return found
