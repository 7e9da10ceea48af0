"""JSON text for the hot paths: a record's digest, its log line, its task-log line, a sent value.

`json.dumps` with options, and `JSONEncoder.encode` too, make CPython's C encoder anew on every call; for the
short documents a full push writes three or four times per record (100 000 records a prices export), making it
cost a third of the encoding. `text_of` makes that same C encoder (`json.encoder.c_make_encoder`, the one
`encode` uses) once per format, so its text is byte for byte `json.dumps`'s with the same options.

The encoder is made without the circular-reference check: a JSON document has no cycle (one would end in
RecursionError rather than ValueError), and the check's shared state would not be safe between threads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

type JsonText = Callable[[Any], str]

_C_MAKE_ENCODER: Callable[..., Callable[[Any, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)


def text_of(*, sort_keys: bool = False, compact: bool = False) -> JsonText:
    """`json.dumps(value, ensure_ascii=False, default=str, sort_keys=…)`, with `separators=(",", ":")` when
    `compact`: non-ASCII kept, anything JSON cannot hold written as its str."""
    item_separator, key_separator = (",", ":") if compact else (", ", ": ")
    if _C_MAKE_ENCODER is None:  # a Python without the C encoder
        return json.JSONEncoder(
            sort_keys=sort_keys, ensure_ascii=False, separators=(item_separator, key_separator), default=str
        ).encode
    chunks = _C_MAKE_ENCODER(
        None, str, json.encoder.encode_basestring, None, key_separator, item_separator, sort_keys, False, True
    )

    def text(value: Any) -> str:
        return "".join(chunks(value, 0))

    return text
