"""`state.iso` writes what `datetime.fromtimestamp(…, UTC).isoformat(timespec="milliseconds")` writes, its rounding
included, though it formats each second's date and time only once."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from connector.state import iso


def expected(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@given(st.floats(min_value=-86_400 * 365, max_value=4_102_444_800, allow_nan=False))
@example(1_796_083_200.9999996)  # rounds up to the next second
@example(1_796_083_200.0009995)
@example(1_796_083_200.9995)
@example(0.0)
@example(-0.0000004)  # rounds to the epoch itself
@example(-1.3)
def test_iso_is_the_datetime_text(epoch: float) -> None:
    assert iso(epoch) == expected(epoch)


def test_consecutive_calls_in_one_second_and_across_seconds() -> None:
    start = 1_796_083_199.5
    for step in range(3000):
        epoch = start + step * 0.000_731
        assert iso(epoch) == expected(epoch)
    assert iso(math.floor(start)) == expected(math.floor(start))  # back to an earlier second
