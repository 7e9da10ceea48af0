"""The hot paths' JSON text: digests and record lines (`text_of`) are `json.dumps`'s byte for byte; the connector's
own files (`compact_json`) read back as `json.dumps` would have written them."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import math
import uuid
from collections.abc import Callable
from enum import IntEnum, StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector import json_text
from connector.json_text import compact_json, read_json, read_stored_json, text_of


class Colour(StrEnum):
    NAVY = "marine"


class Size(IntEnum):
    SMALL = 1


class Price(float):
    """A float subclass: orjson hands it to its default, json writes it as a number."""


Pair = collections.namedtuple("Pair", "first second")


@dataclasses.dataclass
class Item:
    name: str


keys = st.text(max_size=4) | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**65)  # orjson's limit is 64 bits
    | st.floats()
    | st.floats(min_value=-1e-3, max_value=1e-3)  # where orjson formats floats otherwise
    | st.text(max_size=5)
    | st.sampled_from(["null", "e-1", "0.00001", "\x00\x1f\x7f\u2028é😀"])  # the guards' texts, escapes
    | st.decimals()
    | st.just(Colour.NAVY)
    | st.just(Size.SMALL)
    | st.builds(Price, st.floats())
    | st.builds(Pair, st.integers(), st.text(max_size=2))
    | st.builds(Item, st.text(max_size=3))
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
    | st.dates()
    | st.uuids()
    | st.binary(max_size=3)
    | st.frozensets(st.integers(), max_size=2)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(keys, inner, max_size=3),
)


@given(values, st.booleans())
def test_the_text_is_the_one_json_dumps_writes_with_the_same_options(value: object, sort_keys: bool) -> None:
    try:
        expected = json.dumps(value, ensure_ascii=False, default=str, sort_keys=sort_keys, separators=(",", ":"))
    except TypeError:  # keys of mixed types cannot be sorted: neither can the encoder made once
        expected = None
    if expected is None:
        try:
            text_of(sort_keys=sort_keys)(value)
        except TypeError:
            return
        raise AssertionError("text_of sorted keys json.dumps could not")
    assert text_of(sort_keys=sort_keys)(value) == expected


@given(
    st.floats(min_value=1e-10, max_value=1e-4, exclude_max=True)
    | st.sampled_from([math.nan, math.inf, -math.inf, 2**64, -(2**63) - 1]),
    st.booleans(),
)
def test_the_numbers_orjson_writes_otherwise_are_written_as_json_does(number: float, sort_keys: bool) -> None:
    document = {"price": number, "prices": [-number, number]}
    assert text_of(sort_keys=sort_keys)(document) == json.dumps(document, separators=(",", ":"), sort_keys=sort_keys)


def test_only_what_orjson_writes_otherwise_costs_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record line of a run named `…-export-time-1`, or a price of 0.5, is written by orjson alone."""
    written_by_json: list[object] = []

    def exact(*, sort_keys: bool) -> Callable[[object], str]:
        def text(value: object) -> str:
            written_by_json.append(value)
            return json.dumps(value, ensure_ascii=False, default=str, sort_keys=sort_keys, separators=(",", ":"))

        return text

    monkeypatch.setattr(json_text, "_json_dumps_text", exact)
    text = json_text.text_of()
    ordinary = [{"run_id": "bench-prices-full-export-time-1", "price": 0.5, "when": "2026-12-01 03:00:00,005+0000"}]
    diverging = [{"price": 0.00005}, {"price": 2.5e-7}, {"price": math.nan}, [2**70], {1: "one"}]
    for document in ordinary + diverging:
        assert text(document) == json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    assert written_by_json == diverging


def as_json_reads_it(value: object) -> object:
    """`json.dumps`'s text read back, NaN and infinities (which JSON has not) as null."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str), parse_constant=lambda name: None)


@given(values)
def test_a_file_line_reads_back_as_json_dumps_would_have_written_it(value: object) -> None:
    written = compact_json(value)
    assert "\n" not in written
    assert json.loads(written) == as_json_reads_it(value)


def test_nan_and_infinities_are_null_in_a_file_line() -> None:
    assert json.loads(compact_json({"a": math.nan, "b": [math.inf, -math.inf]})) == {"a": None, "b": [None, None]}


def test_what_only_the_standard_library_writes_still_gets_written() -> None:
    document = {1: 2**70, "when": datetime.datetime(2026, 12, 1, 8, 30), "id": uuid.UUID(int=5)}
    assert json.loads(compact_json(document)) == {
        "1": 2**70,
        "when": "2026-12-01 08:30:00",
        "id": str(uuid.UUID(int=5)),
    }
    assert text_of(sort_keys=True)({"b": 1e-05, "a": Price(2.5)}) == '{"a":2.5,"b":1e-05}'


def test_one_encoder_serves_many_documents_and_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    text = text_of()
    documents = [{"key": str(number), "values": list(range(number % 7)), "é": number / 3} for number in range(2000)]
    with ThreadPoolExecutor(4) as pool:
        written = list(pool.map(text, documents))
    assert written == [json.dumps(document, ensure_ascii=False, separators=(",", ":")) for document in documents]


long_integers = st.integers(min_value=10**18, max_value=10**40) | st.integers(min_value=-(10**40), max_value=-(10**18))
digit_texts = st.from_regex(r"[0-9a-f\-]{0,3}[0-9]{17,30}[0-9a-f]{0,3}", fullmatch=True)  # digests, references
read_documents = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | long_integers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | digit_texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4) | digit_texts, inner, max_size=4),
)


@given(read_documents, st.sampled_from([None, 1]), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_a_document_reads_as_the_standard_library_reads_it(
    value: object, indent: int | None, separators: tuple[str, str]
) -> None:
    """Every integer keeps its digits, however long and wherever it stands (after `[`, `:`, `,`, a space, a line
    break, a minus), next to texts with long runs of digits."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    assert read_json(text.encode()) == json.loads(text)


def test_long_runs_of_digits_inside_texts_are_read_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot of digests (about one in a thousand has 19 digits in a row) is not handed to the standard
    library for them; a long number is."""
    read_by_json: list[object] = []
    loads = json.loads

    def spy(text: str | bytes) -> object:
        read_by_json.append(text)
        return loads(text)

    monkeypatch.setattr(json_text.json, "loads", spy)
    digests = {f"37600001{n:05d}": f"a{n}1234567890123456789012" for n in range(100)}
    texts = json.dumps({"entries": digests, "ref": "SKU-12345678901234567890", "negative": "-1234567890123456789"})
    assert read_json(texts.encode()) == loads(texts)
    assert read_by_json == []
    for number in ("[1234567890123456789]", '{"a":-12345678901234567890}', '{"a": 1,\n"b":\t12345678901234567890}'):
        assert read_json(number.encode()) == loads(number)
    assert len(read_by_json) == 3


def test_a_stored_file_an_earlier_release_wrote_with_nan_still_reads() -> None:
    [value] = read_stored_json(b'{"price": NaN}').values()
    assert math.isnan(value)
    with pytest.raises(ValueError, match="line 1 column 11"):
        read_json(b'{"price": NaN}')
