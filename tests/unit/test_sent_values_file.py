"""The values kept beside a snapshot (previews.SentValues) are written value by value, never as one text: the
stored bytes are those of the whole document dumped at once, key order and masking included."""

from __future__ import annotations

import gzip
import json
from typing import Any

from connector.json_text import compact_json
from connector.observability import masked
from connector.previews import SentValues
from tests.unit.s3_bucket import BUCKET


def whole_document(values: dict[str, tuple[str, Any]]) -> bytes:
    """The file as one `compact_json` of the document writes it."""
    document = {
        "format": 1,
        "values": {key: {"digest": digest, "payload": payload} for key, (digest, payload) in values.items()},
    }
    return gzip.compress(compact_json(document).encode(), compresslevel=1, mtime=0)


def stored(s3: Any, name: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=SentValues.key(name))["Body"].read()
    return body


def test_the_file_is_byte_for_byte_the_whole_document_in_the_order_a_dict_update_gives(s3: Any) -> None:
    values = SentValues(s3, BUCKET)
    first = {
        "A": ("a1", {"name": 'Robe "Élise"\nNOIR', "buyers": [{"email": "jeanne.durand@example.fr"}]}),
        "B": ("b1", {"name": "B", "price": 12.5}),
        "C": ("c1", {"name": "C", "sizes": ["S", "M"]}),
        "D": ("d1", {"name": None}),
        "F": ("f1", {"name": "F"}),
    }
    values.update("products", first, {key: digest for key, (digest, _) in first.items()})
    assert stored(s3, "products") == whole_document({key: (d, masked(p)) for key, (d, p) in first.items()})

    # B and C change in place, D leaves the snapshot, E is new, F is accepted though the snapshot does not keep it
    # (a rebase dropped it): appended after the others, as a dict update does.
    accepted = {
        "E": ("e1", {"name": "E ✓"}),
        "F": ("f2", {"name": "F2"}),
        "B": ("b2", {"name": "B2"}),
        "C": ("c2", {"name": "C2"}),
    }
    kept = {"A": "a1", "C": "c2", "B": "b2", "E": "e1"}
    values.update("products", accepted, kept)
    expected = {key: value for key, value in values_before(first).items() if key in kept}
    expected.update({key: (d, masked(p)) for key, (d, p) in accepted.items()})
    assert list(expected) == ["A", "B", "C", "E", "F"]
    assert stored(s3, "products") == whole_document(expected)
    assert values.load("products") == expected


def values_before(first: dict[str, tuple[str, Any]]) -> dict[str, tuple[str, Any]]:
    return {key: (digest, json.loads(json.dumps(masked(payload)))) for key, (digest, payload) in first.items()}


def test_a_file_an_earlier_release_wrote_still_reads(s3: Any) -> None:
    """Spaced separators, and a NaN only the standard library reads: the old values are still shown."""
    document = {"format": 1, "values": {"A": {"digest": "a1", "payload": {"price": float("nan"), "ean13": 10**20}}}}
    body = gzip.compress(json.dumps(document, ensure_ascii=False).encode())
    s3.put_object(Bucket=BUCKET, Key=SentValues.key("prices"), Body=body)
    [(digest, payload)] = SentValues(s3, BUCKET).load("prices").values()
    assert digest == "a1"
    assert payload["ean13"] == 10**20
    assert payload["price"] != payload["price"]  # NaN
