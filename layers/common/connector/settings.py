"""The settings document and the secret (ARCHITECTURE §5), validated once per cold start.

Every behaviour the reference docs mark as unknown is a field here with a default that works on the
sandbox. Where they are read from (Powertools Parameters in Lambda, a file for the CLI): config.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from connector.access import ApiAccess
from connector.countries import iso_country
from connector.errors import SettingsError, describe
from connector.fastmag import queries as contracts
from connector.fastmag.transaction import OrderTransactionLayout
from connector.observability import logger

SANDBOX_FASTMAG_URL = "http://127.0.0.1:8701"
SANDBOX_LNB_URL = "http://127.0.0.1:8702/apis/wholesale/v2"
Flow = Literal["customers", "products", "prices", "images", "stock", "orders", "readiness", "reconcile"]

PositiveSeconds = Annotated[float, Field(gt=0, le=900)]


class _Model(BaseModel):
    """Unknown keys are refused so a typo in the settings document is caught, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Fastmag -------------------------------------------------------------------------------------------------


class FastmagWire(_Model):
    """Wire behaviours of the EDI that public sources disagree on or never show (fastmag-api.md §1)."""

    user_parameter: Literal["Compte", "Utilisateur"] = "Compte"
    parameter_case: Literal["capitalized", "lower"] = "capitalized"
    query_method: Literal["POST", "GET"] = Field(
        "POST", description="GET puts the Fastmag password in the URL, where proxies and server logs record it."
    )
    query_path: str = "/ediquery.ips"
    write_path: str = "/ediwebsrv.ips"
    charset: str = "cp1252"
    # Query answers: `auto` reads CSV-style quoting when the answer uses it (wire.answer_is_quoted), `strip`
    # deletes every `"` (what live clients did; loses a value's own quotes), `none` never unquotes.
    quoting: Literal["auto", "strip", "none"] = "auto"
    decimal_separator: Literal["auto", ",", "."] = "auto"
    write_decimal_separator: Literal[",", "."] = "."
    transactions_per_call: Literal["one", "many"] = "many"
    verify_tls: bool = True
    connect_timeout_seconds: PositiveSeconds = 5
    read_timeout_seconds: PositiveSeconds = 60
    read_retries: Annotated[int, Field(ge=0, le=10)] = 3
    # urllib3's exponential backoff: the first retry at once, then base·2^n, at most the cap (which also caps
    # a Retry-After).
    backoff_base_seconds: Annotated[float, Field(ge=0, le=60)] = 0.5
    backoff_cap_seconds: Annotated[float, Field(ge=0, le=600)] = 10

    @model_validator(mode="before")
    @classmethod
    def _translate_strip_quotes(cls, data: Any) -> Any:
        """`strip_quotes` (replaced by `quoting`) keeps its meaning in a document written before: `true` is
        `strip`, `false` is `none`, with a warning; naming both is ambiguous, so refused."""
        if not isinstance(data, Mapping) or "strip_quotes" not in data:
            return data
        value = data["strip_quotes"]
        if "quoting" in data or not isinstance(value, bool):
            raise ValueError("strip_quotes is replaced by fastmag.wire.quoting (`auto`, `strip` or `none`): write that")
        quoting = "strip" if value else "none"
        logger.warning(
            f"fastmag.wire.strip_quotes is replaced by fastmag.wire.quoting: {str(value).lower()} is read as "
            f"{quoting!r}. Write quoting instead (`auto` reads quoted answers and keeps a value's own quotes)"
        )
        return {**{key: item for key, item in data.items() if key != "strip_quotes"}, "quoting": quoting}

    @field_validator("charset")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        try:
            "é".encode(value)
        except LookupError as error:
            raise ValueError(f"unknown charset {value!r}") from error
        return value


class FastmagQueries(_Model):
    """The SQL of every read. Defaults and column contracts: `connector/fastmag/queries.py` (and the README);
    columns are read by their `AS` aliases, so tables may differ per setup."""

    products: str = contracts.PRODUCTS.setting()
    prices: str = contracts.PRICES.setting()
    stock: str = contracts.STOCK.setting()
    stock_changed_since: str | None = contracts.STOCK_CHANGED_SINCE.setting()
    customers: str = contracts.CUSTOMERS.setting()
    addresses: str = contracts.ADDRESSES.setting()
    extra_buyers: str | None = contracts.EXTRA_BUYERS.setting()
    incoming_stock: str | None = contracts.INCOMING_STOCK.setting()
    variants_by_ean: str = contracts.VARIANTS_BY_EAN.setting()
    customers_by_id: str = contracts.CUSTOMERS_BY_ID.setting()
    orders_by_reference: str = contracts.ORDERS_BY_REFERENCE.setting()


