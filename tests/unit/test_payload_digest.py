"""A payload's digest counts only the fields present: an optional field added unset changes no digest."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from connector.state import _present, canonical_json, digest, payload_digest

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
payloads = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
)


def test_an_absent_and_a_none_field_digest_alike_at_any_depth() -> None:
    before = {"model": "CH2301", "variants": [{"ean13": "3000000000017", "size": "M"}]}
    after = {"model": "CH2301", "extra_9": None, "variants": [{"ean13": "3000000000017", "size": "M", "tag": None}]}
    assert payload_digest(after) == payload_digest(before)
    assert payload_digest({**before, "extra_9": "x"}) != payload_digest(before)


@given(st.dictionaries(st.text(max_size=4), payloads, max_size=4))
def test_a_payload_without_none_keeps_the_digest_earlier_releases_stored(payload: dict[str, object]) -> None:
    present = {key: value for key, value in payload.items() if value is not None}
    assert payload_digest({**present, "added_later": None}) == payload_digest(present)


def test_payloads_as_the_flows_build_them_keep_their_stored_digest() -> None:
    # Flows dump their payloads without None (`exclude_none`): snapshots written before still match.
    payload = {"model": "CH2301", "name": "Chemise", "variants": [{"ean13": "3000000000017", "in_stock": 3}]}
    assert payload_digest(payload) == digest(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.decimals(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
)


@given(json_values)
def test_the_canonical_text_is_the_one_the_json_encoder_writes(value: object) -> None:
    """The encoder made once writes what `JSONEncoder.encode` with the digest's options writes."""
    expected = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode(value)
    assert canonical_json(value) == expected


@given(st.dictionaries(st.text(max_size=4), st.booleans() | st.integers() | st.floats() | st.text(max_size=5)))
def test_a_flat_payload_digests_as_its_present_fields_do(payload: dict[str, object]) -> None:
    assert payload_digest(payload) == digest(_present(payload))
