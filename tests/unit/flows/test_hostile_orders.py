"""Any Le New Black order, however broken, is mapped to a Fastmag order or blocked/skipped with a reason.

An order document goes through what the orders flow does with it: the Order model (a document it cannot read
is skipped with the fields named), then `check_order` (a Fastmag order to write, or the problems that block it).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.ean import make_ean13
from connector.fastmag.transaction import build_order_transaction
from connector.flows.order_check import MAX_QUANTITY, Variant, check_order
from connector.lenewblack.models import Order
from connector.settings import Settings, parse_settings
from tests.properties import examples
from tests.unit.hostile import dates, odd_text

KNOWN_EAN = make_ean13("376000000001")
VARIANTS = {KNOWN_EAN: Variant("CH1", "NOIR", "M", "Chemise")}
CUSTOMERS = {"2001"}
SETTINGS = [Settings(), parse_settings({"orders": {"missing_ean": "skip_line"}})]

anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), odd_text, st.lists(st.integers(), max_size=2)
)
quantities = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(MAX_QUANTITY, 10**30),
    st.sampled_from(["3", "-1", "1e3", "", "x"]),
    anything,
)
money = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.sampled_from(["NaN", "Infinity", "-0.01", "1e400", "12,50", ""]),
    anything,
)


def fields(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={name: st.one_of(s, anything) for name, s in strategies.items()})


items = fields(
    ean13=st.one_of(st.just(KNOWN_EAN), st.just(make_ean13("376000000009")), odd_text),
    sku=odd_text,
    reference=odd_text,
    name=odd_text,
    quantity=quantities,
    unit_price=money,
    discount_rate=money,
)
orders = st.one_of(
    fields(
        reference=st.one_of(st.integers(1, 10**9), odd_text),
        status=st.sampled_from(["invoicing", "blocked", "exploded", "", "INVOICING"]),
        retailer_reference=st.sampled_from(["2001", "9999", "", " 2001 "]),
        buyer_email=st.emails(),
        create_time=dates,
        confirmation_time=dates,
        delivery_start_on=dates,
        delivery_end_on=dates,
        comment=odd_text,
        items=st.one_of(st.none(), st.lists(items, max_size=4)),
        delivery_address=st.one_of(st.none(), fields(reference=odd_text, country=odd_text)),
    ),
    anything,
)


@given(orders, st.sampled_from(SETTINGS))
@examples(600)
def test_any_order_maps_or_is_blocked_or_skipped_with_a_reason(document: Any, settings: Settings) -> None:
    try:
        order = Order.model_validate(document)
    except ValidationError as error:
        problems = error.errors()
    else:
        problems = []
    if problems:
        return  # the flow skips it, naming the fields it could not read (orders._read_orders)
    checked = check_order(order, VARIANTS, CUSTOMERS, settings, date(2026, 1, 15))
    assert checked.reference == order.reference
    if checked.order is None:
        assert checked.problems and all(problem.reason.strip() for problem in checked.problems)
        assert {problem.key for problem in checked.problems} == {order.reference}
        return
    assert checked.problems == ()
    fastmag = checked.order
    assert fastmag.customer_id in CUSTOMERS
    for line in fastmag.lines:
        assert 0 < line.quantity <= MAX_QUANTITY
        assert line.unit_price >= Decimal(0)
        assert Decimal(0) <= line.discount_rate <= Decimal(100)
    lines = build_order_transaction(fastmag, settings.fastmag.order_transaction)
    assert len(lines) == 1 + len(fastmag.lines)
