from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import FastmagError, FastmagOutcomeUnknown
from connector.fastmag.wire import (
    Quoting,
    Table,
    WriteResult,
    encodable,
    escape_field,
    format_line,
    parse_decimal,
    parse_int,
    parse_line,
    parse_write_response,
    read_table,
    read_tsv,
    split_transactions,
    to_charset,
    unescape_field,
)
from sandbox.fastmag_sim import AnswerQuoting, write_tsv

# --- TSV reader -------------------------------------------------------------------------------------------------


def test_reads_windows_1252_rows_by_header_name() -> None:
    body = "reference\tdesignation\r\nCH2301\tChemise à col Claudine\r\nPU2301\tPull d'hiver côtelé\r\n"
    rows = read_tsv(body.encode("cp1252"))
    assert rows == [
        {"reference": "CH2301", "designation": "Chemise à col Claudine"},
        {"reference": "PU2301", "designation": "Pull d'hiver côtelé"},
    ]


def test_reads_utf8_and_lf_when_configured() -> None:
    body = "a\tb\nÉCRU\t1\n".encode()
    assert read_tsv(body, charset="utf-8") == [{"a": "ÉCRU", "b": "1"}]


def test_strip_deletes_every_double_quote_and_none_keeps_them() -> None:
    body = b'"a"\tb\r\n"JAUNE D\'OR"\t"12 ""pouces"""\r\n'
    assert read_tsv(body, quoting="strip") == [{"a": "JAUNE D'OR", "b": "12 pouces"}]
    assert read_tsv(body, quoting="none") == [{'"a"': '"JAUNE D\'OR"', "b": '"12 ""pouces"""'}]


@pytest.mark.parametrize("body", [b"", b"\r\n", b"  \n"])
def test_an_empty_body_has_no_rows(body: bytes) -> None:
    assert read_tsv(body) == []


def test_a_header_alone_has_no_rows() -> None:
    assert read_tsv(b"reference\tquantity\r\n") == []


def test_ko_is_an_error_with_the_remote_message() -> None:
    with pytest.raises(FastmagError) as caught:
        read_tsv("KO|Erreur SQL : colonne inconnue « prix »".encode("cp1252"))
    assert caught.value.remote_message == "Erreur SQL : colonne inconnue « prix »"


def test_an_html_page_is_not_an_empty_result() -> None:
    with pytest.raises(FastmagError, match="no header row"):
        read_tsv(b"<html><body>Erreur</body></html>")


def test_a_header_lacking_required_columns_is_an_error() -> None:
    with pytest.raises(FastmagError, match="quantity"):
        read_tsv(b"OK\r\n", required_columns=("ean13", "quantity"))


def test_short_rows_are_padded_and_long_rows_refused() -> None:
    assert read_tsv(b"a\tb\tc\r\n1\t2\r\n") == [{"a": "1", "b": "2", "c": ""}]
    with pytest.raises(FastmagError, match="row 2 has 3 values for 2 columns"):
        read_tsv(b"a\tb\r\n1\t2\t3\r\n")
    with pytest.raises(FastmagError, match="row 3 has 3 values for 2 columns"):  # the tab counts even out
        read_tsv(b"a\tb\r\n1\r\n1\t2\t3\r\n")


def test_blank_lines_are_skipped_but_a_one_column_blank_is_an_empty_value() -> None:
    assert read_tsv(b"a\tb\r\n\r\n1\t2\r\n") == [{"a": "1", "b": "2"}]
    assert read_tsv(b"a\r\nx\r\n\r\ny\r\n") == [{"a": "x"}, {"a": ""}, {"a": "y"}]


# What round-trips through the simulator's writer and the client's reader. Raw answers cannot carry a tab, CR or
# LF (the writer turns them into spaces) and are read with quoting `none`, since a raw value may itself look
# wrapped; `sprinkled` answers flatten those too but keep every `"`; `quoted` answers keep everything. `strip`
# on a sprinkled answer loses every `"` of a value, by design (fastmag-api.md §1.6).
cell = st.text(alphabet=st.characters(codec="cp1252", exclude_characters="\x00"), max_size=30)


