"""The order written to Fastmag (fastmag-api.md §3.4): its lines, amounts and totals.

How it is written as transaction lines, and read back by the simulator: `fastmag/transaction.py`.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Amounts travel with two decimals, rounded half up like a till."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FastmagOrderLine(_Model):
    """One order line; Fastmag names the product by reference + size + colour, not by EAN13."""

    reference: str = Field(min_length=1)
    size: str
    colour: str
    designation: str = ""
    ean13: str = ""
    unit_price: Decimal = Field(ge=0)
    quantity: int = Field(gt=0)
    discount_rate: Decimal = Field(default=Decimal(0), ge=0, le=100, description="percent")

    @field_validator("unit_price", "discount_rate")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        # The wire carries two decimals; rounding here keeps the model equal to what Fastmag stores.
        return money(value)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def line_amount(self) -> Decimal:
        return money(self.unit_price * self.quantity * (100 - self.discount_rate) / 100)


class FastmagOrder(_Model):
    external_reference: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    store: str = Field(min_length=1)
    email: str | None = None
    delivery_address_name: str = ""
    order_date: date
    delivery_start: date | None = None
    delivery_end: date | None = None
    comment: str = ""
    lines: tuple[FastmagOrderLine, ...] = Field(min_length=1)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_amount(self) -> Decimal:
        return sum((line.line_amount for line in self.lines), Decimal(0))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_quantity(self) -> int:
        return sum(line.quantity for line in self.lines)
