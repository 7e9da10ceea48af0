"""Fill the `{name}` placeholders of the configured SQL (FastmagQueries) with quoted literals.

The EDI takes SQL text, not bound parameters, and the values come from other systems (EANs and references
on Le New Black orders), so every value is quoted here and nowhere else. The back end is MySQL
(fastmag-api.md §2.1), where a backslash escapes inside a string literal: it is doubled as well as `'`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

type Scalar = str | int | Decimal
type Value = Scalar | Raw | Iterable[Scalar]


class Raw(str):
    """SQL inserted verbatim (a fixed fragment such as `AND s.AR = 1`); never wrap outside data in it."""

    __slots__ = ()


class TemplateError(ValueError):
    """A placeholder of the template has no value, or a value cannot be written as SQL."""


def literal(value: Scalar) -> str:
    """One SQL literal: numbers bare, text single-quoted with `'` and `\\` doubled."""
    if isinstance(value, bool):
        raise TemplateError("booleans have no agreed SQL form here; pass 0/1 or text")
    if isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise TemplateError(f"cannot write {value} as SQL")
        return str(value)
    if "\x00" in value:
        raise TemplateError("a NUL character cannot be sent in SQL text")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _sql(value: Value) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str | int | Decimal):
        return literal(value)
    items = [literal(item) for item in value]
    # `IN (NULL)` matches nothing, where `IN ()` is a syntax error.
    return ", ".join(items) if items else "NULL"


def render(template: str, **values: Value) -> str:
    """The template with each `{name}` replaced; a placeholder without a value raises TemplateError."""
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - values.keys())
    if missing:
        raise TemplateError(f"no value for placeholder(s) {', '.join('{' + m + '}' for m in missing)}")
    return _PLACEHOLDER.sub(lambda match: _sql(values[match.group(1)]), template)


_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _key_column(alias: str) -> str:
    if not _ALIAS.fullmatch(alias):
        raise TemplateError(f"cannot page on {alias!r}: not a plain column alias")
    # A NULL part would compare as unknown and drop its row from every later page; the answer shows it as ''.
    return f"COALESCE(fastmag_page.{alias}, '')"


def keyset_page(template: str, query: str, key: Sequence[str], after: Sequence[str] | None, rows: int) -> str:
    """One page of the rendered `query`: its rows whose `key` (aliases of its answer) comes after `after` (the
    previous page's last key; None for the first page), in key order, at most `rows` of them.

    Keyset, never OFFSET: a row that moves, appears or disappears while the pages are read shifts no other
    row into or out of a page. The key's parts are compared one after the other (`a > x OR (a = x AND …)`),
    which every SQL dialect takes, unlike row values. `query` is already rendered: it is inserted as it is,
    and nothing in it is read as a placeholder.
    """
    if rows < 1:
        raise TemplateError("a page holds at least one row")
    columns = [_key_column(alias) for alias in key]
    if not columns:
        raise TemplateError("paging needs a key")
    if after is None:
        condition = "1 = 1"
    else:
        if len(after) != len(columns):
            raise TemplateError(f"the last key has {len(after)} part(s), the page key {len(columns)}")
        condition = f"{columns[-1]} > {literal(after[-1])}"
        for column, value in zip(reversed(columns[:-1]), reversed(after[:-1]), strict=True):
            quoted = literal(value)
            condition = f"{column} > {quoted} OR ({column} = {quoted} AND ({condition}))"
    parts = {"query": query, "after": f"({condition})", "order": ", ".join(columns), "rows": str(rows)}
    missing = [name for name in parts if "{" + name + "}" not in template]
    if missing:
        raise TemplateError(f"the page SQL lacks {', '.join('{' + m + '}' for m in missing)}")
    # One pass: what a part inserts (the query's own text, a quoted key) is never scanned for placeholders.
    return _PLACEHOLDER.sub(lambda match: parts.get(match.group(1), match.group(0)), template)
