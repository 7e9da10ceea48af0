"""The simulator's "normalising" answers: LNB's reads as a server that stores, then re-renders, would give them.

With `LeNewBlackSimulator.normalising` on, every read answer (products, retailers, prices, inventory) is
re-rendered so that a comparison which merely echoes what the connector sent cannot pass:

- numbers become strings (`5` → `"5"`, `12.5` → `"12.50"`), booleans stay booleans;
- lists of objects come in reverse order (variants, SKUs, delivery addresses, buyers, rows of a page);
  lists of plain values (a sizing's sizes) keep their order, which means something;
- each object gains server fields (`id`, `lnb_revision`), and null fields are left out;
- countries are upper case (a hand edit in lower case is stored as typed, answered upper case).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

SERVER_FIELDS = ("id", "lnb_revision")


def normalised(value: Any) -> Any:
    """`value` (a read answer) as the normalising server renders it."""
    if isinstance(value, dict):
        rendered = {key: _field(key, item) for key, item in value.items() if item is not None}
        identity = hashlib.sha256(repr(sorted(value.items(), key=lambda pair: pair[0])).encode()).hexdigest()
        rendered.setdefault("id", int(identity[:8], 16))
        rendered.setdefault("lnb_revision", "r1")
        return rendered
    if isinstance(value, list):
        items = [normalised(item) for item in value]
        return items[::-1] if any(isinstance(item, dict) for item in value) else items
    return _scalar(value)


def _field(key: str, value: Any) -> Any:
    if key == "country" and isinstance(value, str):
        return value.upper()
    return normalised(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{Decimal(str(value)):.2f}"
    return value
