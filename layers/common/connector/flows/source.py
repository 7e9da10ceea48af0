"""What every flow says about a Fastmag source row: the SKU built from it, and why a row is not sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from connector.settings import Settings


@dataclass(frozen=True)
class Skip:
    """A source row not sent. `reason` is generic, so the run summary groups like with like; `detail`
    (variant, quantity…) goes on the log line."""

    key: str
    reason: str
    detail: dict[str, str] = field(default_factory=dict)


def sku_of(settings: Settings, row: Mapping[str, str]) -> str:
    """The SKU of a variant row, per the `sku_format` setting (the same in stock and in the catalogue)."""
    return settings.sku_format.format(
        reference=row.get("reference", ""),
        colour=row.get("colour", ""),
        size=row.get("size", ""),
        variant_id=row.get("variant_id", ""),
        ean13=row.get("ean13", ""),
    )
