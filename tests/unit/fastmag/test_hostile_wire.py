"""The EDIQUERY reader on any bytes: rows, or a FastmagError that says why; never any other exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.errors import FastmagError
from connector.fastmag.wire import Quoting, read_tsv
from tests.properties import examples

CHARSETS = ["cp1252", "utf-8", "latin-1"]

# Bytes that look like answers often enough to reach the row parser: a header, tabs, line ends, quotes, KO, HTML.
answer_like = st.lists(
    st.one_of(
        st.sampled_from([b"\t", b"\r\n", b"\n", b"\r", b'"', b'""', b'\t"', b'"\t']),
        st.sampled_from([b"KO|", b"<html>", b"\xef\xbb\xbf", b"\x00", b"\xff"]),
        st.sampled_from([b"reference", b"ean13", b"quantity", b"a", b"\xe9t\xe9"]),
        st.binary(max_size=20),
    ),
    max_size=60,
).map(b"".join)


@given(
    st.one_of(st.binary(max_size=2000), answer_like),
    st.sampled_from(CHARSETS),
    st.sampled_from(["auto", "strip", "none"]),
    st.booleans(),
)
@examples(1000)
def test_the_reader_answers_rows_or_a_fastmag_error(
    body: bytes, charset: str, quoting: Quoting, required: bool
) -> None:
    columns = ("reference", "quantity") if required else ()
    try:
        rows = read_tsv(body, charset=charset, quoting=quoting, required_columns=columns)
    except FastmagError as error:
        message = str(error)
        rows = []
    else:
        message = None
    assert message is None or message.startswith("EDIQUERY answer") or message.startswith("Fastmag refused")
    assert isinstance(rows, list)
    for row in rows:
        assert all(isinstance(key, str) and isinstance(value, str) for key, value in row.items())
        assert set(columns) <= set(row)
