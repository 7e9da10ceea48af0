"""Every Fastmag read a flow makes, typed: one method per query of `fastmag/queries.py`.

Each method renders its configured SQL (`fastmag.queries.<name>`), asks the client for the answer under the
query's column contract (with the columns a setting makes required), and returns rows whose number columns
(`decimal` and `integer` in the contract) are already parsed with `fastmag.wire.decimal_separator`. Flows
therefore never see SQL nor the wire format.

A row is the answer's own dict, its number columns replaced in place (100 000 stock rows a run: no copy). A
number that cannot be read does not fail the read: it becomes `Unreadable`, holding the text, so the flow skips
that one row with its reason, as it would any other bad row. A blank number is None (the flow says what blank
means: no stock, no price, no rank).

The big reads (stock, products, prices) come page by page with `fastmag.page_rows` set (`FastmagClient.pages`):
`stock_pages` and `catalogue_pages` hand each page over as it arrives, so a flow can map it and let it go;
`stock_rows`, `catalogue_rows` and `price_rows` join the pages for the flows that need every row at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from connector.fastmag.queries import (
    ADDRESSES,
    CUSTOMERS,
    CUSTOMERS_BY_ID,
    EXTRA_BUYERS,
    INCOMING_STOCK,
    ORDERS_BY_REFERENCE,
    PRICES,
    PRODUCTS,
    REAL_STOCK_FILTER,
    STOCK,
    STOCK_CHANGED_SINCE,
    VARIANTS_BY_EAN,
    Query,
)
from connector.fastmag.sql import Raw, Value, render
from connector.fastmag.wire import DecimalSeparator, Table, parse_decimal, parse_int

if TYPE_CHECKING:
    from connector.fastmag.client import FastmagClient
    from connector.settings import Settings


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A number column whose text is not a number in the configured form; `text` is what Fastmag sent."""

    text: str


type Quantity = Decimal | Unreadable | None
type Sum = int | Decimal | Unreadable | None  # a whole sum is an int: no Decimal for most stock rows
type Whole = int | Unreadable | None


class StockRow(TypedDict):
    reference: str
    colour: str
    size: str
    variant_id: str
    ean13: str
    quantity: Sum  # summed per variant by the query


class ChangedStockRow(StockRow):
    modified_at: str  # Fastmag's clock


class IncomingRow(TypedDict):
    variant_id: str
    quantity: Quantity
    expected_date: str


class ProductRow(TypedDict):
    """A variant row of the products query; its optional columns are read by name (`text(row, name)`)."""

    reference: str
    designation: str
    season: str
    colour: str
    size: str
    ean13: str
    size_rank: NotRequired[Whole]


class PriceRow(TypedDict):
    reference: str
    tariff: str
    colour: str
    size: str
    price: Quantity


class CustomerRow(TypedDict):
    """A customer; its optional columns (names, address, family…) are read by name."""

    customer_id: str
    company: str
    email: str
    country: str
    tariff: str


class AddressRow(TypedDict):
    customer_id: str
    name: str
    country: str


class ExtraBuyerRow(TypedDict):
    customer_id: str
    email: str


class VariantRow(TypedDict):
    ean13: str
    reference: str
    colour: str
    size: str
    designation: NotRequired[str]


class CustomerIdRow(TypedDict):
    customer_id: str


class FoundOrderRow(TypedDict):
    external_reference: str
    fastmag_number: NotRequired[str]
    line_count: NotRequired[Whole]


def _number_columns(query: Query) -> tuple[tuple[str, bool], ...]:
    """(alias, whole?) of the query's number columns."""
    return tuple(
        (column.alias, column.type == "integer") for column in query.columns if column.type in {"decimal", "integer"}
    )


