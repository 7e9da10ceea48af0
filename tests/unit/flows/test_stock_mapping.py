from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.ean import make_ean13
from connector.fastmag.queries import STOCK
from connector.flows import stock
from connector.flows.source import sku_of
from connector.flows.stock import Entry, StockLevels, guard_verdict, not_vouched_for, would_zero
from connector.settings import Settings, parse_settings
from tests.unit.flows.as_read import as_read


def available_to_sell(rows: list[dict[str, str]], settings: Settings) -> StockLevels:
    """The mapping of rows as the stock read gives them (quantities parsed with the configured separator)."""
    return stock.available_to_sell(as_read(STOCK, rows, settings.fastmag.wire.decimal_separator), settings)


EAN = make_ean13("376000000001")
OTHER_EAN = make_ean13("376000000002")
THIRD_EAN = make_ean13("376000000003")
STILL_READ = make_ean13("376000000005")


def row(quantity: str, ean13: str = EAN, variant_id: str = "17", colour: str = "NOIR") -> dict[str, str]:
    return {
        "reference": "CH2301",
        "colour": colour,
        "size": "M",
        "variant_id": variant_id,
        "ean13": ean13,
        "quantity": quantity,
    }


def test_quantity_minus_buffer_clamped_at_zero_with_decimal_comma() -> None:
    settings = parse_settings({"stock": {"safety_buffer": 2}})
    levels = available_to_sell([row("5,0"), row("1", ean13=OTHER_EAN, variant_id="18")], settings)
    assert levels.quantities == {EAN: 3, OTHER_EAN: 0}
    assert levels.skipped == []


def test_bad_rows_are_skipped_with_their_own_reason_and_a_negative_sum_is_pushed_as_zero() -> None:
    bad_checksum = EAN[:-1] + str((int(EAN[-1]) + 1) % 10)
    levels = available_to_sell(
        [
            row("4", ean13=bad_checksum),
            row("-3", ean13=OTHER_EAN, variant_id="18"),
            row("2", ean13="", variant_id=""),
            row("2", ean13="", variant_id="19"),
            row("abc", ean13=THIRD_EAN, variant_id="20"),
        ],
        Settings(),
    )
    assert levels.quantities == {OTHER_EAN: 0}
    assert [(skip.key, skip.reason) for skip in levels.skipped] == [
        (bad_checksum, "invalid EAN13 checksum"),
        ("CH2301/NOIR/M", "unknown variant: stock row not in Fastmag products"),
        ("CH2301/NOIR/M", "variant has no EAN13 in Fastmag"),
        (THIRD_EAN, "unreadable quantity"),
    ]
    (warning,) = levels.warnings
    assert (warning.key, warning.reason) == (OTHER_EAN, "negative stock in Fastmag (-3): pushed as 0")
    assert warning.detail == {"variant": "CH2301/NOIR/M"}
    # Each skipped row with a variant can be found by it, so its last good key is zeroed with the reason.
    assert {variant: skip.reason for variant, skip in levels.skipped_variants.items()} == {
        "17": "invalid EAN13 checksum",
        "19": "variant has no EAN13 in Fastmag",
        "20": "unreadable quantity",
    }


def test_sku_mode_keys_by_the_configured_format() -> None:
    settings = parse_settings({"stock": {"key": "sku"}, "sku_format": "{reference}_{colour}_{size}"})
    levels = available_to_sell([row("7", ean13="")], settings)
    assert levels.quantities == {"CH2301_NOIR_M": 7}
    assert sku_of(settings, row("1")) == "CH2301_NOIR_M"


def test_two_variants_sharing_one_ean_are_not_guessed_between() -> None:
    levels = available_to_sell(
        [row("-1"), row("9", colour="BLEU", variant_id="20"), row("4", colour="VERT", variant_id="21")], Settings()
    )
    assert levels.quantities == {}
    assert levels.warnings == []
    assert [(skip.key, skip.reason, skip.detail["variant"]) for skip in levels.skipped] == [
        (EAN, "ean13 shared by several variants", "CH2301/NOIR/M"),
        (EAN, "ean13 shared by several variants", "CH2301/BLEU/M"),
        (EAN, "ean13 shared by several variants", "CH2301/VERT/M"),
    ]


@given(st.lists(st.integers(min_value=-50, max_value=10_000), min_size=1, max_size=30), st.integers(0, 20))
def test_every_row_is_either_pushed_non_negative_or_skipped(quantities: list[int], buffer: int) -> None:
    settings = parse_settings({"stock": {"safety_buffer": buffer}})
    rows = [row(str(q), ean13=make_ean13(f"3760{i:08d}"), variant_id=str(i)) for i, q in enumerate(quantities)]
    levels = available_to_sell(rows, settings)
    assert len(levels.quantities) + len(levels.skipped) == len(rows)
    assert all(q >= 0 for q in levels.quantities.values())
    for i, q in enumerate(quantities):
        key = make_ean13(f"3760{i:08d}")
        assert levels.quantities[key] == max(q - buffer, 0)
        assert levels.variants[key] == str(i)
    assert [warning.key for warning in levels.warnings] == [
        make_ean13(f"3760{i:08d}") for i, q in enumerate(quantities) if q < 0
    ]


# --- what the read does not vouch for ----------------------------------------------------------------------------


def entries(**quantities: int) -> dict[str, str]:
    """Snapshot entries as stored: each key's quantity and variant."""
    return {key: Entry(quantity, f"v{key}").fingerprint for key, quantity in quantities.items()}


