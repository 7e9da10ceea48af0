"""Every Fastmag read: its default SQL and its column contract (fastmag-api.md §2).

Fastmag setups differ, so the SQL is a setting (`fastmag.queries.<name>`, whose defaults come from here) and
the connector reads each answer by its `AS` aliases only. A query's contract says which aliases it must
return (a missing required alias fails the read with the query's name), which it may return, their type and
what they feed. The README's query tables are rendered from this declaration by `markdown()`.

Placeholders in braces are filled by `fastmag.sql.render` with quoted SQL literals; `{real_stock_filter}` is
replaced by REAL_STOCK_FILTER or nothing (`stock.real_stock_only`).

The big reads (products, prices, stock) name a `page_key`: with `fastmag.page_rows` set, their SQL, default or
the brand's, is wrapped as a derived table and read page by page in the order of those aliases, each page after
the previous page's last key (`fastmag.sql.keyset_page`). A brand's query therefore needs no paging placeholder;
it must return those aliases, and they must identify a row (two rows with the same key, under the server's
collation, could straddle a page boundary and the second be missed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

# The keyset page of a read (`sql.keyset_page`), in MySQL's form (fastmag-api.md §2.1: `LIMIT` is what the back
# end takes); the `fastmag.page_sql` setting replaces it for a server that pages otherwise (`SELECT TOP {rows} …`).
PAGE_SQL = "SELECT * FROM ({query}) AS fastmag_page WHERE {after} ORDER BY {order} LIMIT {rows}"
PAGE_PLACEHOLDERS = ("query", "after", "order", "rows")


def _exact_page_placeholders(value: str) -> str:
    found = set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", value))
    if found != set(PAGE_PLACEHOLDERS):
        names = ", ".join("{" + name + "}" for name in PAGE_PLACEHOLDERS)
        raise ValueError(f"the page SQL must use exactly {names}; it uses {sorted(found)}")
    return value


# The `fastmag.page_sql` setting: a page template with exactly its four placeholders.
PageSql = Annotated[str, AfterValidator(_exact_page_placeholders)]

# How the connector reads a value. `decimal`: `,` or `.` per `fastmag.wire.decimal_separator`; `flag`: `0`,
# `false`, `n`, `no`, `non` (any case) mean no; `ean13`: 13 digits whose checksum is verified.
type ColumnType = Literal["text", "integer", "decimal", "ean13", "flag"]

REAL_STOCK_FILTER = "AND s.AR = 1"


@dataclass(frozen=True, slots=True)
class Column:
    """One alias of a query's answer. `required_when` names, in the README's words, the setting under which an
    optional column becomes required (the flow then asks for it with `Query.requiring`)."""

    alias: str
    type: ColumnType
    feeds: str
    required: bool = False
    required_when: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    """A Fastmag read: its settings name, what it reads, its default SQL (None: no default, the read is off
    until the setting is given), the placeholders that SQL may use, and its columns."""

    name: str
    reads: str
    sql: str | None
    placeholders: tuple[str, ...]
    columns: tuple[Column, ...]
    page_key: tuple[str, ...] = ()  # the aliases a paged read is ordered and resumed by; () = never paged

    @property
    def required(self) -> tuple[str, ...]:
        """The aliases an answer must carry, or the read fails."""
        return tuple(column.alias for column in self.columns if column.required)

    def setting(self) -> Any:
        """This read's settings field: its default SQL, described by what it reads and the aliases it returns."""
        return Field(self.sql, description=f"Reads {self.reads}. Required aliases: {', '.join(self.required)}.")

    def requiring(self, *aliases: str) -> Query:
        """This contract with optional columns made required (a setting needs them)."""
        known = {column.alias for column in self.columns}
        unknown = [alias for alias in aliases if alias not in known]
        if unknown:
            raise ValueError(f"query {self.name} declares no column(s) {unknown}")
        columns = tuple(
            replace(column, required=True) if column.alias in aliases else column for column in self.columns
        )
        return replace(self, columns=columns)


def _column(alias: str, type_: ColumnType, feeds: str, *, when: str | None = None) -> Column:
    return Column(alias, type_, feeds, required_when=when)


def _required(alias: str, type_: ColumnType, feeds: str) -> Column:
    return Column(alias, type_, feeds, required=True)