@given(
    st.lists(st.tuples(cell, cell), max_size=6),
    st.sampled_from(["\r\n", "\n"]),
    st.sampled_from([("raw", "none"), ("sprinkled", "auto"), ("quoted", "auto"), ("sprinkled", "strip")]),
)
def test_tsv_round_trip_through_the_simulator(
    rows: list[tuple[str, str]], line_ending: str, shape_and_setting: tuple[AnswerQuoting, Quoting]
) -> None:
    shape, quoting = shape_and_setting
    body = write_tsv(["a", "b"], rows, line_ending=line_ending, quoting=shape)
    read = read_tsv(body, quoting=quoting)

    def expected(value: str) -> str:
        if shape != "quoted":
            value = value.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        return value.replace('"', "") if quoting == "strip" else value

    assert [(r["a"], r["b"]) for r in read] == [(expected(a), expected(b)) for a, b in rows]


def test_characters_outside_the_charset_become_question_marks_on_the_simulator_side() -> None:
    assert read_tsv(write_tsv(["a"], [("Zoë ★",)])) == [{"a": "Zoë ?"}]


# --- numbers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "separator", "value"),
    [
        ("12,50", "auto", "12.50"),
        ("12.50", "auto", "12.50"),
        ("-3", "auto", "-3"),
        (" 7 ", "auto", "7"),
        (".5", "auto", "0.5"),
        ("12,5", ",", "12.5"),
        ("12.5", ".", "12.5"),
    ],
)
def test_parse_decimal(text: str, separator: str, value: str) -> None:
    assert parse_decimal(text, separator) == Decimal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("", "auto"),
        ("abc", "auto"),
        ("1.234,5", "auto"),
        ("1 234", "auto"),
        ("1e5", "auto"),
        ("NaN", "auto"),
        ("12.5", ","),
        ("12,5", "."),
        ("1,2,3", "auto"),
    ],
)
def test_parse_decimal_refuses_junk(text: str, separator: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        parse_decimal(text, separator)  # type: ignore[arg-type]


def test_parse_int_accepts_whole_decimals_only() -> None:
    assert parse_int("12") == 12
    assert parse_int("12,00") == 12
    assert parse_int("-4.0") == -4
    with pytest.raises(ValueError, match="whole"):
        parse_int("1.5")


# --- charset ----------------------------------------------------------------------------------------------------


def test_to_charset_replaces_and_reports() -> None:
    assert to_charset("Chemise à col Claudine – œuvre", "cp1252").replaced == ()
    converted = to_charset("Zoë Łódź ★ ｜", "cp1252")
    # ź loses its accent; Ł and ★ have no base letter; a fullwidth pipe must not become a separator.
    assert converted.text == "Zoë ?ódz ? ?"
    assert converted.replaced == ("Ł", "ź", "★", "｜")
    assert encodable(converted.text, "cp1252")


# --- pipe lines -------------------------------------------------------------------------------------------------


def test_escaped_fields_keep_line_breaks_and_pipes_as_escapes() -> None:
    assert escape_field("Merci | à vous\r\nQuai 3\nFin\r", escaped=True) == (
        "Merci {PIPE} à vous{CR}{LF}Quai 3{CR}{LF}Fin{CR}{LF}"
    )


def test_plain_fields_lose_separators() -> None:
    assert escape_field("a|b\tc\r\nd\ne", escaped=False) == "a b c d e"


def test_format_line_refuses_an_unescaped_field() -> None:
    assert format_line(["COMMANDE", "ENTETE", ""]) == "COMMANDE|ENTETE|"
    with pytest.raises(ValueError, match="not escaped"):
        format_line(["a|b"])


def test_split_transactions_accepts_crlf_and_lf() -> None:
    assert split_transactions("A|1\r\nB|2\nC|3\r\n\r\n") == ["A|1", "B|2", "C|3"]


escapes_free = st.text().filter(lambda t: "{PIPE}" not in t and "{CR}{LF}" not in t)


@given(st.lists(escapes_free, min_size=1, max_size=5), st.lists(st.text(), min_size=1, max_size=5))
def test_pipe_line_round_trip(comments: list[str], plain: list[str]) -> None:
    """Escaped fields come back with CRLF for any line break and a space for a tab; plain fields come back
    with `|`, CR, LF and tab as spaces. Texts containing the escape sequences themselves are ambiguous by
    the protocol's design and excluded."""
    line = format_line([escape_field(t, True) for t in comments] + [escape_field(t, False) for t in plain])
    fields = parse_line(line)
    assert len(fields) == len(comments) + len(plain)
    normalise = {"\r\n": "\r\n", "\r": "\r\n", "\n": "\r\n"}
    for field, text in zip(fields, comments, strict=False):
        expected = "".join(normalise.get(c, c) for c in text.replace("\r\n", "\n")).replace("\t", " ")
        assert unescape_field(field) == expected
    for field, text in zip(fields[len(comments) :], plain, strict=True):
        assert field == text.replace("\r\n", " ").translate(str.maketrans("|\r\n\t", "    "))


# --- write answers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "result"),
    [
        ("OK|700123", WriteResult(ok=True, number="700123")),
        ("OK|700123\r\n", WriteResult(ok=True, number="700123")),
        ("OK", WriteResult(ok=True)),
        ("ok|12", WriteResult(ok=True, number="12")),
        ("KO|Client inconnu : 12", WriteResult(ok=False, message="Client inconnu : 12")),
        ("KO", WriteResult(ok=False)),
        ("OK|700123\r\nOK\r\nOK", WriteResult(ok=True, number="700123")),
        ("KO|a\r\nKO|b", WriteResult(ok=False, message="a / b")),
    ],
)
def test_parse_write_response(body: str, result: WriteResult) -> None:
    assert parse_write_response(body) == result