class PhotoSource(_Model):
    """Where product photos come from (fastmag-api.md §1.7): the CDN path or the photo page."""

    source: Literal["cdn", "endpoint"] = "cdn"
    cdn_base_url: str = SANDBOX_FASTMAG_URL
    cdn_account: str = "116"
    cdn_size: str = "source"
    endpoint_path: str = "/photo.ips"
    endpoint_product_parameter: str = "produit"
    endpoint_colour_parameter: str = "couleur"
    endpoint_index_parameter: str = "Numero"
    max_index: Annotated[int, Field(ge=1, le=20)] = 8


class FastmagSettings(_Model):
    base_url: str = SANDBOX_FASTMAG_URL
    enseigne: str = "SANDBOX"
    magasin: str = "CENTRAL"
    wire: FastmagWire = FastmagWire()
    queries: FastmagQueries = FastmagQueries()
    order_transaction: OrderTransactionLayout = OrderTransactionLayout()
    photos: PhotoSource = PhotoSource()
    # Rows per page of the big reads (stock, products, prices; `fastmag/queries.py` names each one's key), read
    # by keyset; None: each is one query, as Fastmag has always been asked (no row cap is on record, and how a
    # live server runs the derived table of a paged query is not either). Set it for catalogues past ~200 000
    # SKUs, where one answer no longer fits comfortably in a Lambda's memory.
    page_rows: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    page_sql: contracts.PageSql = contracts.PAGE_SQL


# --- Le New Black ----------------------------------------------------------------------------------------------


class OrderStatuses(_Model):
    """Wire values of the three order statuses the connector uses; the real strings are unknown."""

    to_export: str = "invoicing"
    exported: str = "closed"
    blocked: str = "blocked"


class LeNewBlackSettings(_Model):
    base_url: str = SANDBOX_LNB_URL
    token_refresh_margin_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    page_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 100
    concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    connect_timeout_seconds: PositiveSeconds = 5
    read_timeout_seconds: PositiveSeconds = 60
    max_retries: Annotated[int, Field(ge=0, le=10)] = 5
    backoff_base_seconds: Annotated[float, Field(ge=0, le=60)] = 0.5
    backoff_cap_seconds: Annotated[float, Field(ge=0, le=600)] = 60
    # A batch success that echoes none of its item's key fields (whether LNB echoes them is unconfirmed):
    # "resend" counts it as not accepted, so the item is reported and sent again next run; "by_position" takes
    # it for the item at its position, only when the answer has one result per item and every keyed success
    # sits at its own position. "resend" is the default because position is only a guess of the reference: a
    # reordered answer would then record a refused item as accepted and never send it again, where "resend"
    # costs repeated (idempotent) upserts and shows at once on the first run.
    batch_success_without_key: Literal["resend", "by_position"] = "resend"
    order_statuses: OrderStatuses = OrderStatuses()


# --- Flows -------------------------------------------------------------------------------------------------------


class IncomingStockSettings(_Model):
    """Incoming stock (`fastmag.queries.incoming_stock`, flows/incoming_stock.py): LNB holds one quantity and one
    date per key, so the receptions expected within `horizon_days` are summed (less `safety_buffer`, never below
    0) and dated by the `earliest` or `latest` of them."""

    horizon_days: Annotated[int, Field(ge=0, le=3660)] = 90
    date: Literal["earliest", "latest"] = "earliest"
    safety_buffer: Annotated[int, Field(ge=0)] = 0


