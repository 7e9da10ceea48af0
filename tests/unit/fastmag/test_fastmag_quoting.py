"""The EDIQUERY reader on the answer shapes Fastmag may write, from bytes written out by hand.

Shapes: quoted (header and text values wrapped in `"`, `""` for a quote, tabs and line breaks inside quotes),
unquoted header with quoted values, unquoted (raw), and the legacy reading (`strip`) that deletes every `"`.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import FastmagError
from connector.fastmag.wire import QUOTING_SAMPLE_ROWS, answer_is_quoted, read_tsv

JEAN = 'Jean Brut Délavé 32"'
ADDRESS = "12, rue de l'Église\r\nBâtiment A"

# --- quoted header and values -----------------------------------------------------------------------------------


def test_quoted_header_and_values_with_doubled_quotes_tab_and_line_breaks() -> None:
    body = (
        b'"reference"\t"designation"\t"address"\t"quantity"\r\n'
        b'"JE32"\t"Jean Brut D\xe9lav\xe9 32"""\t"12, rue de l\'\xc9glise\r\nB\xe2timent A"\t3\r\n'
        b'"PU01"\t"Pull ""Hiver""\tc\x9cur"\t"Quai 1\nQuai 2\rQuai 3"\t-1,5\r\n'
    )
    assert read_tsv(body) == [
        {"reference": "JE32", "designation": JEAN, "address": ADDRESS, "quantity": "3"},
        {
            "reference": "PU01",
            "designation": 'Pull "Hiver"\tcœur',
            "address": "Quai 1\nQuai 2\rQuai 3",
            "quantity": "-1,5",
        },
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (b'""', ""),  # an empty quoted field
        (b'""""', '"'),  # a value that is one quote
        (b'""""""', '""'),  # a value that is two quotes
        (b'" "', " "),
        (b'"a""b"', 'a"b'),
        (b'"\t"', "\t"),
        (b'"\r\n"', "\r\n"),
        (b"", ""),  # a bare empty field beside quoted ones
        (b'Jean 32"', 'Jean 32"'),  # a quote inside a bare field is data
        (b'32" \xe0 "rayures"', '32" à "rayures"'),
    ],
)
def test_one_quoted_field(field: bytes, value: str) -> None:
    body = b'"a"\t"b"\r\n' + field + b'\t"end"\r\n'
    assert read_tsv(body) == [{"a": value, "b": "end"}]


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b""])
def test_quoted_answer_with_or_without_a_final_line_end(ending: bytes) -> None:
    assert read_tsv(b'"a"\t"b"\r\n"x"\t"y"\r\n"z"\t""' + ending) == [{"a": "x", "b": "y"}, {"a": "z", "b": ""}]


def test_quoted_answer_keeps_the_blank_line_short_row_and_long_row_rules() -> None:
    assert read_tsv(b'\r\n"a"\t"b"\r\n\r\n"x"\t"y"\r\n\r\n"z"\r\n\r\n') == [{"a": "x", "b": "y"}, {"a": "z", "b": ""}]
    assert read_tsv(b'"a"\r\n"x"\r\n\r\n"y"\r\n') == [{"a": "x"}, {"a": ""}, {"a": "y"}]
    with pytest.raises(FastmagError, match="row 3 has 3 values for 2 columns"):
        read_tsv(b'"a"\t"b"\r\n"x"\t"y"\r\n"1"\t"2\t3"\t"4"\r\n')


def test_quoted_header_names_are_unwrapped_before_the_required_columns_check() -> None:
    body = b'"ean13"\t"quantity"\r\n"3000000000017"\t4\r\n'
    assert read_tsv(body, required_columns=("ean13", "quantity")) == [{"ean13": "3000000000017", "quantity": "4"}]
    with pytest.raises(FastmagError, match=r"lacks column\(s\) \['reference'\]"):
        read_tsv(body, required_columns=("reference",))


@pytest.mark.parametrize(
    "body",
    [
        b'"a"\t"b"\r\n"x"y\t"z"\r\n',  # text after a closing quote
        b'"a"\t"b"\r\n"x" \t"z"\r\n',
        b'"a"\t"b"\r\n"x\t"z\r\n',  # a quote never closed
    ],
)
def test_a_malformed_quoted_answer_is_an_error_not_rows(body: bytes) -> None:
    with pytest.raises(FastmagError, match="not readable as quoted TSV"):
        read_tsv(body)


