"""The hot paths' JSON text (digests, log lines, task-log lines, sent values) is `json.dumps`'s, byte for byte."""

from __future__ import annotations

import json
from enum import StrEnum

from hypothesis import given
from hypothesis import strategies as st

from connector.json_text import text_of


class Colour(StrEnum):
    NAVY = "marine"


keys = st.text(max_size=4) | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.decimals()
    | st.just(Colour.NAVY)
    | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(keys, inner, max_size=3),
)


@given(values, st.booleans(), st.booleans())
def test_the_text_is_the_one_json_dumps_writes_with_the_same_options(
    value: object, sort_keys: bool, compact: bool
) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    try:
        expected = json.dumps(value, ensure_ascii=False, default=str, sort_keys=sort_keys, separators=separators)
    except TypeError:  # keys of mixed types cannot be sorted: neither can the encoder made once
        expected = None
    if expected is None:
        try:
            text_of(sort_keys=sort_keys, compact=compact)(value)
        except TypeError:
            return
        raise AssertionError("text_of sorted keys json.dumps could not")
    assert text_of(sort_keys=sort_keys, compact=compact)(value) == expected


def test_one_encoder_serves_many_documents_and_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    text = text_of(compact=True)
    documents = [{"key": str(number), "values": list(range(number % 7)), "é": number / 3} for number in range(2000)]
    with ThreadPoolExecutor(4) as pool:
        written = list(pool.map(text, documents))
    assert written == [json.dumps(document, ensure_ascii=False, separators=(",", ":")) for document in documents]