def parse_number(
    text: str, separator: DecimalSeparator, *, whole: bool = False, int_when_whole: bool = False
) -> Decimal | int | Unreadable | None:
    """One number cell: None when blank, Unreadable when not a number (or not whole where whole is wanted);
    `int_when_whole`: a decimal column's plain digits are read as an int (a sum the caller floors anyway)."""
    try:
        # Whole quantities are the rule: read them without the general decimal parser (100 000 rows a run).
        if text.isascii() and text.isdigit():
            return int(text) if whole or int_when_whole else Decimal(text)
        if not text.strip():
            return None
        return parse_int(text, separator) if whole else parse_decimal(text, separator)
    except (ValueError, InvalidOperation):  # int() also refuses more than 4 300 digits
        return Unreadable(text)


_PLAIN_INT_DIGITS = 18  # longer digits go through parse_number, which reads what int() refuses as Unreadable


def typed_rows(
    rows: list[dict[str, Any]], query: Query, separator: DecimalSeparator, *, int_when_whole: bool = False
) -> list[dict[str, Any]]:
    """The answer's rows with the query's number columns parsed in place (see the module docstring)."""
    for alias, whole in _number_columns(query):
        as_int = whole or int_when_whole
        for row in rows:
            text = row.get(alias)
            if text.__class__ is str:  # absent (optional column) stays absent; a parsed value is not parsed twice
                # Plain digits read here, as parse_number reads them, without a call per row (100 000 a tick).
                if as_int and text.isdigit() and text.isascii() and len(text) <= _PLAIN_INT_DIGITS:
                    row[alias] = int(text)
                else:
                    row[alias] = parse_number(text, separator, whole=whole, int_when_whole=int_when_whole)
    return rows


@dataclass(frozen=True, slots=True)
class CatalogueTable:
    """The products query's answer as read (`wire.Table`): its rows made on demand, typed as `catalogue_pages`'."""

    table: Table
    separator: DecimalSeparator

    def rows(self, start: int = 0, stop: int | None = None) -> list[ProductRow]:
        return cast(list[ProductRow], typed_rows(self.table.rows(start, stop), PRODUCTS, self.separator))