def test_a_quoted_answer_in_utf8_with_a_byte_order_mark() -> None:
    body = '\ufeff"désignation"\r\n"Zoë ★ ""étoile"""\r\n'.encode()
    assert read_tsv(body, charset="utf-8") == [{"désignation": 'Zoë ★ "étoile"'}]


# --- unquoted header, quoted values -----------------------------------------------------------------------------


def test_bare_header_with_every_text_value_quoted_and_numbers_bare() -> None:
    body = (
        b"reference\tdesignation\taddress\tquantity\tprice\r\n"
        b'"JE32"\t"Jean Brut D\xe9lav\xe9 32"""\t"12, rue de l\'\xc9glise\r\nB\xe2timent A"\t3\t12,50\r\n'
        b'"PU01"\t""\t\t-2\t.5\r\n'
    )
    assert read_tsv(body) == [
        {"reference": "JE32", "designation": JEAN, "address": ADDRESS, "quantity": "3", "price": "12,50"},
        {"reference": "PU01", "designation": "", "address": "", "quantity": "-2", "price": ".5"},
    ]


# --- unquoted ---------------------------------------------------------------------------------------------------


def test_unquoted_answer_keeps_quotes_as_data() -> None:
    body = b'reference\tdesignation\tcomment\r\nJE32\tJean Brut D\xe9lav\xe9 32"\t"\r\nPU01\t"Pull" c\x9cur\t""\r\n'
    expected = [
        {"reference": "JE32", "designation": JEAN, "comment": '"'},
        {"reference": "PU01", "designation": '"Pull" cœur', "comment": '""'},
    ]
    assert read_tsv(body) == expected
    assert read_tsv(body, quoting="none") == expected


def test_unquoted_answer_lines_end_at_crlf_or_lf_and_a_lone_cr_is_data() -> None:
    assert read_tsv(b"a\tb\r\nx\ry\tz\nu\tv") == [{"a": "x\ry", "b": "z"}, {"a": "u", "b": "v"}]


def test_none_never_unquotes_even_a_quoted_header() -> None:
    assert read_tsv(b'"a"\tb\r\n""""\t"x"\r\n', quoting="none") == [{'"a"': '""""', "b": '"x"'}]


# --- legacy: strip ----------------------------------------------------------------------------------------------


def test_strip_deletes_every_quote_as_live_clients_did() -> None:
    body = b'"reference"\t"designation"\r\n"JE32"\t"Jean Brut D\xe9lav\xe9 32"""\r\n"PU01"\t""\r\n'
    assert read_tsv(body, quoting="strip") == [
        {"reference": "JE32", "designation": "Jean Brut Délavé 32"},
        {"reference": "PU01", "designation": ""},
    ]


def test_strip_splits_a_quoted_line_break_where_auto_keeps_it() -> None:
    body = b'"id"\t"address"\r\n"7"\t"12, rue\r\nB\xe2timent A"\r\n'
    assert read_tsv(body, quoting="strip") == [{"id": "7", "address": "12, rue"}, {"id": "Bâtiment A", "address": ""}]
    assert read_tsv(body) == [{"id": "7", "address": "12, rue\r\nBâtiment A"}]


# --- every setting ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quoting", ["auto", "strip", "none"])
def test_ko_answers_raise_whatever_the_quoting(quoting: str) -> None:
    with pytest.raises(FastmagError) as caught:
        read_tsv(b"KO|Erreur SQL : colonne inconnue \xab prix \xbb\r\n", quoting=quoting)  # type: ignore[arg-type]
    assert caught.value.remote_message == "Erreur SQL : colonne inconnue « prix »"


def test_a_ko_message_keeps_its_quotes_unless_stripped() -> None:
    with pytest.raises(FastmagError) as caught:
        read_tsv(b'KO|Colonne "prix" inconnue')
    assert caught.value.remote_message == 'Colonne "prix" inconnue'
    with pytest.raises(FastmagError) as caught:
        read_tsv(b'KO|Colonne "prix" inconnue', quoting="strip")
    assert caught.value.remote_message == "Colonne prix inconnue"


@pytest.mark.parametrize("body", [b'<html lang="fr"><body>Erreur</body></html>', b'<p>"x"</p>\r\n"a"\r\n'])
def test_html_is_no_header_row_whatever_its_quotes(body: bytes) -> None:
    with pytest.raises(FastmagError, match="no header row"):
        read_tsv(body)


