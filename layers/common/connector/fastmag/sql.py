"""Fill the `{name}` placeholders of the configured SQL (FastmagQueries) with quoted literals.

The EDI takes SQL text, not bound parameters, and the values come from other systems (EANs and references
on Le New Black orders), so every value is quoted here and nowhere else. The back end is MySQL
(fastmag-api.md §2.1), where a backslash escapes inside a string literal: it is doubled as well as `'`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
