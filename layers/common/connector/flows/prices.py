"""Prices: Fastmag tariffs → LNB price lists, through `/multi/prices` or `/multi/prices_by_size`.

read (the products query, for the models, colours and sizes LNB holds; the prices query for the tariffs the
settings name) → map (each tariff of `tariff_price_lists` fills its price list: `wholesale_price` from that
tariff, `recommended_retail_price` from `prices.retail_tariff`; the most specific Fastmag row wins: colour and
size, colour, size, then the model's) → diff (content hash per price list × model × fabric [× size]) → send
(per variant when its sizes share one price, else per size when `prices.by_size` allows) → record.

Zero or missing prices are never sent. Price lists cannot be created through the API, so an unknown one
(LNB refuses its items) and a tariff mapped to none are each reported once, with what to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from connector.errors import describe
from connector.fastmag.reads import PriceRow, Unreadable
from connector.flows.catalogue import Row, Sheet, group_catalogue
from connector.flows.context import FlowContext
from connector.flows.source import Skip, text
from connector.flows.sync import Outgoing, record_skips, synchronise
from connector.lenewblack.models import ItemOutcome, Money, Price, PriceBySize
from connector.observability import log_record
from connector.settings import Settings

# Fastmag's own convention (tarifs table): an empty colour or size means every colour or size of the model.
ALL = ""

type PriceTable = dict[tuple[str, str], Decimal | None]  # (colour, size) → price; None: unreadable


def unknown_price_list(code: str) -> str:
    return f"price list {code} does not exist in Le New Black: your account manager must create it first"


def unmapped_tariff(tariff: str) -> str:
    return (
        f"tariff {tariff} is not mapped to a Le New Black price list: add it to tariff_price_lists with the "
        "code of a price list your account manager created"
    )


@dataclass
class PriceExport:
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices_by_size: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)  # tariff → rows it had


def tariffs_to_read(settings: Settings) -> list[str]:
    wanted = set(settings.tariff_price_lists) | {settings.prices.wholesale_tariff}
    if settings.prices.retail_tariff:
        wanted.add(settings.prices.retail_tariff)
    return sorted(wanted)


def _index(rows: Iterable[PriceRow], settings: Settings, export: PriceExport) -> dict[tuple[str, str], PriceTable]:
    """(reference, tariff) → its price rows; rows of tariffs no price list takes are counted as unmapped."""
    index: dict[tuple[str, str], PriceTable] = {}
    mapped = settings.tariff_price_lists
    retail = settings.prices.retail_tariff
    for row in rows:
        tariff = text(row, "tariff")
        if tariff not in mapped and tariff != retail:
            export.unmapped[tariff] += 1
            continue
        reference, colour, size = text(row, "reference"), text(row, "colour"), text(row, "size")
        price: Decimal | Unreadable | None = row.get("price")
        if isinstance(price, Unreadable):
            export.skipped.append(
                Skip(
                    f"{tariff}|{reference}|{colour}|{size}",
                    f"unreadable price {price.text.strip()!r} in tariff {tariff}",
                )
            )
            price = None
        elif price is None:  # blank: no price, never sent
            price = Decimal(0)
        index.setdefault((reference, tariff), {})[(colour, size)] = price
    if settings.prices.wholesale_tariff not in mapped:
        export.unmapped.setdefault(settings.prices.wholesale_tariff, 0)
    return index


def resolve(table: Mapping[tuple[str, str], Decimal | None], colour: str, size: str) -> Decimal | None:
    """The most specific price: colour and size, colour, size, then the model's; None if none or unreadable."""
    for key in ((colour, size), (colour, ALL), (ALL, size), (ALL, ALL)):
        if key in table:
            return table[key]
    return None


_ABSENT = object()