PRODUCTS = Query(
    name="products",
    reads="product sheets joined to their variants, one row per reference × colour × size",
    sql=(
        "SELECT f.barcode AS reference, f.designation AS designation, f.marque AS brand, "
        "f.famille AS family, f.sousfamille AS subfamily, f.rayon AS section, f.saison AS season, "
        "f.matiere AS material, f.composition AS composition, f.description AS description, "
        "f.actif AS active, p.produit AS variant_id, p.couleur AS colour, p.taille AS size, "
        "p.ordretaille AS size_rank, p.gencod AS ean13 "
        "FROM produitsfiches f JOIN produits p ON p.barcode = f.barcode "
        "ORDER BY f.barcode, p.couleur, p.ordretaille"
    ),
    placeholders=(),
    columns=(
        _required("reference", "text", "product `model`, variant `reference`, the SKU"),
        _required("designation", "text", "product `name`"),
        _required("season", "text", "collection (`products.collections`), `products.seasons` filter"),
        _required("colour", "text", "fabric code and colour name, the SKU"),
        _required("size", "text", "SKU `size_name`, the sizing"),
        _required("ean13", "ean13", "SKU `ean13`"),
        _column("variant_id", "text", "`{variant_id}` of `sku_format`; key of a skipped variant"),
        _column("size_rank", "integer", "size order in the sizing (else first seen)"),
        _column("active", "flag", "`products.active_only` filter"),
        _column("family", "text", "category (default of `products.categories`)"),
        _column("subfamily", "text", "sub-category (default of `products.categories`)"),
        _column("section", "text", "sub-sub-category (default of `products.categories`)"),
        _column("brand", "text", "a category level if `products.categories` names it"),
        _column("material", "text", "fabric code and name (colour × material)"),
        _column("composition", "text", "variant `composition`"),
        _column("description", "text", "variant `description`"),
    ),
    # Model first: the rows of one model are consecutive, whichever page they fall on.
    page_key=("reference", "colour", "size"),
)

PRICES = Query(
    name="prices",
    reads="prices of the tariffs the settings name; an empty colour or size means every colour or size",
    sql=(
        "SELECT t.barcode AS reference, t.tarif AS tariff, t.couleur AS colour, t.taille AS size, "
        "t.prix AS price FROM tarifs t WHERE t.tarif IN ({tariffs})"
    ),
    placeholders=("tariffs",),
    columns=(
        _required("reference", "text", "the model priced"),
        _required("tariff", "text", "the price list (`tariff_price_lists`)"),
        _required("colour", "text", "the variant priced (empty: every colour)"),
        _required("size", "text", "the size priced (empty: every size)"),
        _required("price", "decimal", "`wholesale_price` or `recommended_retail_price`"),
    ),
    page_key=("reference", "tariff", "colour", "size"),
)

STOCK = Query(
    name="stock",
    reads="stock of the configured stores, summed per variant",
    sql=(
        "SELECT s.barcode AS reference, s.couleur AS colour, s.taille AS size, p.produit AS variant_id, "
        "p.gencod AS ean13, SUM(s.stock) AS quantity FROM stock s LEFT JOIN produits p "
        "ON p.barcode = s.barcode AND p.couleur = s.couleur AND p.taille = s.taille "
        "WHERE s.codemag IN ({stores}) {real_stock_filter} "
        "GROUP BY s.barcode, s.couleur, s.taille, p.produit, p.gencod"
    ),
    placeholders=("stores", "real_stock_filter"),
    columns=(
        _required("reference", "text", "the SKU (`sku_format`), the variant named in reasons"),
        _required("colour", "text", "the SKU (`sku_format`), the variant named in reasons"),
        _required("size", "text", "the SKU (`sku_format`), the variant named in reasons"),
        _required("variant_id", "text", "empty: a stock row of no known variant, not pushed"),
        _required("ean13", "ean13", "the key pushed when `stock.key` is `ean13`"),
        _required("quantity", "decimal", "`in_stock` (floored, minus `stock.safety_buffer`)"),
    ),
    # The variant as the stock table names it (its GROUP BY): set even for a row of no known variant.
    page_key=("reference", "colour", "size"),
)

