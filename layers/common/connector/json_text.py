"""JSON for the hot paths: a record's digest and log line (`text_of`), a line of the connector's own files
(`compact_json`: task-log lines, previews, snapshots, sent values), each written three or four times per record a
full push sends (100 000 records a prices export); and JSON read (`read_json`: LNB's answers, snapshots, sent
values).

All go through orjson, about ten times faster than `json.dumps` on these short documents.

- `text_of` must be `json.dumps`'s text byte for byte: a digest read another way would make every record look
  changed after an upgrade, and record lines are the ones Powertools writes. Where orjson writes otherwise, the
  standard library's C encoder writes the text instead (made once per format: `json.dumps` makes it anew on every
  call). orjson writes otherwise, or refuses: NaN and infinities (`null`), a float below 1e-4 (`1e-5` or `0.00001`
  for `1e-05`), an integer past 64 bits, a key that is not text, a float or tuple subclass (a number and a list
  for `json`). One difference is left: an `Enum` that is neither `str` nor `int` is written as its value, where
  `json` writes its `str`; the connector has none (its enums are `StrEnum`s and one `IntEnum`).
- `compact_json` is read back as JSON, never compared as text: orjson's text is kept as it is (the same values
  once read), and the standard library writes only what orjson refuses.

The fallback encoder is made without the circular-reference check: a JSON document has no cycle (one would end in
RecursionError rather than ValueError), and the check's shared state would not be safe between threads.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

type JsonText = Callable[[Any], str]

_C_MAKE_ENCODER: Callable[..., Callable[[Any, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
# What `json` writes as its str (default=str) orjson would too, but dates, times and dataclasses, which orjson
# writes its own way unless they are passed through to the default.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# orjson's text for a float below 1e-4 has four zeros after the point, or a one-digit negative exponent after a
# digit (`1e-5`, where `json` writes `1e-05`). The exponent is searched from its letter: a pattern that starts with a
# literal is scanned fast, where `\de-` was tried at every position (4 µs a record line with `e-` in a run id).
_ONE_DIGIT_EXPONENT = re.compile(r"e-\d(?!\d)")


def _small_float_in(written: str) -> bool:
    if "0.0000" in written:
        return True
    if "e-" not in written:
        return False
    search = _ONE_DIGIT_EXPONENT.search
    match = search(written)
    while match is not None:
        at = match.start()
        if at and written[at - 1].isdecimal():
            return True
        match = search(written, at + 3)
    return False


def _str_as_json_would(value: Any) -> str:
    """orjson's default: the str `json.dumps(default=str)` writes. A float or tuple subclass reaches it, which
    `json` writes as a number or a list: refused, so the standard library writes it."""
    if isinstance(value, float | tuple):
        raise TypeError(type(value).__name__)
    return str(value)


def _json_dumps_text(*, sort_keys: bool) -> JsonText:
    """`json.dumps(value, ensure_ascii=False, default=str, sort_keys=…, separators=(",", ":"))`."""
    if _C_MAKE_ENCODER is None:  # a Python without the C encoder
        return json.JSONEncoder(sort_keys=sort_keys, ensure_ascii=False, separators=(",", ":"), default=str).encode
    chunks = _C_MAKE_ENCODER(None, str, json.encoder.encode_basestring, None, ":", ",", sort_keys, False, True)

    def text(value: Any) -> str:
        return "".join(chunks(value, 0))

    return text


def text_of(*, sort_keys: bool = False) -> JsonText:
    """`json.dumps(value, ensure_ascii=False, default=str, sort_keys=…, separators=(",", ":"))`, byte for byte:
    compact, non-ASCII kept, anything JSON cannot hold written as its str."""
    exact = _json_dumps_text(sort_keys=sort_keys)
    options = _OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _OPTIONS

    def text(value: Any) -> str:
        try:
            written = orjson.dumps(value, default=_str_as_json_would, option=options).decode()
        except orjson.JSONEncodeError:
            return exact(value)
        # What orjson writes otherwise leaves its mark in the text: null for NaN and infinities, `1e-5` or `0.00001`
        # for a float below 1e-4 (`json`: `1e-05`). A text value with such a mark only costs `json`'s encoding too.
        if "null" in written or _small_float_in(written):
            return exact(value)
        return written

    return text


_fallback_text = _json_dumps_text(sort_keys=False)


def compact_json(value: Any) -> str:
    """Compact JSON that reads back as `json.dumps(value, default=str)` does, but for NaN and infinities, written
    as null (JSON has no such numbers); non-ASCII kept."""
    try:
        return orjson.dumps(value, default=_str_as_json_would, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _fallback_text(_finite(value))


def _finite(value: Any) -> Any:
    """`value` with None for NaN and infinities, as orjson writes them (only on the rare standard-library path)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


# orjson reads an integer past 64 bits as a float, losing digits: a document with a number of 19 digits or more is
# read by the standard library, which keeps them. Every digit made a 0, then substring searches: a tenth of the time
# a pattern takes, which would cost more than the decoding it guards. A run of digits inside a text (an EAN13 has
# 13; a hexadecimal digest may have 19) is told apart by what comes before it.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
_BEFORE_A_NUMBER = frozenset(b":,[ \t\r\n")
_NOT_A_DIGIT = re.compile(rb"[^0]")


def _long_number_in(content: bytes) -> bool:
    """Whether `content` may hold a number of 19 digits or more (a run of digits inside a text does not count,
    unless it follows what a number follows)."""
    digits = content.translate(_DIGITS_AS_ZERO)
    at = digits.find(_LONG_DIGITS)
    while at != -1:  # the start of a run: the byte before it is not a digit
        before = at - 1
        if before >= 0 and digits[before] == ord("-"):
            before -= 1
        if before < 0 or digits[before] in _BEFORE_A_NUMBER:
            return True
        run_end = _NOT_A_DIGIT.search(digits, at)
        if run_end is None:
            return False
        at = digits.find(_LONG_DIGITS, run_end.start())
    return False


def read_json(content: bytes) -> Any:
    """UTF-8 JSON read as `json.loads` reads it; ValueError when it is not UTF-8 JSON, for the caller to read it
    another way (another encoding, or what only the standard library accepts, such as NaN)."""
    if _long_number_in(content):
        return json.loads(content.decode("utf-8"))  # UnicodeDecodeError is a ValueError too
    return orjson.loads(content)


def read_stored_json(content: bytes) -> Any:
    """A JSON file the connector stored: `read_json`, or the standard library for what only it reads (a NaN an
    earlier release wrote)."""
    try:
        return read_json(content)
    except ValueError:
        return json.loads(content)
