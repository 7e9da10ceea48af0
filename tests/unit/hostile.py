"""Hostile Fastmag values for the property tests: what a real EDIQUERY answer may carry in any column."""

from __future__ import annotations

from hypothesis import strategies as st

from connector.ean import make_ean13

# Odd but legal text: accents, separators of every wire format, quotes, control characters, emoji.
odd_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\t\r\n|;,.\"'\\\x00\x1a\u00a0\ufeff\u2028éÉçœ€°²")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=40,
)
# A huge value (a description pasted twice over, a runaway concatenation).
huge_text = st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(500, 20_000))
# Numbers as Fastmag may print them, and as they must never be read.
numbers = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(lambda d: str(d).replace(".", ",")),
    st.sampled_from(
        [
            "",
            " ",
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1e999",
            "-1e-999",
            "1.000,50",
            "1,000.50",
            "0x1F",
            "--1",
            "+",
            "١٢٣",
            "½",
            "9" * 400,
            "1 234",
            "12€",
            "NULL",
            "\\N",
        ]
    ),
)
dates = st.one_of(
    st.dates().map(str),
    st.datetimes().map(str),
    st.sampled_from(["0000-00-00 00:00:00", "31/12/2025", "2025-02-30", "", "hier", "9999-99-99"]),
)
eans = st.one_of(
    st.integers(0, 10**12 - 1).map(lambda n: make_ean13(f"{n:012d}")),
    st.text(alphabet="0123456789", min_size=0, max_size=14),
    odd_text,
)
values = st.one_of(odd_text, huge_text, numbers, dates, eans)
# Few distinct codes, so rows collide on reference/colour/size as real duplicates do.
codes = st.one_of(st.sampled_from(["CH1", "CH2", "ROBE-É", "", " "]), odd_text)


def row_of(columns: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[dict[str, str]]:
    """A row with every column of the query, each value hostile or plausible."""
    return st.fixed_dictionaries({name: st.one_of(strategy, values) for name, strategy in columns.items()})