class StockSettings(_Model):
    stores: tuple[str, ...] = ("CENTRAL", "WEB")
    real_stock_only: bool = True
    safety_buffer: Annotated[int, Field(ge=0)] = 0
    key: Literal["ean13", "sku"] = "ean13"
    zero_guard_share: Annotated[float, Field(ge=0, le=1)] = 0.2
    incoming: IncomingStockSettings = IncomingStockSettings()
    # With `fastmag.queries.stock_changed_since` set (README "Incremental stock reads"): the watermark's overlap, and
    # how often a tick reads the whole stock anyway (the only read that zeroes what Fastmag no longer holds).
    incremental_overlap_seconds: Annotated[int, Field(ge=0)] = 120
    full_read_every_minutes: Annotated[int, Field(ge=1)] = 60

    @field_validator("stores")
    @classmethod
    def _at_least_one_store(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one Fastmag store (codemag)")
        return value


class CategoryMapping(_Model):
    """Which Fastmag fields give LNB's three category levels, and optional renames of their values."""

    category_field: str = "family"
    sub_category_field: str | None = "subfamily"
    sub_sub_category_field: str | None = "section"
    names: dict[str, str] = {}


class CollectionName(_Model):
    code: str
    name: str


class ProductSettings(_Model):
    """Which models the catalogue flows export (`seasons`: empty = all; `active_only`: the sheet's `active`), the
    category mapping, and season → collection (`{"AH25": {"code": "FW25", "name": "Automne-hiver 2025"}}`;
    a season not listed gives code = name = the season)."""

    categories: CategoryMapping = CategoryMapping()
    collections: dict[str, CollectionName] = {}
    seasons: tuple[str, ...] = ()
    active_only: bool = True


class PriceSettings(_Model):
    """Each tariff of `tariff_price_lists` fills its price list's `wholesale_price`; `retail_tariff` gives every
    list's `recommended_retail_price` (None: none sent). `wholesale_tariff` must map to a list: a run where it
    does not reports it. `by_size`: prices that differ by size go to `/multi/prices_by_size` (an LNB account
    option); off, such a variant gets the price most of its sizes have and the other sizes are reported."""

    wholesale_tariff: str = "GROS"
    retail_tariff: str | None = "PVC"
    by_size: bool = True


class CustomerSettings(_Model):
    """Which Fastmag customers become LNB retailers, and what fills the gaps their records may have.

    The customers query already keeps only accounts with a company name; `families` narrows that to the
    customer families (`family` alias, `clients.Famille` by default) that are B2B accounts, when not empty.
    """

    families: tuple[str, ...] = ()
    default_country: str | None = None
    default_tariff: str | None = None
    main_address_name: str = "PRINCIPALE"
    billing_address_reference: str = "FACTURATION"
    # LNB takes a retailer without buyers: a customer without an email is sent so, unless this asks to skip it.
    require_buyer: bool = False

    @field_validator("default_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = iso_country(value)
        if code is None:
            raise ValueError(f"unknown country {value!r}; give an ISO-2 code such as FR")
        return code


class ImageSettings(_Model):
    """`max_bytes`: larger files are not uploaded; `concurrency`: photos fetched from Fastmag at once (one HTTP
    call each; at most the Fastmag client's 10 pooled connections)."""

    max_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    concurrency: Annotated[int, Field(ge=1, le=10)] = 8


_LINE_COUNT = re.compile(r"\bline_count\b", re.IGNORECASE)


class OrderSettings(_Model):
    """`resend_settle_seconds`: how long after a write whose outcome is unknown a lookup miss may be trusted
    (at least twice the Fastmag read timeout); `max_auto_resends`: how many times such an order is resent
    without an operator (0: never).

    `not_before`: the go-live cut-off, an ISO-8601 date-time with its offset. Orders confirmed (else created)
    before it are recorded `ignored` and never written; `null` takes every order. Left out, no orders run writes
    anything (`cutoff_set` is False): an integrator decides, once, what happens to the orders already waiting.

    `fastmag_concurrency`: Fastmag order writes in flight at once (1: one after the other). Raise it only if your
    Fastmag host allows it: its tolerance of concurrent EDI writes is not on record. LNB status moves and ledger
    updates run `lenewblack.concurrency` at once behind the writes whatever this is.
    """

    missing_ean: Literal["block", "skip_line"] = "block"
    move_blocked_status: bool = True
    alarm_after_failed_runs: Annotated[int, Field(ge=1)] = 3
    resend_settle_seconds: Annotated[float, Field(ge=0)] = 300
    max_auto_resends: Annotated[int, Field(ge=0, le=5)] = 1
    fastmag_concurrency: Annotated[
        int,
        Field(
            ge=1,
            le=4,
            description="Fastmag order writes in flight at once; raise it only if your Fastmag host allows it "
            "(its tolerance of concurrent EDI writes is not on record)",
        ),
    ] = 1
    not_before: AwareDatetime | None = None

    @property
    def cutoff_set(self) -> bool:
        """Whether the document names `not_before` at all (`null` included)."""
        return "not_before" in self.model_fields_set

    @model_serializer(mode="wrap")
    def _unset_cutoff_stays_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A dump read back must mean the same: an unset cut-off is left out, never written as `null`."""
        document: dict[str, Any] = handler(self)
        if not self.cutoff_set:
            document.pop("not_before", None)
        return document


class ReconcileSettings(_Model):
    """Reconciliation (flows/reconcile.py). `price_models`: models whose prices are read back from LNB, a sample
    per run (LNB reads prices one model and colour per call; 0: prices are not reconciled). `lock_wait_seconds`:
    how long a repair waits for a flow's lock. `nightly_stock`: the full stock push sends every SKU (`send_all`)
    or reconciles stock and sends only the differences (`reconcile`)."""

    price_models: Annotated[int, Field(ge=0)] = 0
    lock_wait_seconds: Annotated[float, Field(ge=0, le=900)] = 300
    nightly_stock: Literal["send_all", "reconcile"] = "send_all"


class Settings(_Model):
    """The whole settings document."""

    fastmag: FastmagSettings = FastmagSettings()
    lenewblack: LeNewBlackSettings = LeNewBlackSettings()
    sku_format: str = "{reference}-{colour}-{size}"
    tariff_price_lists: dict[str, str] = {"GROS": "WHOLESALE-EUR", "PVC": "RETAIL-EUR"}
    stock: StockSettings = StockSettings()
    products: ProductSettings = ProductSettings()
    prices: PriceSettings = PriceSettings()
    customers: CustomerSettings = CustomerSettings()
    images: ImageSettings = ImageSettings()
    orders: OrderSettings = OrderSettings()
    reconcile: ReconcileSettings = ReconcileSettings()

    @model_validator(mode="after")
    def _orders_fit_the_wire(self) -> Self:
        wire = self.fastmag.wire
        if self.orders.resend_settle_seconds < 2 * wire.read_timeout_seconds:
            raise ValueError(
                f"orders.resend_settle_seconds ({self.orders.resend_settle_seconds:g}) must be at least twice "
                f"fastmag.wire.read_timeout_seconds ({wire.read_timeout_seconds:g}): a write still in flight "
                "must not be taken for one that never arrived"
            )
        if wire.transactions_per_call == "one" and not _LINE_COUNT.search(self.fastmag.queries.orders_by_reference):
            raise ValueError(
                "fastmag.queries.orders_by_reference must return a line_count column when "
                "fastmag.wire.transactions_per_call is one: a partial order must never be taken for a whole one"
            )
        return self

    @field_validator("sku_format")
    @classmethod
    def _sku_format_fields(cls, value: str) -> str:
        try:
            value.format(reference="R", colour="C", size="S", variant_id="1", ean13="0")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"sku_format may use {{reference}}, {{colour}}, {{size}}, {{variant_id}}, {{ean13}}: {error}"
            ) from error
        return value


# --- Secrets (two brand-owned documents: the flows read one, the API's authorizer the other) -----------------


class Credentials(_Model):
    """The `credentials` secret: the Fastmag and Le New Black logins the flows use. Never logged, never in a preview."""

    fastmag_user: str
    fastmag_password: SecretStr
    lnb_client_id: str
    lnb_client_secret: SecretStr


# The flows' name for their credentials (Services.secret).
Secret = Credentials

# The label `connector settings --write` puts on each version it validated; the functions read that version.
LAST_GOOD = "last-good"

SECRET_MODELS: dict[str, type[Credentials] | type[ApiAccess]] = {"credentials": Credentials, "api-access": ApiAccess}


def parse_settings(document: Mapping[str, Any] | str) -> Settings:
    """Validate a settings document; the error names every bad field with its path."""
    try:
        data = json.loads(document) if isinstance(document, str) else dict(document)
    except json.JSONDecodeError as error:
        raise SettingsError(f"invalid settings document: not JSON ({error})") from error
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(f"invalid settings document: {describe(error, root='(document)')}") from error


def _parse_secret_document[M: BaseModel](model: type[M], kind: str, document: Mapping[str, Any] | str) -> M:
    try:
        data = json.loads(document) if isinstance(document, str) else dict(document)
    except json.JSONDecodeError as error:
        raise SettingsError(f"invalid {kind} secret: not JSON") from error
    try:
        return model.model_validate(data)
    except ValidationError as error:
        # Validators may quote input values in their messages; name the fields only so no secret leaks. The
        # api-access validators (connector.access) never quote the value: their messages say what to do.
        problems = describe(error, with_messages=kind == "api-access")
        raise SettingsError(f"invalid {kind} secret: check field(s) {problems}") from None


def parse_secret(document: Mapping[str, Any] | str) -> Credentials:
    """The `credentials` secret (the flows' logins)."""
    return _parse_secret_document(Credentials, "credentials", document)


def parse_api_access(document: Mapping[str, Any] | str) -> ApiAccess:
    """The `api-access` secret (the export API tokens)."""
    return _parse_secret_document(ApiAccess, "api-access", document)


def parse_secret_of_kind(kind: str, document: Mapping[str, Any] | str) -> Credentials | ApiAccess:
    """Either secret by its kind (`credentials` or `api-access`), as `connector secret --write KIND` names it."""
    if kind not in SECRET_MODELS:
        raise SettingsError(f"unknown secret {kind!r}; known: {', '.join(SECRET_MODELS)}")
    return _parse_secret_document(SECRET_MODELS[kind], kind, document)
