"""A payload's digest counts only the fields present: an optional field added unset changes no digest."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.state import digest, payload_digest

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
