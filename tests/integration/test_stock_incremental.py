"""Incremental stock reads (`fastmag.queries.stock_changed_since`) through the real handler: only what changed
since Fastmag's own watermark is read and pushed, an incremental tick never zeroes a key it did not read, and the
periodic full read still does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sandbox.fastmag_sim import STOCK_CHANGED_SINCE_SQL as CHANGED_SINCE
from sandbox.stack import LocalStack
from tests.integration.conftest import NO_WAIT

# The simulator's stock rows carry `modified` (stamped by the database on every change), as a brand's setup would.
LONG_AGO = "2020-01-01 00:00:00"


@contextmanager
def incremental_stack() -> Iterator[LocalStack]:
    """A stack reading stock changes since Fastmag's watermark (no overlap, a full read hourly)."""
    document = {
        **NO_WAIT,
        "fastmag": {"queries": {"stock_changed_since": CHANGED_SINCE}},
        "stock": {"incremental_overlap_seconds": 0, "full_read_every_minutes": 60},
    }
    with LocalStack(settings_document=document) as local:
        # Every row last changed long ago: what a test changes now is the only thing changed since.
        local.fastmag.execute("UPDATE stock SET modified = ?", (LONG_AGO,))
        yield local


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with incremental_stack() as local:
        yield local


def push(stack: LocalStack, **fields: Any) -> dict[str, Any]:
    event = stack.event("schedule_stock", **{"execution_id": None, "scheduled_time": None, **fields})
    result: dict[str, Any] = stack.invoke("push_stock", event)
    return result


def sendable_variants(stack: LocalStack, count: int) -> list[tuple[str, str, str, str]]:
    """(ean13, barcode, colour, size) of variants LNB holds with stock > 0."""
    held = {ean for ean, row in stack.lnb.inventory_ean.items() if int(row["in_stock"]) > 0}
    rows = stack.fastmag.execute("SELECT gencod, barcode, couleur, taille FROM produits ORDER BY produit")
    return [row for row in rows if row[0] in held][:count]


def test_a_tick_reads_and_pushes_only_what_changed_since_fastmags_watermark(stack: LocalStack) -> None:
    first = push(stack)  # no full read yet: this one reads everything
    everything = first["counters"]["read"]
    second = push(stack)  # the first incremental tick: every variant once, from the beginning
    assert second["counters"]["read"] == everything and second["counters"]["sent"] == 0
    third = push(stack)  # nothing modified after the watermark (the latest modification seen)
    assert third["counters"]["read"] == 0 and third["counters"]["sent"] == 0

    changed = sendable_variants(stack, 3)
    for _, barcode, colour, size in changed:
        stack.fastmag.execute(
            "UPDATE stock SET stock = stock + 4 WHERE rowid = (SELECT rowid FROM stock WHERE barcode = ? AND "
            "couleur = ? AND taille = ? AND codemag = 'CENTRAL' AND AR = 1 LIMIT 1)",
            (barcode, colour, size),
        )
    before = {ean: int(stack.lnb.inventory_ean[ean]["in_stock"]) for ean, *_ in changed}
    stack.lnb.clear_requests()
    tick = push(stack)
    assert tick["counters"]["read"] == 3
    assert stack.lnb.items_sent("/multi/inventory/ean") == 3
    # The current sum, not the movement.
    assert {ean: int(stack.lnb.inventory_ean[ean]["in_stock"]) for ean, *_ in changed} == {
        ean: quantity + 4 for ean, quantity in before.items()
    }


def test_an_incremental_tick_never_zeroes_what_it_did_not_read_and_the_full_read_does(stack: LocalStack) -> None:
    push(stack)
    push(stack)
    (ean, barcode, colour, size), (other_ean, *other) = sendable_variants(stack, 2)
    stack.fastmag.execute("DELETE FROM stock WHERE barcode = ? AND couleur = ? AND taille = ?", (barcode, colour, size))
    stack.fastmag.execute(
        "UPDATE stock SET stock = stock + 1 WHERE barcode = ? AND couleur = ? AND taille = ? AND codemag = 'CENTRAL'",
        tuple(other),
    )
    tick = push(stack)
    assert tick["counters"]["read"] == 1  # the variant still there and changed; the deleted one is not read
    assert int(stack.lnb.inventory_ean[ean]["in_stock"]) > 0  # an incremental read vouches for nothing else
    assert other_ean in stack.lnb.inventory_ean

    full = push(stack, full=True)  # a full read (nightly, or `stock.full_read_every_minutes` after the last)
    assert full["counters"]["read"] > 1
    assert int(stack.lnb.inventory_ean[ean]["in_stock"]) == 0


def test_a_rejected_change_keeps_the_watermark_so_the_next_tick_reads_it_again(stack: LocalStack) -> None:
    push(stack)
    push(stack)
    (ean, barcode, colour, size), *_ = sendable_variants(stack, 1)
    stack.fastmag.execute(
        "UPDATE stock SET stock = stock + 2 WHERE barcode = ? AND couleur = ? AND taille = ? AND codemag = 'CENTRAL'",
        (barcode, colour, size),
    )
    stack.lnb.reject_items("inventory/ean", {ean}, {"ean13": ["temporarily refused"]})
    rejected = push(stack)
    assert rejected["counters"]["rejected"] == 1
    stack.lnb.clear_rejections()
    again = push(stack)
    assert again["counters"]["read"] == 1 and again["counters"]["accepted"] == 1
