"""What crosses the wire to Le New Black (lenewblack-api.md §2) and the per-item outcome of a batch.

Request models refuse unknown fields (a typo would otherwise be sent and silently ignored) and carry the
reference's Req fields as required. `payload()` gives the JSON-ready dict a flow hands to the client;
`model_dump(exclude_none=True)` works too (money is dumped as a number in both).

Order models are the opposite: the real order shapes are unconfirmed, so they accept extra fields and make
everything optional except `reference`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator

# Prices are Decimal for exact validation; the API takes JSON numbers, so they are dumped as floats.
from connector.ean import is_valid_ean13

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4), PlainSerializer(float)]
Text = Annotated[str, Field(min_length=1)]
Quantity = Annotated[int, Field(ge=0)]


def errors_summary(errors: Mapping[str, list[str]]) -> str:
    """Field errors as one line, `field: message; …` (a message under the key `""` goes without a field)."""
    return "; ".join(f"{field}: {text}" if field else text for field, texts in errors.items() for text in texts)


class ItemOutcome(BaseModel):
    """What Le New Black said about one item of a batch (or why the whole batch did not get through).

    `attributable` is False when the answer could not be tied to this item (a result missing, results out of
    order, a success that does not name it): the item may or may not have been saved, so it is sent again.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    accepted: bool
    # A factory, not `{}`: a mutable default is deep-copied for every outcome, 100 000 a full push.
    errors: dict[str, list[str]] = Field(default_factory=dict)
    message: str | None = None
    http_status: int | None = None
    result: dict[str, Any] | None = None
    attributable: bool = True

    @property
    def reason(self) -> str:
        """One readable line for logs and run records, e.g. `price_list_code: price list X does not exist`."""
        details = errors_summary(self.errors)
        if details:
            return details
        if self.message:
            return self.message
        if self.accepted:
            return "accepted"
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"rejected by Le New Black without a reason{status}"


type ItemKey = tuple[tuple[str, str], ...]  # (field, value) pairs that name one item of a batch


def key_text(value: Any) -> str | None:
    """A key field's value as text; an EAN13 echoed as a JSON number still compares with the string sent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


@dataclass(frozen=True)
class BatchKey:
    """The fields that name an item of `/multi/<resource>`, and so must name it in a success result.

    `optional` fields are part of an item's key only when the item sends them (a price's period): a result may
    carry a default for a field the item left out, which must not stop the match.
    """

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def of_item(self, item: Mapping[str, Any]) -> ItemKey | None:
        """The item's key; None when it lacks a required field (then no result can name it)."""
        pairs = []
        for name in self.required:
            value = key_text(item.get(name))
            if value is None:
                return None
            pairs.append((name, value))
        for name in self.optional:
            value = key_text(item.get(name))
            if value is not None:
                pairs.append((name, value))
        return tuple(pairs)

    def names_an_item(self, result: Mapping[str, Any]) -> bool:
        """Whether a result carries a key at all (every required field)."""
        return all(key_text(result.get(name)) is not None for name in self.required)

    @staticmethod
    def of_result(result: Mapping[str, Any], fields: tuple[str, ...]) -> ItemKey | None:
        """The result's key over `fields` (the fields one of the batch's items is keyed by)."""
        pairs = []
        for name in fields:
            value = key_text(result.get(name))
            if value is None:
                return None
            pairs.append((name, value))
        return tuple(pairs)


