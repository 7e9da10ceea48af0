from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.ean import make_ean13
from connector.flows.source import sku_of
from connector.flows.stock import available_to_sell
from connector.settings import Settings, parse_settings

EAN = make_ean13("376000000001")
OTHER_EAN = make_ean13("376000000002")


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


def test_bad_rows_are_skipped_with_their_own_reason() -> None:
    bad_checksum = EAN[:-1] + str((int(EAN[-1]) + 1) % 10)
    levels = available_to_sell(
        [
            row("4", ean13=bad_checksum),
            row("-3"),
            row("2", ean13="", variant_id=""),
            row("2", ean13="", variant_id="19"),
            row("abc", ean13=OTHER_EAN),
        ],
        Settings(),
    )
    reasons = [skip.reason for skip in levels.skipped]
    assert levels.quantities == {}
    assert reasons == [
        "invalid EAN13 checksum",
        "negative stock in Fastmag",
        "unknown variant: stock row not in Fastmag products",
        "variant has no EAN13 in Fastmag",
        "unreadable quantity",
    ]
    assert levels.skipped[1].detail == {"variant": "CH2301/NOIR/M", "quantity": "-3"}
    assert levels.skipped[3].key == "CH2301/NOIR/M"


def test_sku_mode_keys_by_the_configured_format() -> None:
    settings = parse_settings({"stock": {"key": "sku"}, "sku_format": "{reference}_{colour}_{size}"})
    levels = available_to_sell([row("7", ean13="")], settings)
    assert levels.quantities == {"CH2301_NOIR_M": 7}
    assert sku_of(settings, row("1")) == "CH2301_NOIR_M"


def test_two_variants_sharing_one_ean_are_not_guessed_between() -> None:
    levels = available_to_sell([row("1"), row("9", colour="BLEU", variant_id="20")], Settings())
    assert levels.quantities == {EAN: 1}
    assert levels.skipped[0].reason == "ean13 shared by several variants"
    assert levels.skipped[0].detail == {"variant": "CH2301/BLEU/M"}


@given(st.lists(st.integers(min_value=-50, max_value=10_000), min_size=1, max_size=30), st.integers(0, 20))
def test_every_row_is_either_pushed_non_negative_or_skipped(quantities: list[int], buffer: int) -> None:
    settings = parse_settings({"stock": {"safety_buffer": buffer}})
    rows = [row(str(q), ean13=make_ean13(f"3760{i:08d}"), variant_id=str(i)) for i, q in enumerate(quantities)]
    levels = available_to_sell(rows, settings)
    assert len(levels.quantities) + len(levels.skipped) == len(rows)
    assert all(q >= 0 for q in levels.quantities.values())
    for i, q in enumerate(quantities):
        key = make_ean13(f"3760{i:08d}")
        if q >= 0:
            assert levels.quantities[key] == max(q - buffer, 0)
