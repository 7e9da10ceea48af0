"""The Fastmag EDI wire format (fastmag-api.md §1.4–1.6): pure functions, no I/O.

Reads come back as tab-separated text with a header row; writes are `|`-separated transaction lines whose
comment fields escape line breaks and pipes as `{CR}{LF}` and `{PIPE}`; write answers are `OK|n`, `OK` or
`KO|message`, and anything else means the outcome is unknown.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import repeat
from typing import Literal

from connector.errors import FastmagError, FastmagOutcomeUnknown

DecimalSeparator = Literal["auto", ",", "."]
Quoting = Literal["auto", "strip", "none"]

LINE_BREAK_ESCAPE = "{CR}{LF}"
PIPE_ESCAPE = "{PIPE}"
# A plain (unescaped) field may not carry these: they would split the field or the transaction.
_PLAIN_FORBIDDEN = re.compile(r"\r\n|[|\r\n\t]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_SPLIT = re.compile(r"\r?\n")
_REFUSED = re.compile(r"\s*KO\|", re.IGNORECASE)  # `\s` is what str.strip removes
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")

# Quoting detection (`answer_is_quoted`): how many data rows are looked at, and what a row of an answer whose
# text values are all wrapped looks like: each field wrapped (anything inside, `""` for a quote), empty, or a
# bare number, date or time (digits and `+-.,:/ `; MySQL, for one, leaves non-string columns unquoted).
QUOTING_SAMPLE_ROWS = 50
_QUOTED_HEADER = re.compile(r'"|[^\r\n]*\t"')  # a header field starting with a quote
_WRAPPED_FIELD = r'(?:"(?:[^"]|"")*"|(?=[-+.,:/ ]*[0-9])[-+.,:/ 0-9]++|)'
_WRAPPED_ROW = re.compile(rf"{_WRAPPED_FIELD}(?:\t{_WRAPPED_FIELD})*(?:\r\n|\n|\r|\Z)")


# --- reads: tab-separated answers of EDIQUERY ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """An EDIQUERY answer as read, before its rows are made: the header, and each record's values in its order, every
    record exactly as wide as the header. A flow that needs few columns of a big answer reads them from here."""

    header: list[str]
    records: list[list[str]]

    def rows(self, start: int = 0, stop: int | None = None) -> list[dict[str, str]]:
        """The records from `start` to `stop`, keyed by the header's names."""
        return list(map(dict, map(zip, repeat(self.header), self.records[start:stop])))


def read_tsv(
    body: bytes,
    *,
    charset: str = "cp1252",
    quoting: Quoting = "auto",
    required_columns: Iterable[str] = (),
) -> list[dict[str, str]]:
    """Rows of an EDIQUERY answer, keyed by the header row's names (`read_table`'s rows)."""
    return read_table(body, charset=charset, quoting=quoting, required_columns=required_columns).rows()


def read_table(
    body: bytes,
    *,
    charset: str = "cp1252",
    quoting: Quoting = "auto",
    required_columns: Iterable[str] = (),
) -> Table:
    """The header and records of an EDIQUERY answer.

    - An empty body or a header alone means no rows (the empty-result shape is unknown, §1.6).
    - `KO|…` raises FastmagError with the remote message; HTML, or a header lacking `required_columns`,
      raises FastmagError too: an answer we cannot trust must not look like an empty result.
    - `quoting` (see `answer_is_quoted` for `auto`): a quoted answer is read CSV-style (a field may be wrapped
      in `"`, `""` inside is one `"`, tabs and line breaks inside quotes are data; a lone CR also ends a
      line there); a malformed one (text after a closing quote, a quote never closed) raises FastmagError.
      A raw answer is split on tabs and line ends, its quotes kept as data. `none` always reads raw;
      `strip` deletes every `"` and reads raw, as live clients had to (§1.6): a value's own `"` is lost.
    - CRLF and LF both end a line. Blank lines are skipped, except in a one-column answer where a blank
      line is an empty value. A short row is padded with empty values (trailing empty columns may be
      trimmed); a row longer than the header is an error (a tab inside a value would shift every
      following column).
    """
    text = decode(body, charset)
    if quoting == "strip":
        text = text.replace('"', "")
    if not text or text.isspace():  # not `strip`: a catalogue's answer is megabytes, copied for nothing
        return Table([], [])
    if refused := _REFUSED.match(text):
        message = text[refused.end() :].strip()
        raise FastmagError(f"Fastmag refused the query: {message}", remote_message=message)
    text = text.lstrip("\r\n")
    line_end = _LINE_SPLIT.search(text)
    first_line = text[: line_end.start()] if line_end else text  # not `split`: it would copy the rest
    quoted = quoting == "auto" and answer_is_quoted(text)
    try:
        records = _records(text, quoted)
        header = [name.strip() for name in next(records, [])]
        _check_header(header, required_columns, first_line)
        data = list(records)
        # The common case with no Python-level loop: every record exactly as wide as the header.
        if set(map(len, data)) <= {len(header)}:
            return Table(header, data)
        # Some row is blank, short or too long: read one record at a time.
        return Table(header, _regular_records(header, data))
    except csv.Error as error:
        raise FastmagError(
            f"EDIQUERY answer is not readable as quoted TSV ({error}); fastmag.wire.quoting `none` reads it raw",
            remote_message=str(error),
        ) from None


