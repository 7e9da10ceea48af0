from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.ean import ean13_checksum, is_valid_ean13, make_ean13


@pytest.mark.parametrize(
    ("ean", "valid"),
    [
        ("4006381333931", True),
        ("3760000100014", True),
        ("4006381333932", False),
        ("400638133393", False),
        ("40063813339311", False),
        ("40063813339A1", False),
        ("４００６３８１３３３９３１", False),  # fullwidth digits pass str.isdigit()
        ("", False),
    ],
)
def test_is_valid_ean13(ean: str, valid: bool) -> None:
    assert is_valid_ean13(ean) is valid


def test_checksum_of_a_known_code() -> None:
    assert ean13_checksum("400638133393") == 1
    assert make_ean13("376000010001") == "3760000100014"


def test_checksum_refuses_a_wrong_length() -> None:
    with pytest.raises(ValueError, match="12 digits"):
        ean13_checksum("12345")


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(1, 9))
def test_made_codes_are_valid_and_any_other_check_digit_is_not(body: str, shift: int) -> None:
    ean = make_ean13(body)
    assert is_valid_ean13(ean)
    wrong = body + str((int(ean[12]) + shift) % 10)
    assert not is_valid_ean13(wrong)