def test_a_key_lnb_holds_with_stock_is_zeroed_when_absent_or_unreadable_with_its_reason() -> None:
    bad_checksum = EAN[:-1] + str((int(EAN[-1]) + 1) % 10)
    previous = {
        EAN: Entry(5, "17").fingerprint,  # its EAN13 now fails the checksum: found through its variant
        OTHER_EAN: Entry(2, "18").fingerprint,  # its quantity is unreadable: found by its key
        THIRD_EAN: Entry(1, "30").fingerprint,  # gone from the read
        make_ean13("376000000004"): Entry(0, "31").fingerprint,  # already 0 in LNB: nothing to do
        STILL_READ: Entry(7, "32").fingerprint,  # still read
    }
    levels = available_to_sell(
        [
            row("4", ean13=bad_checksum, variant_id="17"),
            row("x", ean13=OTHER_EAN, variant_id="18"),
            row("3", ean13=STILL_READ, variant_id="32"),
        ],
        Settings(),
    )
    zeroed = not_vouched_for(previous, levels, complete_read=True)
    assert {key: reason for key, (_, reason) in zeroed.items()} == {
        EAN: "invalid EAN13 checksum: pushed as 0",
        OTHER_EAN: "unreadable quantity: pushed as 0",
        THIRD_EAN: "no longer in Fastmag's stock read: pushed as 0",
    }
    # An incremental read vouches only for what it returns: it zeroes nothing else.
    assert not_vouched_for(previous, levels, complete_read=False) == {}


def test_snapshot_entries_keep_the_variant_and_read_the_older_quantity_only_form() -> None:
    assert Entry.parse(Entry(12, "4711").fingerprint) == Entry(12, "4711")
    assert Entry.parse("3") == Entry(3, "")


@pytest.mark.parametrize(
    ("zeroed", "positive", "share", "held"),
    [
        (3, 10, 0.3, False),  # exactly the share: through
        (4, 10, 0.3, True),  # one SKU more: held
        (2, 10, 0.3, False),
        (6, 20, 0.3, False),
        (7, 20, 0.3, True),
        (29, 100, 0.29, False),  # 0.29 * 100 is 28.999… in floating point: the share is compared, not the product
        (30, 100, 0.29, True),
        (1, 1, 1.0, False),
        (1, 3, 0.0, True),
        (0, 3, 0.0, False),
        (5, 0, 0.2, False),  # LNB holds nothing with stock: nothing to protect
    ],
)
def test_the_guard_holds_exactly_above_the_share(zeroed: int, positive: int, share: float, held: bool) -> None:
    verdict = guard_verdict(zeroed, positive, share)
    assert (verdict is not None) is held
    if held:
        assert f"{zeroed} of {positive} positive SKUs" in str(verdict)


def test_the_guard_counts_every_zeroing_of_a_positive_key() -> None:
    previous = entries(a=3, b=1, c=0, d=4) | {"f": "10", "g": "0"}  # f, g: the older quantity-only form
    assert would_zero(previous, {"a": 0, "b": 0, "c": 0, "d": 4, "e": 0, "f": 0, "g": 0}) == (3, 4)


def test_a_push_that_zeroes_nothing_positive_is_never_held_and_skips_the_count_of_every_key() -> None:
    previous = entries(a=3, b=0)
    # Zero where LNB holds 0 already, an unknown key zeroed, every other key kept: nothing positive is zeroed.
    assert would_zero(previous, {"a": 3, "b": 0, "new": 0}) == (0, 0)
    assert guard_verdict(*would_zero(previous, {"a": 3, "b": 0, "new": 0}), 0.0) is None


def test_a_whole_sum_is_read_as_an_int_and_a_fraction_is_still_floored() -> None:
    rows = as_read(STOCK, [row("7"), row("2.9", ean13=OTHER_EAN, variant_id="18")], "auto", int_when_whole=True)
    assert rows[0]["quantity"] == 7 and type(rows[0]["quantity"]) is int
    levels = stock.available_to_sell(rows, Settings())
    assert levels.quantities == {EAN: 7, OTHER_EAN: 2}


def test_only_keys_new_to_the_snapshot_have_their_checksum_checked() -> None:
    broken = EAN[:-1] + str((int(EAN[-1]) + 1) % 10)
    rows = [row("3", ean13=broken)]
    assert available_to_sell(rows, Settings()).skipped[0].reason == "invalid EAN13 checksum"
    # A snapshot key passed the checksum when LNB accepted it, and a checksum depends on the key alone.
    known = stock.available_to_sell(as_read(STOCK, rows), Settings(), known_keys={broken})
    assert known.quantities == {broken: 3}


@pytest.mark.parametrize("missing", ["reference", "colour", "size", "quantity", "ean13", "variant_id"])
def test_a_row_missing_a_column_is_mapped_as_one_with_it_blank(missing: str) -> None:
    """The read's contract gives every row every column; a row made without one reads it as blank, as before."""
    complete, shared = row("4"), row("2", variant_id="18")
    without = {name: value for name, value in complete.items() if name != missing}
    blank = {**complete, missing: ""}
    for rows in ([without], [without, shared]):
        levels = stock.available_to_sell(as_read(STOCK, rows), Settings())
        expected = stock.available_to_sell(as_read(STOCK, [blank, *rows[1:]]), Settings())
        assert levels == expected