# --- auto-detection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "quoted"),
    [
        (b'"a"\tb\r\nx\ty\r\n', True),  # a quoted header field
        (b'a\t"b"\r\nx\ty\r\n', True),
        (b'a\tb\r\n"x"\t"y"\r\n', True),  # every text value wrapped
        (b'a\tb\r\n"x"\t12,5\r\n"z"\t\r\n', True),  # numbers and empty fields may stay bare
        (b'a\tb\tc\r\n"x"\t2024-01-05 10:23:00\t-1.5\r\n"z"\t05/01/2024\t+.5\r\n', True),  # and dates
        (b'a\tb\r\n"x\r\ny"\t1\r\n"z"\t2\r\n', True),  # a wrapped value over two lines
        (b'a\tb\r\n"x"\ty\r\n', False),  # one bare text value
        (b'a\tb\r\n"x"\t1\r\n"z"\tw"\r\n', False),
        (b'a\tb\r\n"x"y\t1\r\n', False),  # text after a closing quote: not wrapped
        (b"a\tb\r\n1\t2,5\r\n", False),  # no text at all: read raw, the same either way
        (b'a\tb\r\n"x"\t2024-01-05 T\r\n', False),
        (b"a\tb\r\n", False),
        (b"a", False),
    ],
)
def test_auto_detection(body: bytes, quoted: bool) -> None:
    assert answer_is_quoted(body.decode("cp1252")) is quoted


def test_auto_looks_at_the_first_data_rows_only() -> None:
    wrapped = b'"x"\t"y"\r\n' * QUOTING_SAMPLE_ROWS
    later = read_tsv(b"a\tb\r\n" + wrapped + b'bare "1"\t"z"\r\n')
    assert len(later) == QUOTING_SAMPLE_ROWS + 1
    assert later[-1] == {"a": 'bare "1"', "b": "z"}  # read quoted: a quote inside a bare field is data
    raw = read_tsv(b"a\tb\r\n" + b'"x"\tbare\r\n' + wrapped)
    assert raw[0] == {"a": '"x"', "b": "bare"} and raw[-1] == {"a": '"x"', "b": '"y"'}


# --- round trip against an encoder written here -----------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="cp1252"), max_size=20)
number = st.from_regex(r"-?[0-9]{1,6}([.,][0-9]{1,2})?", fullmatch=True)
HEADER = ("reference", "designation", "quantity")


def encode(rows: list[tuple[tuple[str, bool], ...]], *, wrap_header: bool, line_ending: str) -> bytes:
    """Fastmag's quoted shape, written independently of the reader: a text value between quotes with each
    inner quote doubled, a number bare."""

    def wrap(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    lines = ["\t".join(wrap(name) if wrap_header else name for name in HEADER)]
    lines += ["\t".join(wrap(value) if is_text else value for value, is_text in row) for row in rows]
    return (line_ending.join(lines) + line_ending).encode("cp1252")


cell = st.one_of(st.tuples(text, st.just(True)), st.tuples(number, st.just(False)))


@given(
    st.lists(st.tuples(cell, cell, cell), max_size=8),
    st.booleans(),
    st.sampled_from(["\r\n", "\n"]),
)
def test_quoted_round_trip(rows: list[tuple[tuple[str, bool], ...]], wrap_header: bool, line_ending: str) -> None:
    read = read_tsv(encode(rows, wrap_header=wrap_header, line_ending=line_ending))
    assert [tuple(row.values()) for row in read] == [tuple(value for value, _ in row) for row in rows]


raw_text = st.text(alphabet=st.characters(codec="cp1252", exclude_characters="\t\r\n"), max_size=20)


@given(st.lists(st.tuples(raw_text, raw_text, raw_text), max_size=8), st.sampled_from(["\r\n", "\n"]))
def test_raw_round_trip(rows: list[tuple[str, str, str]], line_ending: str) -> None:
    body = line_ending.join(["\t".join(HEADER), *("\t".join(row) for row in rows)]) + line_ending
    assert [tuple(row.values()) for row in read_tsv(body.encode("cp1252"), quoting="none")] == rows
    if not any(value.startswith('"') for row in rows for value in row):  # no value looks wrapped
        assert [tuple(row.values()) for row in read_tsv(body.encode("cp1252"))] == rows