def resolve_sizes(
    table: Mapping[tuple[str, str], Decimal | None], colour: str, sizes: Iterable[str]
) -> dict[str, Decimal | None]:
    """`resolve(table, colour, size)` for each size, the lookups every size shares made once: a full export
    resolves 400 000 prices, most of them the model's own."""
    if not table:
        return dict.fromkeys(sizes)
    colour_price = table.get((colour, ALL), _ABSENT)
    model_price = table.get((ALL, ALL))  # None when absent too: no price
    resolved: dict[str, Decimal | None] = {}
    for size in sizes:
        price = table.get((colour, size), _ABSENT)
        if price is _ABSENT:
            price = colour_price if colour_price is not _ABSENT else table.get((ALL, size), model_price)
        resolved[size] = price  # type: ignore[assignment]
    return resolved


_MONEY: TypeAdapter[Decimal] = TypeAdapter(Annotated[Money, Field(gt=0)])


@lru_cache(maxsize=8192)  # a catalogue has few distinct prices, each met on many variants and sizes
def _wire_money(value: Decimal) -> float | None:
    """`value` as sent, if it passes the models' Money rules (pydantic normalises first: equal values agree);
    None if only the model can say why not. `value` is finite (a signalling NaN cannot even be hashed)."""
    try:
        _MONEY.validate_python(value)
    except ValidationError:
        return None
    return float(value)


def _stripped(value: str) -> bool:
    return bool(value) and value == value.strip()


class _PricePayloads:
    """`price_payload` for the many records of one variant and price list: their shared texts checked once."""

    def __init__(self, common: dict[str, str]) -> None:
        self.common = common
        self._common_valid = all(_stripped(value) for value in common.values())

    def build(self, wholesale: Decimal, recommended: Decimal | None, size: str | None = None) -> dict[str, Any]:
        common = self.common
        if (
            self._common_valid
            and (size is None or _stripped(size))
            and wholesale.is_finite()
            and (wholesale_price := _wire_money(wholesale)) is not None
            and (recommended is None or (recommended.is_finite() and _wire_money(recommended) is not None))
        ):
            payload: dict[str, Any] = {
                "product_model": common["product_model"],
                "fabric_code": common["fabric_code"],
                "price_list_code": common["price_list_code"],
                "wholesale_price": wholesale_price,
            }
            if recommended is not None:
                payload["recommended_retail_price"] = _wire_money(recommended)
            if size is not None:
                payload["size_name"] = size
            return payload
        if size is None:
            return Price(**common, wholesale_price=wholesale, recommended_retail_price=recommended).payload()
        return PriceBySize(
            **common, size_name=size, wholesale_price=wholesale, recommended_retail_price=recommended
        ).payload()


def price_payload(
    common: dict[str, str], wholesale: Decimal, recommended: Decimal | None, size: str | None = None
) -> dict[str, Any]:
    """`Price(...).payload()` (or `PriceBySize`'s with `size`), the same dict in the same key order.

    A full export builds one per price record (100 000 a run): fields already valid (stripped non-empty texts,
    money the models accept) are laid out directly; anything else goes through the model, which raises the
    ValidationError the flow reports."""
    return _PricePayloads(common).build(wholesale, recommended, size)


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


def _most_common(values: Iterable[Decimal]) -> Decimal:
    """The price most sizes have (the lowest among equals): the variant's price when LNB takes only one."""
    counts = Counter(values)
    return min(counts, key=lambda value: (-counts[value], value))