@pytest.mark.parametrize(
    "body", ["", "  \r\n", "<html><body>Erreur 500</body></html>", "OKAY", "Internal Server Error", "OK|1\nKO|x"]
)
def test_anything_else_is_an_unknown_outcome(body: str) -> None:
    with pytest.raises(FastmagOutcomeUnknown):
        parse_write_response(body)


# A raw answer's values: anything but a tab or a line break, a lone CR included (it is data).
raw_values = st.text(alphabet=st.characters(blacklist_characters="\t\n", codec="cp1252"), max_size=6).filter(
    lambda value: not value.endswith("\r")  # "x\r" then a line end is "x" and a CRLF
)


@given(
    st.lists(st.lists(raw_values, min_size=3, max_size=3), max_size=6),
    st.lists(st.sampled_from(["\r\n", "\n"]), min_size=7, max_size=7),
)
def test_a_raw_answer_reads_the_same_whatever_ends_its_lines(records: list[list[str]], ends: list[str]) -> None:
    header = ["reference", "colour", "size"]
    text = "".join("\t".join(values) + end for values, end in zip([header, *records], ends, strict=False))
    table = read_table(text.encode("cp1252"), quoting="none")
    expected = records  # each as wide as the header, its values empty or not
    assert table.header == header
    assert table.records == expected
    assert read_tsv(text.encode("cp1252"), quoting="none") == [
        dict(zip(header, values, strict=True)) for values in expected
    ]


def test_a_refusal_is_read_after_any_blank_and_in_any_case() -> None:
    with pytest.raises(FastmagError, match="Fastmag refused the query: Table inconnue") as refused:
        read_table(b" \r\n\tko|  Table inconnue \r\n")
    assert refused.value.remote_message == "Table inconnue"
    assert read_table(b" \r\n \t") == read_table(b"") == Table([], [])
