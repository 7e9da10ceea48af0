from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.ean import make_ean13
from connector.flows.order_check import Variant, check_order
from connector.flows.source import Skip
from connector.lenewblack.models import Order
from connector.settings import Settings, parse_settings

EAN = make_ean13("376000000010")
UNKNOWN_EAN = make_ean13("376000000099")
VARIANTS = {EAN: Variant("CH2301", "NOIR", "M", "Chemise à col Claudine")}
CUSTOMERS = {"1042"}
TODAY = date(2026, 11, 27)


def reasons(problems: tuple[Skip, ...]) -> tuple[str, ...]:
    """The reasons, once every problem is proven to be keyed by the order it blocks."""
    assert {problem.key for problem in problems} == {"1001"}
    return tuple(problem.reason for problem in problems)


def order(**changes: Any) -> Order:
    document: dict[str, Any] = {
        "reference": 1001,
        "status": "invoicing",
        "retailer_reference": "1042",
        "buyer_email": "lea@example.fr",
        "confirmation_time": "2026-11-20T10:00:00Z",
        "delivery_start_on": "2027-02-01",
        "comment": "Livrer l'après-midi | merci\nQuai 3",
        "delivery_address": {"reference": "ENTREPOT", "company": "L'Atelier", "country": "FR"},
        "items": [{"ean13": EAN, "quantity": 3, "unit_price": "42.50", "discount_rate": "10", "sku": "CH2301-NOIR-M"}],
    }
    document.update(changes)
    return Order.model_validate(document)


def test_valid_order_maps_to_the_fastmag_order() -> None:
    checked = check_order(order(), VARIANTS, CUSTOMERS, Settings(), TODAY)
    assert checked.problems == ()
    assert checked.order is not None
    assert checked.order.external_reference == "1001"
    assert checked.order.customer_id == "1042"
    assert checked.order.store == "CENTRAL"
    assert checked.order.delivery_address_name == "ENTREPOT"
    assert checked.order.order_date == date(2026, 11, 20)
    assert checked.order.delivery_start == date(2027, 2, 1)
    assert checked.order.comment == "Livrer l'après-midi | merci\nQuai 3"
    (line,) = checked.order.lines
    assert (line.reference, line.colour, line.size, line.quantity) == ("CH2301", "NOIR", "M", 3)
    assert line.unit_price == Decimal("42.50")
    assert line.line_amount == Decimal("114.75")


def test_each_problem_has_its_own_precise_reason() -> None:
    items = [
        {"sku": "NO-EAN", "quantity": 1, "unit_price": "10"},
        {"ean13": UNKNOWN_EAN, "quantity": 1, "unit_price": "10"},
        {"ean13": "1234567890123", "quantity": 1, "unit_price": "10"},
        {"ean13": EAN, "quantity": 0, "unit_price": "10"},
        {"ean13": EAN, "quantity": 2},
    ]
    checked = check_order(order(items=items, retailer_reference="999"), VARIANTS, CUSTOMERS, Settings(), TODAY)
    assert checked.order is None
    assert reasons(checked.problems) == (
        "retailer reference 999 is not a Fastmag customer",
        "line 1 (SKU NO-EAN) has no EAN13",
        f"line 2: EAN13 {UNKNOWN_EAN} is not a Fastmag variant",
        "line 3: EAN13 1234567890123 is not a valid EAN13",
        "line 4: quantity must be between 1 and 100000 (got 0)",
        "line 5: no unit price",
    )


def test_skip_line_setting_exports_the_rest_and_says_so() -> None:
    items = [{"sku": "NO-EAN", "quantity": 1, "unit_price": "10"}, {"ean13": EAN, "quantity": 1, "unit_price": "5"}]
    settings = parse_settings({"orders": {"missing_ean": "skip_line"}})
    checked = check_order(order(items=items), VARIANTS, CUSTOMERS, settings, TODAY)
    assert checked.order is not None
    assert len(checked.order.lines) == 1
    assert checked.skipped_lines == (Skip("1001", "line 1 (SKU NO-EAN) has no EAN13: line not exported"),)