# What names an item in each batch resource (lenewblack-api.md §1.7 upsert keys, §2.7 prices, §2.8 inventory).
# Whether a success's `result` echoes these fields is [SDK] (the saved object), not confirmed: see
# `LeNewBlackSettings.batch_success_without_key` for a success that carries none of them.
BATCH_KEYS: dict[str, BatchKey] = {
    "inventory/ean": BatchKey(("ean13",)),
    "inventory/sku": BatchKey(("sku",)),
    "products": BatchKey(("model",)),
    "fabrics": BatchKey(("code",)),
    "retailers": BatchKey(("reference",)),
    "prices": BatchKey(("price_list_code", "product_model", "fabric_code"), ("price_period_code",)),
    "prices_by_size": BatchKey(
        ("price_list_code", "product_model", "fabric_code", "size_name"), ("price_period_code",)
    ),
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def payload(self) -> dict[str, Any]:
        """The JSON-ready body: optional fields left unset are not sent."""
        return self.model_dump(mode="json", exclude_none=True)


class _Extras(_Request):
    """The free `extra_1` … `extra_9` fields products and retailers carry."""

    extra_1: str | None = None
    extra_2: str | None = None
    extra_3: str | None = None
    extra_4: str | None = None
    extra_5: str | None = None
    extra_6: str | None = None
    extra_7: str | None = None
    extra_8: str | None = None
    extra_9: str | None = None


# --- Inventory (§2.8) ------------------------------------------------------------------------------------------


class _Stock(_Request):
    in_stock: Quantity
    is_blocked: bool | None = None
    in_stock_update_time: datetime | None = None
    incoming_stock: Quantity | None = None
    incoming_stock_date: date | None = None


class InventoryByEan(_Stock):
    ean13: str

    @field_validator("ean13")
    @classmethod
    def _valid_ean13(cls, value: str) -> str:
        if not is_valid_ean13(value):
            raise ValueError(f"{value!r} is not a valid EAN13 (13 digits with a correct check digit)")
        return value


class InventoryBySku(_Stock):
    sku: Text


# --- Retailers and buyers (§2.9) -------------------------------------------------------------------------------


class Address(_Request):
    reference: Text
    company: Text
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    contact_name: str | None = None
    contact_email: str | None = None
    tel: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    zipcode: str | None = None
    city: str | None = None
    vat_number: str | None = None

    @field_validator("country", mode="before")
    @classmethod
    def _upper_country(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class Buyer(_Request):
    """Buyers are matched by email in Le New Black, so the email is required."""

    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    first_name: str | None = None
    last_name: str | None = None
    gender: str | None = None


class Retailer(_Extras):
    reference: Text
    name: Text
    price_list_code: Text
    store_address: Address
    company: str | None = None
    delivery_incoterm: str | None = None
    discount_rate: Annotated[Decimal, Field(ge=0, le=100), PlainSerializer(float)] | None = None
    discount_special_rate: Annotated[Decimal, Field(ge=0, le=100), PlainSerializer(float)] | None = None
    terms_of_delivery: str | None = None
    terms_of_payment: str | None = None
    access_status: str | None = None
    access_role_level: str | None = None
    contact_group: str | None = None
    sales_group: str | None = None
    sales_admin_email: str | None = None
    sales_rep_email: str | None = None
    billing_address: Address | None = None
    delivery_addresses: list[Address] | None = None
    buyers: list[Buyer] | None = None


# --- Catalogue (§2.2, §2.3) ------------------------------------------------------------------------------------


class Fabric(_Request):
    """A colour × material; its `code` is what a variant's `fabric_code` points to."""

    code: Text
    name: Text
    material_code: str | None = None
    color_code: str | None = None
    color_name: str | None = None
    external_name: str | None = None


class Sku(_Request):
    size_name: Text
    ean13: str | None = None
    sku: str | None = None
    extra_1: str | None = None
    is_blocked: bool | None = None
    external_size_position: int | None = None


class Variant(_Request):
    """A colourway of a product. No `image_N_url` here: images go through `/files/products`."""

    fabric_code: Text
    fabric_name: Text
    reference: Text
    fabric_color_code: str | None = None
    fabric_color_name: str | None = None
    is_available: bool | None = None
    is_blocked: bool | None = None
    is_core: bool | None = None
    care_instruction: str | None = None
    composition: str | None = None
    country_of_origin: str | None = None
    customs_code: str | None = None
    description: str | None = None
    fabric_print: str | None = None
    lining: str | None = None
    dimensions: str | None = None
    weight: float | str | None = None
    available_on: date | None = None
    show_looks: bool | None = None
    showroom_availability: str | None = None
    special_notice: str | None = None
    video_url: str | None = None
    image_360_url: str | None = None
    skus: list[Sku] | None = None


class Product(_Extras):
    model: Text
    name: Text
    category_name: Text
    collection_code: Text
    collection_name: Text
    sizing_name: Text
    sizing_sizes: Annotated[list[Text], Field(min_length=1)]
    variants: Annotated[list[Variant], Field(min_length=1)]
    sub_category_name: str | None = None
    sub_sub_category_name: str | None = None
    is_published: bool | None = None
    is_new: bool | None = None
    is_top: bool | None = None
    order_min: Quantity | None = None
    order_max: Quantity | None = None
    order_multiple: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _sizes_in_sizing(self) -> Product:
        # All variants of a product share one sizing (products CSV rules); a size outside it would be refused.
        allowed = set(self.sizing_sizes)
        unknown = sorted(
            {sku.size_name for variant in self.variants for sku in variant.skus or () if sku.size_name not in allowed}
        )
        if unknown:
            raise ValueError(f"size(s) {unknown} are not in sizing {self.sizing_name!r} {self.sizing_sizes}")
        return self


# --- Prices (§2.7) ---------------------------------------------------------------------------------------------


class Price(_Request):
    """A variant's price in an existing price list; the currency belongs to the price list."""

    product_model: Text
    fabric_code: Text
    price_list_code: Text
    wholesale_price: Annotated[Money, Field(gt=0)]
    recommended_retail_price: Money | None = None
    cost_price: Money | None = None
    price_period_code: str | None = None


class PriceBySize(Price):
    size_name: Text


# --- Orders (§2.10), parsed from GET /orders -------------------------------------------------------------------


class _Tolerant(BaseModel):
    # LNB order ids are numeric; identifiers are kept as strings so they compare with the ledger keys.
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class OrderAddress(_Tolerant):
    reference: str | None = None
    company: str | None = None
    country: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    tel: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    zipcode: str | None = None
    city: str | None = None
    vat_number: str | None = None


class OrderItem(_Tolerant):
    reference: str | None = None
    name: str | None = None
    collection_name: str | None = None
    color: str | None = None
    size: str | None = None
    ean13: str | None = None
    sku: str | None = None
    sku_extra_1: str | None = None
    quantity: int | None = None
    unit_price: Decimal | None = None
    recommended_retail_price: Decimal | None = None
    discount_amount: Decimal | None = None
    discount_rate: Decimal | None = None
    promotion_amount: Decimal | None = None
    promotion_rate: Decimal | None = None
    create_time: str | None = None
    update_time: str | None = None
    confirmation_time: str | None = None


# An order's reference keys its ledger entry (a DynamoDB key of at most 2048 bytes); LNB's are short numbers.
OrderReference = Annotated[str, Field(min_length=1, max_length=255)]


class Order(_Tolerant):
    reference: OrderReference
    purchase_order_reference: str | None = None
    status: str | None = None
    create_time: str | None = None
    update_time: str | None = None
    confirmation_time: str | None = None
    cancellation_time: str | None = None
    delivery_start_on: str | None = None
    delivery_end_on: str | None = None
    delivery_incoterm_ref: str | None = None
    price_list_code: str | None = None
    sales_catalog_code: str | None = None
    retailer_reference: str | None = None
    retailer_name: str | None = None
    buyer_name: str | None = None
    buyer_first_name: str | None = None
    buyer_email: str | None = None
    currency: str | None = None
    discount_rate: Decimal | None = None
    amount_order: Decimal | None = None
    amount_shipping: Decimal | None = None
    amount_discount: Decimal | None = None
    amount_tax: Decimal | None = None
    amount_total: Decimal | None = None
    amount_total_tax_inclusive: Decimal | None = None
    order_mode: str | None = None
    order_type: str | None = None
    comment: str | None = None
    billing_address: OrderAddress | None = None
    delivery_address: OrderAddress | None = None
    items: list[OrderItem] = []

    @field_validator("items", mode="before")
    @classmethod
    def _null_items(cls, value: Any) -> Any:
        return [] if value is None else value