# The incremental stock read: brand-specific, because Fastmag's modification column is not in its public record.
# The connector passes `{since}` (Fastmag's own time, as its previous answer gave it, less
# `stock.incremental_overlap_seconds`) and diffs what comes back; every variant with a row modified since then
# comes back with its current sum over the stores (not the movement), and its latest modification time.
STOCK_CHANGED_SINCE = Query(
    name="stock_changed_since",
    reads="stock of the configured stores, summed per variant, for variants with a stock row modified after {since}",
    sql=None,
    placeholders=("stores", "real_stock_filter", "since"),
    columns=(
        *STOCK.columns,
        _required(
            "modified_at",
            "text",
            "the watermark: the latest one returned, in Fastmag's clock and format (`YYYY-MM-DD HH:MM:SS`)",
        ),
    ),
)

CUSTOMERS = Query(
    name="customers",
    reads="customer accounts, one row per customer",
    sql=(
        "SELECT c.Client AS customer_id, c.Societe AS company, c.Nom AS last_name, c.Prenom AS first_name, "
        "c.email AS email, c.Sexe AS gender, c.Telephone AS phone, c.Adresse1 AS address_1, "
        "c.Adresse2 AS address_2, c.codepostal AS zipcode, c.Ville AS city, c.Pays AS country, "
        "c.TarifVente AS tariff, c.TVAIntra AS vat_number, c.Famille AS family, c.DateModif AS modified_at "
        "FROM clients c WHERE COALESCE(c.Societe, '') <> ''"
    ),
    placeholders=(),
    columns=(
        _required("customer_id", "text", "retailer `reference`"),
        _required("company", "text", "retailer `name` and `company`"),
        _required("email", "text", "the first buyer, the addresses' contact email"),
        _required("country", "text", "the addresses' country (ISO-2 or a country name)"),
        _required("tariff", "text", "retailer `price_list_code` (`tariff_price_lists`)"),
        _column("family", "text", "`customers.families` filter", when="`customers.families` is set"),
        _column("first_name", "text", "buyer and contact names"),
        _column("last_name", "text", "buyer and contact names"),
        _column("phone", "text", "store and billing address `tel`"),
        _column("address_1", "text", "store and billing address"),
        _column("address_2", "text", "store and billing address"),
        _column("zipcode", "text", "store and billing address"),
        _column("city", "text", "store and billing address"),
        _column("vat_number", "text", "store and billing address `vat_number`"),
        _column("gender", "text", "nothing yet (read, not sent)"),
        _column("modified_at", "text", "nothing yet (read, not sent)"),
    ),
)

ADDRESSES = Query(
    name="addresses",
    reads="named delivery addresses, any number per customer",
    sql=(
        "SELECT a.Client AS customer_id, a.AdrLivraison AS name, a.Societe AS company, "
        "a.Nom AS contact_name, a.Adresse1 AS address_1, a.Adresse2 AS address_2, "
        "a.codepostal AS zipcode, a.Ville AS city, a.Pays AS country FROM clientadresse a"
    ),
    placeholders=(),
    columns=(
        _required("customer_id", "text", "the retailer it belongs to"),
        _required("name", "text", "delivery address `reference` (orders name it)"),
        _required("country", "text", "delivery address `country` (ISO-2 or a country name)"),
        _column("company", "text", "delivery address `company` (else the customer's)"),
        _column("contact_name", "text", "delivery address `contact_name`"),
        _column("address_1", "text", "delivery address"),
        _column("address_2", "text", "delivery address"),
        _column("zipcode", "text", "delivery address"),
        _column("city", "text", "delivery address"),
    ),
)

EXTRA_BUYERS = Query(
    name="extra_buyers",
    reads="more buyers per customer; without this query a retailer's only buyer is its main contact",
    sql=None,
    placeholders=(),
    columns=(
        _required("customer_id", "text", "the retailer the buyer belongs to"),
        _required("email", "text", "buyer `email` (LNB matches buyers by it)"),
        _column("first_name", "text", "buyer `first_name`"),
        _column("last_name", "text", "buyer `last_name`"),
    ),
)

