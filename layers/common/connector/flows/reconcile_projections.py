"""How each reconciled resource is compared: its comparison projection, declared once per resource.

LNB's read shapes differ from the write payloads: nesting, server fields (`id`, timestamps), number formats
(`"12.50"` for 12.5), list order, case. A projection names the fields compared and how each is normalised, so
that only a difference of meaning counts:

- only the fields the connector sends are compared (a field it leaves out is LNB's to keep), each read at the
  same place in LNB's record; server fields are never named, so never compared;
- text is trimmed, and blank text counts as absent; `upper` and `caseless` fields ignore case (countries, upper
  case; buyer emails, which LNB matches without case);
- `decimals` compare as numbers (`"12.50"` = 12.5), `integers` as whole numbers (`"5"` = 5);
- lists of objects are matched by their key field, never by position (`lists`); lists of values compare in order
  (`ordered`: a sizing's sizes, whose order LNB shows);
- an item of a list found on one side only is one change (`variants[NOIR].skus[M]`: absent → the item), not
  one change per field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

type Change = tuple[Any, Any]  # (what LNB holds, what the connector would send)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: Any) -> Any:
    text = _text(value)
    if text is None or isinstance(value, bool):
        return text
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text  # not a number: compared as text, so it shows as a difference
    return format(number.normalize(), "f") if number.is_finite() else text


def _integer(value: Any) -> Any:
    number = _decimal(value)
    if isinstance(number, str):
        try:
            exact = Decimal(number)
        except InvalidOperation:
            return number
        return int(exact) if exact == exact.to_integral_value() else number
    return number


@dataclass(frozen=True)
class ListOf:
    """A list of objects, matched by `key` (case-insensitive with `casefold`, as LNB matches buyer emails)."""

    key: str
    projection: Projection
    casefold: bool = False

    def differences(self, sent: Any, held: Any, path: str) -> dict[str, Change]:
        """Items matched by key: one found on one side only is one change (absent → the item, or the reverse)."""
        changes: dict[str, Change] = {}
        mine, theirs = self.index(sent), self.index(held)
        for key in sorted(mine.keys() | theirs.keys()):
            where = f"{path}[{key}]"
            if key not in theirs:
                changes[where] = (None, self.projection.project(mine[key]))
            elif key not in mine:
                changes[where] = (self.projection.project(theirs[key]), None)
            else:
                changes.update(self.projection.differences(mine[key], theirs[key], f"{where}."))
        return changes

    def index(self, items: Any) -> dict[str, Mapping[str, Any]]:
        indexed: dict[str, Mapping[str, Any]] = {}
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and (key := _text(item.get(self.key))) is not None:
                indexed[key.casefold() if self.casefold else key] = item
        return indexed


@dataclass(frozen=True)
class Projection:
    """The fields of one record (or nested object) that a comparison reads, and how each is normalised."""

    text: tuple[str, ...] = ()
    upper: frozenset[str] = frozenset()
    caseless: frozenset[str] = frozenset()
    decimals: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    ordered: tuple[str, ...] = ()
    zero_when_absent: frozenset[str] = frozenset()  # integers LNB leaves out when 0 (incoming stock)
    objects: Mapping[str, Projection] = field(default_factory=dict)
    lists: Mapping[str, ListOf] = field(default_factory=dict)

    @property
    def scalars(self) -> tuple[str, ...]:
        """Every compared field that is not a nested object or list."""
        kinds = (self.text, self.upper, self.caseless, self.decimals, self.integers, self.flags, self.ordered)
        return tuple(name for kind in kinds for name in kind)

    def value(self, name: str, raw: Any) -> Any:
        """`raw` (field `name`) as compared."""
        if name in self.decimals:
            return _decimal(raw)
        if name in self.integers:
            return _integer(0 if raw is None and name in self.zero_when_absent else raw)
        if name in self.flags:
            return raw if isinstance(raw, bool) or raw is None else str(raw).strip().lower() in {"1", "true"}
        if name in self.ordered:
            return [_text(item) for item in raw] if isinstance(raw, list) else raw
        text = _text(raw)
        if text is not None and name in self.upper:
            return text.upper()
        return text.casefold() if text is not None and name in self.caseless else text

    def project(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The compared fields of `record` that it holds, normalised (what a report shows of an item)."""
        result: dict[str, Any] = {}
        for name in self.scalars:
            value = self.value(name, record.get(name))
            if value is not None:
                result[name] = value
        for name, nested in self.objects.items():
            if isinstance(record.get(name), Mapping):
                result[name] = nested.project(record[name])
        for name, listed in self.lists.items():
            items = listed.index(record.get(name))
            if items:
                result[name] = {key: listed.projection.project(item) for key, item in sorted(items.items())}
        return result

    def differences(self, sent: Mapping[str, Any], held: Mapping[str, Any], prefix: str = "") -> dict[str, Change]:
        """Where `held` (LNB's record) differs from `sent` (the connector's payload), path → (old, new)."""
        changes: dict[str, Change] = {}
        for name in self.scalars:
            new = self.value(name, sent.get(name))
            if new is None:
                continue  # not sent: LNB's to keep
            old = self.value(name, held.get(name))
            if old != new:
                changes[f"{prefix}{name}"] = (old, new)
        for name, nested in self.objects.items():
            mine = sent.get(name)
            if not isinstance(mine, Mapping):
                continue
            theirs = held.get(name)
            if isinstance(theirs, Mapping):
                changes.update(nested.differences(mine, theirs, f"{prefix}{name}."))
            else:
                changes[f"{prefix}{name}"] = (None, nested.project(mine))
        for name, listed in self.lists.items():
            if sent.get(name) is not None:
                changes.update(listed.differences(sent[name], held.get(name), f"{prefix}{name}"))
        return changes


# --- the reconciled resources (prices by size compare as prices: same fields, one size each) -------------------------

STOCK = Projection(
    integers=("in_stock", "incoming_stock"),
    text=("incoming_stock_date",),
    zero_when_absent=frozenset({"incoming_stock"}),
)

FABRICS = Projection(text=("name", "material_code", "color_code", "color_name"))

_SKU = Projection(text=("ean13", "sku"))
_VARIANT = Projection(
    text=(
        "fabric_name",
        "fabric_color_code",
        "fabric_color_name",
        "reference",
        "composition",
        "description",
    ),
    lists={"skus": ListOf("size_name", _SKU)},
)
PRODUCTS = Projection(
    text=(
        "name",
        "category_name",
        "sub_category_name",
        "sub_sub_category_name",
        "collection_code",
        "collection_name",
        "sizing_name",
    ),
    ordered=("sizing_sizes",),
    lists={"variants": ListOf("fabric_code", _VARIANT)},
)

_ADDRESS = Projection(
    text=("company", "contact_name", "contact_email", "tel", "address_1", "address_2", "zipcode", "city", "vat_number"),
    upper=frozenset({"country"}),
)
_BUYER = Projection(text=("first_name", "last_name", "gender"), caseless=frozenset({"email"}))
RETAILERS = Projection(
    text=("name", "company", "price_list_code"),
    decimals=("discount_rate", "discount_special_rate"),
    objects={"store_address": _ADDRESS, "billing_address": _ADDRESS},
    lists={"delivery_addresses": ListOf("reference", _ADDRESS), "buyers": ListOf("email", _BUYER, casefold=True)},
)

PRICES = Projection(decimals=("wholesale_price", "recommended_retail_price", "cost_price"))
