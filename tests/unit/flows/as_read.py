"""Test rows as a typed Fastmag read returns them: the query's number columns parsed (`fastmag/reads.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.fastmag.queries import Query
from connector.fastmag.reads import typed_rows
from connector.fastmag.wire import DecimalSeparator


def as_read(query: Query, rows: Iterable[Mapping[str, str]], separator: DecimalSeparator = "auto") -> list[Any]:
    """Copies of `rows` (fixtures are shared between tests) with `query`'s numbers parsed with `separator`."""
    return typed_rows([dict(row) for row in rows], query, separator)
