"""The readiness checks and report, pure: which variants are sellable, shared EAN13s, stuck and blocked orders,
the identifier audit, and a CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connector.ean import make_ean13
from connector.fastmag.queries import PRODUCTS, STOCK
from connector.fastmag.reads import Unreadable
from connector.flows import readiness_checks as checks
from connector.flows.catalogue import group_catalogue
from connector.flows.products import map_products
from connector.flows.readiness_report import BY_NAME, Item, blocking_total, counts, ordered, to_csv
from connector.ledger import LedgerEntry, LedgerStatus
from connector.lenewblack.reads import LnbOrder, LnbProduct, LnbVariant
from connector.settings import Settings
from connector.task_log import csv_cell
from tests.unit.flows.as_read import as_read

SETTINGS = Settings()
GOOD = make_ean13("376000000001")
OTHER = make_ean13("376000000002")


def _variant(reference: str, colour: str, size: str, ean13: str, **extra: str) -> dict[str, str]:
    return {
        "reference": reference,
        "designation": f"Model {reference}",
        "season": "E26",
        "colour": colour,
        "size": size,
        "ean13": ean13,
        "family": "Robes",
        **extra,
    }


def _stock(reference: str, colour: str, size: str, quantity: str) -> dict[str, str]:
    return {"reference": reference, "colour": colour, "size": size, "variant_id": "", "ean13": "", "quantity": quantity}


def test_only_sellable_variants_without_a_valid_ean13_are_listed() -> None:
    rows = as_read(
        PRODUCTS,
        [
            _variant("RB1", "NOIR", "S", ""),  # in stock: listed
            _variant("RB1", "NOIR", "M", GOOD[:12] + str((int(GOOD[12]) + 1) % 10)),  # in stock: listed
            _variant("RB1", "NOIR", "L", ""),  # no stock: not sellable
            _variant("RB1", "NOIR", "XL", ""),  # stock unreadable: not counted as sellable
            _variant("RB1", "ROUGE", "S", GOOD),
        ],
    )
    stock = as_read(
        STOCK,
        [
            _stock("RB1", "NOIR", "S", "2"),
            _stock("RB1", "NOIR", "M", "1"),
            _stock("RB1", "NOIR", "L", "0"),
            _stock("RB1", "NOIR", "XL", "beaucoup"),
        ],
    )
    assert isinstance(stock[3]["quantity"], Unreadable)
    items = checks.eans(group_catalogue(rows, SETTINGS), stock)
    assert [(item.check, item.key) for item in items] == [("ean_invalid", "RB1/NOIR/S"), ("ean_invalid", "RB1/NOIR/M")]
    assert "no EAN13 in Fastmag" in items[0].problem and "invalid EAN13 checksum" in items[1].problem


def test_an_ean13_on_two_variants_is_listed_once_naming_both() -> None:
    rows = as_read(
        PRODUCTS,
        [_variant("RB1", "NOIR", "S", GOOD), _variant("RB2", "BLEU", "M", GOOD), _variant("RB2", "BLEU", "L", OTHER)],
    )
    items = checks.eans(group_catalogue(rows, SETTINGS), [])
    assert [(item.check, item.key) for item in items] == [("ean_shared", GOOD)]
    assert "RB1/NOIR/S" in items[0].problem and "RB2/BLEU/M" in items[0].problem


def _entry(reference: str, sent_at: datetime | None, reason: str | None = None) -> LedgerEntry:
    return LedgerEntry(
        reference=reference,
        status=LedgerStatus.SENT,
        sent_at=sent_at.isoformat() if sent_at else None,
        reason=reason,
    )


def test_an_order_sent_within_the_settle_time_is_not_stuck_yet() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    entries = [
        _entry("B", now - timedelta(hours=1), "Fastmag did not answer"),
        _entry("A", now - timedelta(seconds=30)),
        _entry("C", None),
    ]
    items = checks.stuck_orders(entries, now, settle_seconds=300)
    assert [item.key for item in items] == ["C", "B"]
    assert "Fastmag did not answer" in items[1].problem


def test_blocked_orders_are_oldest_first_with_the_ledgers_reason() -> None:
    orders = [
        LnbOrder("20", "R1", "blocked", "2026-02-01T10:00:00+01:00", ""),
        LnbOrder("10", "R1", "blocked", "2026-01-01T10:00:00+01:00", ""),
    ]
    ledger = {"20": LedgerEntry(reference="20", status=LedgerStatus.BLOCKED, reason="EAN13 123 unknown in Fastmag")}
    items = checks.blocked_orders(orders, ledger)
    assert [item.key for item in items] == ["10", "20"]
    assert "not by the connector" in items[0].problem and "EAN13 123 unknown" in items[1].problem


def test_the_audit_lists_lnb_keys_fastmag_does_not_give() -> None:
    rows = as_read(PRODUCTS, [_variant("RB1", "NOIR", "S", GOOD, material="Coton")])
    products = map_products(rows, SETTINGS)
    keys = checks.fastmag_keys(rows, products, SETTINGS)
    lnb = [
        LnbProduct("RB1", "E26", ("Robes",), (LnbVariant("NOIR_COTON", 1),)),
        LnbProduct("OLD1", "H19", ("Robes", "Vintage"), (LnbVariant("GRIS_LAINE", 0),)),
    ]
    items = checks.audit(keys, lnb, collections={"E26", "H19"}, fabrics={"NOIR_COTON", "GRIS_LAINE"})
    assert [(item.check, item.key) for item in items] == [
        ("collection_unmatched", "H19"),
        ("product_unmatched", "OLD1"),
        ("fabric_unmatched", "GRIS_LAINE"),
        ("category_unmapped", "Vintage"),
    ]


def test_counts_name_every_check_and_the_metric_counts_only_blocking_ones() -> None:
    items = [Item("ean_invalid", "a", "p", "a"), Item("image_missing", "b", "p", "a"), Item("ean_invalid", "c", "", "")]
    found = counts(items)
    assert set(found) == set(BY_NAME)
    assert (found["ean_invalid"], found["image_missing"], found["order_stuck"]) == (2, 1, 0)
    assert blocking_total(found) == 2
    assert [item.check for item in ordered(reversed(items))] == ["ean_invalid", "ean_invalid", "image_missing"]


@given(st.text())
def test_no_csv_cell_starts_with_a_formula_character(value: str) -> None:
    cell = csv_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.removeprefix("'") == value or cell == value


def test_csv_keeps_quoted_and_multiline_text_whole() -> None:
    hostile = Item("retailer_unknown", '=cmd|"/c calc"!A1', 'line one\nline "two"', "@SUM(1)")
    rows = list(csv.reader(io.StringIO(to_csv([hostile]))))
    expected = ["retailer_unknown", '\'=cmd|"/c calc"!A1', 'line one\nline "two"', "'@SUM(1)"]
    assert rows == [["check", "key", "problem", "action"], expected]


def test_a_colour_without_image_says_whether_its_product_photos_or_upload_is_missing() -> None:
    rows = as_read(
        PRODUCTS,
        [
            _variant("RB1", "NOIR", "S", GOOD),
            _variant("RB1", "ROUGE", "S", OTHER),
            _variant("RB1", "VERT", "S", make_ean13("376000000003")),
            _variant("RB2", "NOIR", "S", make_ean13("376000000004")),
        ],
    )
    products = map_products(rows, SETTINGS)
    lnb = [LnbProduct("RB1", "E26", ("Robes",), (LnbVariant("NOIR", 2), LnbVariant("ROUGE", 0)))]
    items = checks.images(products, lnb, staged=["images/RB1/ROUGE/1.jpg", "images/"])
    reasons = {item.key: item.problem for item in items}
    assert set(reasons) == {"RB1/ROUGE", "RB1/VERT", "RB2/NOIR"}
    assert "upload failed" in reasons["RB1/ROUGE"]
    assert "no photo" in reasons["RB1/VERT"]
    assert "not in Le New Black yet" in reasons["RB2/NOIR"]