class FastmagReads:
    """The reads of one Fastmag, as the settings configure them."""

    def __init__(self, client: FastmagClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._queries = settings.fastmag.queries

    def _read(
        self, sql: str, contract: Query, *, int_when_whole: bool = False, **values: Value
    ) -> list[dict[str, Any]]:
        rows = self._client.query(render(sql, **values), contract=contract)
        return typed_rows(rows, contract, self._settings.fastmag.wire.decimal_separator, int_when_whole=int_when_whole)

    def _pages(
        self, sql: str, contract: Query, *, int_when_whole: bool = False, **values: Value
    ) -> Iterator[list[dict[str, Any]]]:
        separator = self._settings.fastmag.wire.decimal_separator
        for page in self._client.pages(render(sql, **values), contract=contract):
            yield typed_rows(page, contract, separator, int_when_whole=int_when_whole)
            del page  # not held while the next page is read (FastmagClient.pages)

    def stock_pages(self, stores: Iterable[str], real_stock_only: bool) -> Iterator[list[StockRow]]:
        """The stock of `stores`, one row per variant (summed in SQL), page by page; `real_stock_only` adds
        REAL_STOCK_FILTER. A whole quantity is an int, any other a Decimal. The read is complete only once the
        iterator is exhausted: a page that fails raises."""
        pages = self._pages(
            self._queries.stock,
            STOCK,
            int_when_whole=True,
            stores=list(stores),
            real_stock_filter=Raw(REAL_STOCK_FILTER if real_stock_only else ""),
        )
        return cast(Iterator[list[StockRow]], pages)

    def stock_rows(self, stores: Iterable[str], real_stock_only: bool) -> list[StockRow]:
        """Every page of `stock_pages`, joined."""
        return [row for page in self.stock_pages(stores, real_stock_only) for row in page]

    def stock_changed_rows(self, stores: Iterable[str], real_stock_only: bool, since: str) -> list[ChangedStockRow]:
        """`stock_rows` for the variants with a stock row modified after `since` (Fastmag's clock);
        `fastmag.queries.stock_changed_since` must be set."""
        sql = self._queries.stock_changed_since
        if sql is None:
            raise ValueError("fastmag.queries.stock_changed_since is not set")
        rows = self._read(
            sql,
            STOCK_CHANGED_SINCE,
            int_when_whole=True,
            stores=list(stores),
            real_stock_filter=Raw(REAL_STOCK_FILTER if real_stock_only else ""),
            since=since,
        )
        return cast(list[ChangedStockRow], rows)

    def catalogue_pages(self) -> Iterator[list[ProductRow]]:
        """Product sheets joined to their variants, one row per reference × colour × size, page by page (paged
        by model first: a model's rows are consecutive, though they may straddle two pages)."""
        return cast(Iterator[list[ProductRow]], self._pages(self._queries.products, PRODUCTS))

    def catalogue_table(self) -> CatalogueTable | None:
        """The products query read in one answer, its rows not made yet (a flow reads a few columns of every record
        first), or None when `fastmag.page_rows` has it read page by page (`catalogue_pages`)."""
        if not self._client.one_answer(PRODUCTS):
            return None
        table = self._client.table(render(self._queries.products), contract=PRODUCTS)
        return CatalogueTable(table, self._settings.fastmag.wire.decimal_separator)

    def catalogue_rows(self) -> list[ProductRow]:
        """Every page of `catalogue_pages`, joined."""
        return [row for page in self.catalogue_pages() for row in page]

    def price_rows(self, tariffs: Iterable[str]) -> list[PriceRow]:
        pages = self._pages(self._queries.prices, PRICES, tariffs=list(tariffs))
        return cast(list[PriceRow], [row for page in pages for row in page])

    def customers(self) -> list[CustomerRow]:
        """Customer accounts; `family` is required when `customers.families` filters on it."""
        contract = CUSTOMERS.requiring("family") if self._settings.customers.families else CUSTOMERS
        return cast(list[CustomerRow], self._read(self._queries.customers, contract))

    def addresses(self) -> list[AddressRow]:
        return cast(list[AddressRow], self._read(self._queries.addresses, ADDRESSES))

    def extra_buyers(self) -> list[ExtraBuyerRow]:
        """More buyers per customer; none when `fastmag.queries.extra_buyers` is not set."""
        sql = self._queries.extra_buyers
        return cast(list[ExtraBuyerRow], self._read(sql, EXTRA_BUYERS)) if sql else []

    def incoming_stock(self) -> list[IncomingRow]:
        """Receptions expected per variant; none when `fastmag.queries.incoming_stock` is not set."""
        sql = self._queries.incoming_stock
        return cast(list[IncomingRow], self._read(sql, INCOMING_STOCK)) if sql else []

    def variants_by_ean(self, eans: Sequence[str]) -> list[VariantRow]:
        if not eans:
            return []
        return cast(list[VariantRow], self._read(self._queries.variants_by_ean, VARIANTS_BY_EAN, eans=list(eans)))

    def customers_by_id(self, ids: Sequence[str]) -> list[CustomerIdRow]:
        if not ids:
            return []
        rows = self._read(self._queries.customers_by_id, CUSTOMERS_BY_ID, customers=list(ids))
        return cast(list[CustomerIdRow], rows)

    def orders_by_reference(self, references: Sequence[str]) -> list[FoundOrderRow]:
        """The orders Fastmag holds by external reference; `line_count` is required when each transaction line
        is its own call (`fastmag.wire.transactions_per_call` `one`), where a partial order can exist."""
        if not references:
            return []
        one_per_call = self._settings.fastmag.wire.transactions_per_call == "one"
        contract = ORDERS_BY_REFERENCE.requiring("line_count") if one_per_call else ORDERS_BY_REFERENCE
        rows = self._read(self._queries.orders_by_reference, contract, references=list(references))
        return cast(list[FoundOrderRow], rows)