def _records(text: str, quoted: bool) -> Iterator[list[str]]:
    """The fields of each line (raw) or record (quoted), header first."""
    if quoted:
        # newline="": the csv module sees line ends as they are, so a line break inside quotes stays in the value.
        return csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar='"', doublequote=True, strict=True)
    # str.split rather than csv with QUOTE_NONE: both are C, split is faster here and keeps a lone CR as data.
    lines = text.split("\r\n")  # Fastmag ends lines with CRLF: no copy of the answer with LF alone
    if text.count("\n") != len(lines) - 1:  # some line ends with LF alone
        lines = text.replace("\r\n", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()  # the terminator of the last row
    return map(str.split, lines, repeat("\t"))


def _regular_records(header: list[str], data: Iterable[list[str]]) -> list[list[str]]:
    """Records when some record is not as wide as the header: blank ones left out, short ones padded, a long one
    an error."""
    width = len(header)
    records: list[list[str]] = []
    for number, record in enumerate(data, start=2):
        values = record or [""]  # the csv module reads a blank line as no field at all
        if len(values) != width:
            if not "".join(values).strip():
                continue
            if len(values) > width:
                raise FastmagError(
                    f"EDIQUERY answer row {number} has {len(values)} values for {width} columns",
                    remote_message="\t".join(values)[:200],
                )
            values = [*values, *[""] * (width - len(values))]
        records.append(values)
    return records


def answer_is_quoted(text: str) -> bool:
    """`auto`: CSV-style quoting when a header field is wrapped in `"`, or when every non-empty text field of
    the first data rows is (numbers and dates may stay bare, and at least one wrapped field must be seen: an
    answer of numbers alone reads the same either way).

    The sample is matched one row at a time by a pattern that lets a wrapped field hold tabs and line breaks,
    so a quoted address over two lines does not make the answer look raw.
    """
    if _QUOTED_HEADER.match(text):
        return True
    line_end = _LINE_BREAK.search(text)
    if line_end is None:
        return False
    position, wrapped = line_end.end(), False
    for _ in range(QUOTING_SAMPLE_ROWS):
        if position >= len(text):
            break
        row = _WRAPPED_ROW.match(text, position)
        if row is None:
            return False
        wrapped = wrapped or text.find('"', position, row.end()) >= 0
        position = row.end()
    return wrapped


def _check_header(header: list[str], required: Iterable[str], raw: str) -> None:
    if raw.lstrip().startswith("<") or not header or not all(header) or len(set(header)) != len(header):
        raise FastmagError("EDIQUERY answer has no header row", remote_message=raw[:200])
    missing = [name for name in required if name not in header]
    if missing:
        raise FastmagError(f"EDIQUERY answer lacks column(s) {missing}; got {header}", remote_message=raw[:200])


def decode(body: bytes, charset: str) -> str:
    """Body text in the configured charset; undecodable bytes become U+FFFD rather than failing a read."""
    text = body.decode(charset, errors="replace")
    return text.removeprefix("\ufeff")


def parse_decimal(text: str, separator: DecimalSeparator = "auto") -> Decimal:
    """`12,50`, `12.50`, `-3`, `.5` → Decimal. No thousands separators; anything else raises ValueError.

    `auto` accepts either mark (Fastmag exports use a comma, the EDI's output is unknown); a fixed
    separator refuses the other one, so a misconfigured setting is noticed instead of misread.
    """
    cleaned = text.strip().replace("\u00a0", "")
    if separator == "auto":
        if "," in cleaned and "." in cleaned:
            raise ValueError(f"ambiguous decimal {text!r}: both ',' and '.'")
        cleaned = cleaned.replace(",", ".")
    elif separator == ",":
        if "." in cleaned:
            raise ValueError(f"decimal {text!r} uses '.' where ',' is configured")
        cleaned = cleaned.replace(",", ".")
    elif "," in cleaned:
        raise ValueError(f"decimal {text!r} uses ',' where '.' is configured")
    if not _DECIMAL.fullmatch(cleaned):
        raise ValueError(f"not a decimal: {text!r}")
    try:
        return Decimal(cleaned)
    except InvalidOperation as error:  # pragma: no cover - the pattern above admits only valid text
        raise ValueError(f"not a decimal: {text!r}") from error


def parse_int(text: str, separator: DecimalSeparator = "auto") -> int:
    """An integer, also written as a whole decimal (`12.0`, `12,00`: SUM over a REAL column)."""
    value = parse_decimal(text, separator)
    if value != value.to_integral_value():
        raise ValueError(f"not a whole number: {text!r}")
    return int(value)


# --- charset ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encoded:
    """Text made encodable in a charset, and the characters that had to be replaced."""

    text: str
    replaced: tuple[str, ...] = ()


def encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def to_charset(text: str, charset: str) -> Encoded:
    """Replace what `charset` cannot encode: by its unaccented base letter when it has one, else `?`.

    The caller reports `replaced` (fastmag-api.md "What this means" §5): silently sending `?` into an ERP
    record is how names get corrupted without anyone noticing.
    """
    if encodable(text, charset):
        return Encoded(text)
    out: list[str] = []
    replaced: list[str] = []
    for char in text:
        if encodable(char, charset):
            out.append(char)
            continue
        replaced.append(char)
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        # A compatibility form may decompose to a separator (fullwidth `｜` → `|`): never let it through.
        safe = base and encodable(base, charset) and not _PLAIN_FORBIDDEN.search(base)
        out.append(base if safe else "?")
    return Encoded("".join(out), tuple(replaced))


# --- writes: pipe-separated transactions of EDIWEBSRV -------------------------------------------------------


def escape_field(text: str, escaped: bool) -> str:
    """One field of a transaction line.

    Escaped fields (comments, notes) keep their line breaks as `{CR}{LF}` and pipes as `{PIPE}` (§1.4);
    a tab becomes a space there too, since Fastmag would later return it inside its own tab-separated
    answers. Every other field has `|`, line breaks and tabs replaced by a space: the doc states no
    escape for them.
    """
    if escaped:
        text = _LINE_BREAK.sub(LINE_BREAK_ESCAPE, text)
        return text.replace("|", PIPE_ESCAPE).replace("\t", " ")
    return _PLAIN_FORBIDDEN.sub(" ", text)


def unescape_field(text: str) -> str:
    """Inverse of `escape_field(…, escaped=True)`; line breaks come back as CRLF."""
    return text.replace(LINE_BREAK_ESCAPE, "\r\n").replace(PIPE_ESCAPE, "|")


def format_line(fields: Sequence[str]) -> str:
    """Join already escaped fields; a stray separator is a programming error, not data to send."""
    for field in fields:
        if _PLAIN_FORBIDDEN.search(field):
            raise ValueError(f"field {field!r} is not escaped")
    return "|".join(fields)


def parse_line(line: str) -> list[str]:
    """The raw fields of one transaction line (escaped fields are still escaped)."""
    return line.rstrip("\r\n").split("|")


def split_transactions(data: str) -> list[str]:
    """The non-blank lines of a `Data` parameter (CRLF or LF)."""
    return [line for line in _LINE_SPLIT.split(data) if line.strip()]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What EDIWEBSRV answered: `OK|number`, `OK` or `KO|message`.

    `replaced` lists characters the client had to replace to encode the request in the wire charset.
    """

    ok: bool
    number: str | None = None
    message: str | None = None
    replaced: tuple[str, ...] = ()


def parse_write_response(body: str) -> WriteResult:
    """The answer to one `Data`. The body is the result, whatever the HTTP status (§1.5).

    Several transactions in one `Data` may be answered one line each (not documented): all `OK` gives
    the first number (the order header's); all `KO` gives the messages; a mix means part was written,
    so the outcome is unknown as a whole. HTML, an empty body or any other text is an unknown outcome.
    """
    lines = [line.strip() for line in split_transactions(body.removeprefix("\ufeff"))]
    if not lines:
        raise FastmagOutcomeUnknown("EDIWEBSRV answered an empty body")
    results = [_parse_write_line(line) for line in lines]
    if all(result.ok for result in results):
        number = next((r.number for r in results if r.number is not None), None)
        return WriteResult(ok=True, number=number)
    if not any(result.ok for result in results):
        messages = [r.message for r in results if r.message]
        return WriteResult(ok=False, message=" / ".join(messages) or None)
    raise FastmagOutcomeUnknown(f"EDIWEBSRV accepted part of the transactions: {body.strip()[:200]}")


def _parse_write_line(line: str) -> WriteResult:
    status, _, rest = line.partition("|")
    rest = rest.strip()
    match status.strip().upper():
        case "OK":
            return WriteResult(ok=True, number=rest or None)
        case "KO":
            return WriteResult(ok=False, message=rest or None)
        case _:
            raise FastmagOutcomeUnknown(
                f"EDIWEBSRV answered neither OK nor KO: {line[:200]!r}", remote_message=line[:200]
            )