def _variant_prices(  # noqa: PLR0917 - one variant of one price list: all of it is needed
    sheet: Sheet,
    colour: str,
    tariff: str,
    price_list: str,
    index: Mapping[tuple[str, str], PriceTable],
    settings: Settings,
    export: PriceExport,
) -> None:
    reference = sheet.reference
    code = sheet.fabric_code(colour)
    key = f"{price_list}|{reference}|{code}"
    sizes = [line.size for line in sheet.colours[colour]]
    retail = settings.prices.retail_tariff
    wholesale = resolve_sizes(index.get((reference, tariff), {}), colour, sizes)
    retail_prices = resolve_sizes(index.get((reference, retail), {}) if retail else {}, colour, sizes)
    suggested = {size: _positive(price) for size, price in retail_prices.items()}
    valid = {size: price for size, price in wholesale.items() if price is not None and price > 0}
    invalid = {size: "zero price" if wholesale[size] == 0 else "no price" for size in sizes if size not in valid}
    # Reasons name the tariff and list, not the item (the key does): the run's summary groups them.
    where = f"in tariff {tariff}: not sent to {price_list}"
    if not valid:
        reason = "zero price" if "zero price" in invalid.values() else "no price"
        export.skipped.append(Skip(key, f"{reason} {where}"))
        return
    payloads = _PricePayloads({"product_model": reference, "fabric_code": code, "price_list_code": price_list})
    if len(set(valid.values())) > 1 or invalid:
        if settings.prices.by_size:
            for size, reason in invalid.items():
                export.skipped.append(Skip(f"{key}|{size}", f"{reason} {where}"))
            for size, price in valid.items():
                export.prices_by_size[f"{key}|{size}"] = payloads.build(price, suggested[size], size)
            return
        variant_price = _most_common(valid.values())
        for size in sizes:
            if size in invalid or valid[size] != variant_price:
                export.skipped.append(
                    Skip(
                        f"{key}|{size}",
                        f"{invalid.get(size) or 'a price of its own'} in tariff {tariff} for this size not sent: "
                        f"prices.by_size is off, the variant has one price in {price_list}",
                    )
                )
    else:
        variant_price = next(iter(valid.values()))
    recommended_prices = [
        retail_price
        for size, price in valid.items()
        if price == variant_price and (retail_price := suggested[size]) is not None
    ]
    recommended = _most_common(recommended_prices) if recommended_prices else None
    export.prices[key] = payloads.build(variant_price, recommended)


def map_prices(product_rows: Iterable[Row], price_rows: Iterable[PriceRow], settings: Settings) -> PriceExport:
    """Pure: the catalogue and its price rows → price payloads per price list, skips with reasons."""
    catalogue = group_catalogue(product_rows, settings)
    export = PriceExport(skipped=list(catalogue.skipped))
    index = _index(price_rows, settings, export)
    for sheet in catalogue.sheets:
        for colour in sheet.colours:
            for tariff, price_list in settings.tariff_price_lists.items():
                try:
                    _variant_prices(sheet, colour, tariff, price_list, index, settings, export)
                except ValidationError as error:
                    key = f"{price_list}|{sheet.reference}|{sheet.fabric_code(colour)}"
                    export.skipped.append(Skip(key, f"not a valid Le New Black price: {describe(error)}"))
    return export


def run(ctx: FlowContext) -> None:
    settings = ctx.settings
    product_rows = ctx.reads.catalogue_rows()
    price_rows = ctx.reads.price_rows(tariffs_to_read(settings))
    ctx.run.count("read", len(price_rows))
    export = map_prices(product_rows, price_rows, settings)
    record_skips(ctx, export.skipped)
    for tariff, rows in sorted(export.unmapped.items()):
        message = unmapped_tariff(tariff)
        ctx.run.problem(message, max(rows, 1))
        log_record("price_list.unmapped", tariff, reason=message, level="ERROR")

    unknown: set[str] = set()

    def explain(item: Outgoing, outcome: ItemOutcome) -> str:
        # LNB names the field it refuses; on a price that field is the price list when the list is unknown.
        code = str(item.payload["price_list_code"])
        if "price_list_code" not in outcome.errors:
            return outcome.reason
        if code not in unknown:
            unknown.add(code)
            log_record("price_list.unknown", code, reason=unknown_price_list(code), level="ERROR")
        return unknown_price_list(code)

    snapshot = ctx.snapshots.load("prices")
    for resource, payloads in (("prices", export.prices), ("prices_by_size", export.prices_by_size)):
        items = [
            Outgoing(key, payload, log_fields={"price_list_code": payload["price_list_code"]})
            for key, payload in payloads.items()
        ]
        synchronise(ctx, resource, items, snapshot, explain)
