from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.fastmag.models import FastmagOrder, FastmagOrderLine
from connector.fastmag.transaction import (
    HEADER_FIELDS,
    LINE_FIELDS,
    OrderTransactionLayout,
    build_order_transaction,
    parse_order_transaction,
)

LAYOUT = OrderTransactionLayout()
# Every field of the vocabulary, so a parse can give back the whole order.
FULL = OrderTransactionLayout(header_fields=tuple(HEADER_FIELDS), line_fields=tuple(LINE_FIELDS))


def test_the_default_layout_and_the_vocabulary_come_from_the_field_tables() -> None:
    assert set(LAYOUT.header_fields) == set(HEADER_FIELDS) - {"email"}
    assert set(LAYOUT.line_fields) == set(LINE_FIELDS) - {"ean13"}
    assert LAYOUT.escaped_fields == ("comment",)
    with pytest.raises(ValueError, match=r"known: .*ean13"):
        OrderTransactionLayout(line_fields=("ean", "quantity"))


def order(**changes: object) -> FastmagOrder:
    values: dict[str, object] = {
        "external_reference": "1001",
        "customer_id": "2001",
        "store": "CENTRAL",
        "email": "lea@exemple.fr",
        "delivery_address_name": "ENTREPÔT",
        "order_date": date(2026, 1, 5),
        "delivery_start": date(2026, 2, 2),
        "delivery_end": None,
        "comment": "Merci | à bientôt\nQuai n°3",
        "lines": (
            FastmagOrderLine(
                reference="CH2301",
                size="M",
                colour="ROSE POUDRÉ",
                designation="Chemise à col Claudine | édition",
                ean13="3760000100014",
                unit_price=Decimal("35.5"),
                quantity=3,
                discount_rate=Decimal(10),
            ),
            FastmagOrderLine(reference="PU2301", size="TU", colour="NOIR", unit_price=Decimal("12"), quantity=1),
        ),
    }
    values.update(changes)
    return FastmagOrder.model_validate(values)


def test_default_layout_lines() -> None:
    assert build_order_transaction(order(), LAYOUT) == [
        "COMMANDE|ENTETE|CENTRAL|1001|2001|ENTREPÔT|05/01/2026|107.85|4|02/02/2026||"
        "Merci {PIPE} à bientôt{CR}{LF}Quai n°3",
        "COMMANDE|LIGNE|1001|1|CH2301|M|ROSE POUDRÉ|Chemise à col Claudine   édition|35.50|3|10.00|95.85",
        "COMMANDE|LIGNE|1001|2|PU2301|TU|NOIR||12.00|1|0.00|12.00",
    ]


def test_totals_are_computed_from_the_lines() -> None:
    built = order()
    assert built.lines[0].line_amount == Decimal("95.85")
    assert built.total_amount == Decimal("107.85")
    assert built.total_quantity == 4


def test_custom_layout_with_literals_email_ean_comma_and_iso_dates() -> None:
    layout = OrderTransactionLayout(
        keyword="VENTE",
        header_fields=("=WEB", "email", "external_reference", "customer_id", "order_date", "total_amount"),
        line_fields=("ean13", "quantity", "unit_price", "=X"),
        date_format="%Y-%m-%d",
    )
    lines = build_order_transaction(order(), layout, ",")
    assert lines[0] == "VENTE|ENTETE|WEB|lea@exemple.fr|1001|2001|2026-01-05|107,85"
    assert lines[1] == "VENTE|LIGNE|3760000100014|3|35,50|X"


def test_parse_is_the_inverse_and_unescapes_the_comment() -> None:
    parsed = parse_order_transaction(build_order_transaction(order(), FULL), FULL)
    assert parsed.comment == "Merci | à bientôt\r\nQuai n°3"
    assert parsed.lines[0].designation == "Chemise à col Claudine   édition"
    expected = order().model_copy(update={"comment": parsed.comment})
    assert parsed.model_dump(exclude={"lines"}) == expected.model_dump(exclude={"lines"})
    assert parsed.lines[1] == expected.lines[1]


def test_the_default_layout_does_not_carry_email_and_ean() -> None:
    parsed = parse_order_transaction(build_order_transaction(order(), LAYOUT), LAYOUT)
    assert parsed.email is None
    assert parsed.lines[0].ean13 == ""


def test_parse_refuses_totals_that_do_not_match_the_lines() -> None:
    lines = build_order_transaction(order(), LAYOUT)
    lines[0] = lines[0].replace("|107.85|", "|100.00|")
    with pytest.raises(ValueError, match="total amount"):
        parse_order_transaction(lines, LAYOUT)


def test_parse_refuses_another_keyword_or_a_wrong_field_count() -> None:
    lines = build_order_transaction(order(), LAYOUT)
    with pytest.raises(ValueError, match=r"expected a COMMANDE\|LIGNE"):
        parse_order_transaction([lines[0], "VENTE|LIGNE|x"], LAYOUT)
    with pytest.raises(ValueError, match="fields"):
        parse_order_transaction([lines[0] + "|extra", *lines[1:]], LAYOUT)


def test_a_line_needs_a_positive_quantity() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        FastmagOrderLine(reference="A", size="M", colour="NOIR", unit_price=Decimal(1), quantity=0)


plain_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="|\r\n\t"), max_size=20)
comment_text = st.text(max_size=40).filter(lambda t: "{PIPE}" not in t and "{CR}{LF}" not in t and "\r" not in t)
lines = st.builds(
    FastmagOrderLine,
    reference=plain_text.filter(bool),
    size=plain_text,
    colour=plain_text,
    designation=plain_text,
    ean13=st.text(alphabet="0123456789", max_size=13),
    unit_price=st.decimals(min_value=0, max_value=10_000, places=2),
    quantity=st.integers(1, 500),
    discount_rate=st.decimals(min_value=0, max_value=100, places=2),
)


@given(
    st.builds(
        FastmagOrder,
        external_reference=plain_text.filter(bool),
        customer_id=plain_text.filter(bool),
        store=plain_text.filter(bool),
        email=st.none() | plain_text.filter(bool),
        delivery_address_name=plain_text,
        order_date=st.dates(min_value=date(1000, 1, 1)),
        delivery_start=st.none() | st.dates(min_value=date(1000, 1, 1)),
        delivery_end=st.none() | st.dates(min_value=date(1000, 1, 1)),
        comment=comment_text,
        lines=st.lists(lines, min_size=1, max_size=4).map(tuple),
    ),
    st.sampled_from([",", "."]),
)
def test_build_then_parse_round_trips(built: FastmagOrder, separator: str) -> None:
    """Fields free of separators come back unchanged; a comment's LF comes back as CRLF."""
    parsed = parse_order_transaction(build_order_transaction(built, FULL, separator), FULL)  # type: ignore[arg-type]
    assert parsed.comment == built.comment.replace("\n", "\r\n").replace("\t", " ")
    assert parsed.model_copy(update={"comment": built.comment}) == built