INCOMING_STOCK = Query(
    name="incoming_stock",
    reads=(
        "quantities expected per variant with their expected dates (pending receptions, supplier orders: the "
        "source is the brand's), one row per reception; without this query no incoming stock is sent"
    ),
    sql=None,
    placeholders=(),
    columns=(
        _required("variant_id", "text", "the variant expecting it (the stock query's `variant_id`)"),
        _required("quantity", "decimal", "`incoming_stock`: summed over the receptions within `stock.incoming`"),
        _required("expected_date", "text", "`incoming_stock_date` (`YYYY-MM-DD…`): the earliest or latest"),
    ),
)

VARIANTS_BY_EAN = Query(
    name="variants_by_ean",
    reads="the variants of the EAN13s on the orders to import",
    sql=(
        "SELECT p.gencod AS ean13, p.barcode AS reference, p.couleur AS colour, p.taille AS size, "
        "f.designation AS designation FROM produits p JOIN produitsfiches f ON f.barcode = p.barcode "
        "WHERE p.gencod IN ({eans})"
    ),
    placeholders=("eans",),
    columns=(
        _required("ean13", "ean13", "matches the order line"),
        _required("reference", "text", "order line `reference`"),
        _required("colour", "text", "order line `colour`"),
        _required("size", "text", "order line `size`"),
        _column("designation", "text", "order line `designation` (else the LNB item name)"),
    ),
)

CUSTOMERS_BY_ID = Query(
    name="customers_by_id",
    reads="the customers named as retailers on the orders to import",
    sql="SELECT c.Client AS customer_id, c.email AS email FROM clients c WHERE c.Client IN ({customers})",
    placeholders=("customers",),
    columns=(
        _required("customer_id", "text", "an order's retailer is a Fastmag customer"),
        _column("email", "text", "nothing yet (read, not used)"),
    ),
)

ORDERS_BY_REFERENCE = Query(
    name="orders_by_reference",
    reads=(
        "the orders Fastmag already holds, by the LNB reference written on them: the lookup that keeps an order "
        "from being written twice"
    ),
    sql=(
        "SELECT o.RefExterne AS external_reference, o.Commande AS fastmag_number, "
        "(SELECT COUNT(*) FROM commandelignes l WHERE l.Commande = o.Commande) AS line_count "
        "FROM commandes o WHERE o.RefExterne IN ({references})"
    ),
    placeholders=("references",),
    columns=(
        _required("external_reference", "text", "the LNB order found in Fastmag: not written again"),
        _column("fastmag_number", "text", "the Fastmag number recorded for an order found"),
        _column(
            "line_count",
            "integer",
            "number of lines Fastmag holds for the order",
            when="`fastmag.wire.transactions_per_call` is `one`",
        ),
    ),
)

QUERIES: Mapping[str, Query] = MappingProxyType(
    {
        query.name: query
        for query in (
            PRODUCTS,
            PRICES,
            STOCK,
            STOCK_CHANGED_SINCE,
            CUSTOMERS,
            ADDRESSES,
            EXTRA_BUYERS,
            INCOMING_STOCK,
            VARIANTS_BY_EAN,
            CUSTOMERS_BY_ID,
            ORDERS_BY_REFERENCE,
        )
    }
)


def _required_cell(column: Column) -> str:
    if column.required:
        return "yes"
    return f"when {column.required_when}" if column.required_when else "no"


def markdown() -> str:
    """The README's query tables: one per query, alias | required | type | feeds."""
    parts: list[str] = []
    for query in QUERIES.values():
        placeholders = ", ".join(f"`{{{name}}}`" for name in query.placeholders) or "none"
        default = "" if query.sql else f" No default: the read is off until `fastmag.queries.{query.name}` is set."
        if query.page_key:
            key = ", ".join(f"`{alias}`" for alias in query.page_key)
            default += f" Paged by {key} when `fastmag.page_rows` is set."
        parts += [
            f"#### `fastmag.queries.{query.name}`",
            "",
            f"Reads {query.reads}. Placeholders: {placeholders}.{default}",
            "",
            "| alias | required | type | feeds |",
            "|---|---|---|---|",
            *(
                f"| `{column.alias}` | {_required_cell(column)} | {column.type} | {column.feeds} |"
                for column in query.columns
            ),
            "",
        ]
    return "\n".join(parts)