def test_a_blocked_line_is_named_as_support_knows_it_the_sku_only_when_nothing_else_is_known() -> None:
    named = {"reference": "CH2301", "color": "NOIR", "size": "M", "name": "Chemise à col Claudine", "sku": "3396"}
    items = [
        {**named, "quantity": 1, "unit_price": "10"},
        {"reference": "CH2301", "size": "M", "sku": "3396", "quantity": 1, "unit_price": "10"},
        {"name": 'Jean 32"\nBrut', "sku": "3396", "quantity": 1, "unit_price": "10"},
        {"sku": "3396", "color": "  ", "quantity": 1, "unit_price": "10"},
        {"quantity": 1, "unit_price": "10"},
    ]
    checked = check_order(order(items=items), VARIANTS, CUSTOMERS, Settings(), TODAY)
    assert reasons(checked.problems) == (
        'line 1 (CH2301 / NOIR / M, "Chemise à col Claudine") has no EAN13',
        "line 2 (CH2301 / ? / M) has no EAN13",
        'line 3 ("Jean 32" Brut") has no EAN13',
        "line 4 (SKU 3396) has no EAN13",
        "line 5 has no EAN13",
    )
    unknown = check_order(order(items=[{**named, "ean13": UNKNOWN_EAN}]), VARIANTS, CUSTOMERS, Settings(), TODAY)
    assert reasons(unknown.problems) == (
        f'line 1 (CH2301 / NOIR / M, "Chemise à col Claudine"): EAN13 {UNKNOWN_EAN} is not a Fastmag variant',
    )


def test_order_without_lines_or_retailer_is_blocked() -> None:
    checked = check_order(order(items=[], retailer_reference=None), VARIANTS, CUSTOMERS, Settings(), TODAY)
    assert reasons(checked.problems) == ("the order has no retailer reference", "the order has no lines")


item_strategy = st.fixed_dictionaries(
    {},
    optional={
        "ean13": st.one_of(st.none(), st.just(EAN), st.just(UNKNOWN_EAN), st.text(max_size=20)),
        "quantity": st.one_of(st.none(), st.integers(min_value=-(10**12), max_value=10**12)),
        "unit_price": st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=2)),
        "discount_rate": st.one_of(st.none(), st.decimals(min_value=-500, max_value=500, places=2)),
        "sku": st.one_of(st.none(), st.text(max_size=30)),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(item_strategy, max_size=6),
    retailer=st.one_of(st.none(), st.just("1042"), st.text(max_size=10)),
    status=st.text(max_size=12),
)
def test_any_order_maps_or_is_blocked_with_reasons(
    items: list[dict[str, Any]], retailer: str | None, status: str
) -> None:
    try:
        parsed = order(items=items, retailer_reference=retailer, status=status)
    except ValidationError:
        return  # unreadable orders are skipped with their field names by the flow, before validation
    checked = check_order(parsed, VARIANTS, CUSTOMERS, Settings(), TODAY)
    assert (checked.order is None) == bool(checked.problems)
    if checked.order is not None:
        assert all(0 < line.quantity <= 100_000 and line.unit_price >= 0 for line in checked.order.lines)


def test_a_unit_price_past_any_real_one_blocks_the_order_instead_of_overflowing_the_amounts() -> None:
    # 1e26 at two decimals needs 29 digits: past the decimal context's 28, the amounts would raise.
    items = [{"ean13": EAN, "quantity": 3, "unit_price": "1E+26", "sku": "CH2301-NOIR-M"}]
    checked = check_order(order(items=items), VARIANTS, CUSTOMERS, Settings(), TODAY)
    assert checked.order is None
    (reason,) = reasons(checked.problems)
    assert "unit price must be between 0 and 1000000000" in reason
