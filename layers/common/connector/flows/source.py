"""What every flow says about a Fastmag source row: its text, the variant it names, the SKU built from it, and
why a record is not sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from connector.settings import Settings

type SourceRow = Mapping[str, object]


@dataclass(frozen=True)
class Skip:
    """A record not sent. `reason` is generic, so the run summary groups like with like; `detail`
    (variant, quantity…) goes on the log line."""

    key: str
    reason: str
    detail: dict[str, str] = field(default_factory=dict)


def text(row: SourceRow, name: str | None) -> str:
    """A text column, stripped; "" when the row lacks it (or no column is named)."""
    value = row.get(name) if name else None
    return value.strip() if isinstance(value, str) else ""


def variant_label(row: SourceRow) -> str:
    """`CH2301/NOIR/M`: the variant a row names, as support finds it in Fastmag (`?` for a blank part)."""
    return f"{text(row, 'reference')}/{text(row, 'colour') or '?'}/{text(row, 'size') or '?'}"


def sku_of(settings: Settings, row: SourceRow) -> str:
    """The SKU of a variant row, per the `sku_format` setting (the same in stock and in the catalogue)."""
    return settings.sku_format.format(
        reference=row.get("reference", ""),
        colour=row.get("colour", ""),
        size=row.get("size", ""),
        variant_id=row.get("variant_id", ""),
        ean13=row.get("ean13", ""),
    )
