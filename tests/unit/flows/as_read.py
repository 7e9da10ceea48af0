"""Test rows as a typed Fastmag read returns them: the query's number columns parsed (`fastmag/reads.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.fastmag.queries import Query
from connector.fastmag.reads import typed_rows
from connector.fastmag.wire import DecimalSeparator


def as_read(
    query: Query,
    rows: Iterable[Mapping[str, str]],
    separator: DecimalSeparator = "auto",
    *,
    int_when_whole: bool = False,
) -> list[Any]:
    """Copies of `rows` (fixtures are shared between tests) with `query`'s numbers parsed with `separator`
    (`int_when_whole`: plain digits as ints, as the stock read gives them)."""
    return typed_rows([dict(row) for row in rows], query, separator, int_when_whole=int_when_whole)
