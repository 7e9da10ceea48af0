"""Order writes: nothing lost, nothing twice (fastmag-api.md §3.4, "What this means" §6–7)."""

from __future__ import annotations

import socket
from datetime import date
from decimal import Decimal

import pytest

from connector.errors import FastmagError, FastmagNotSent, FastmagOutcomeUnknown, FastmagPartialWrite
from connector.fastmag.models import FastmagOrder, FastmagOrderLine
from connector.fastmag.queries import ORDERS_BY_REFERENCE
from connector.fastmag.sql import render
from connector.fastmag.transaction import OrderTransactionLayout, build_order_transaction
from connector.settings import FastmagQueries
from sandbox.fastmag_sim import FastmagSimulator
from sandbox.seed import Seed
from tests.integration.fastmag.conftest import MakeClient

pytestmark = pytest.mark.integration

LAYOUT = OrderTransactionLayout()


def an_order(seed: Seed, reference: str = "1001", customer: str | None = None, comment: str = "") -> FastmagOrder:
    variants = seed.good_variants()[:2]
    return FastmagOrder(
        external_reference=reference,
        customer_id=customer or str(seed.retailers()[0].Client),
        store="CENTRAL",
        delivery_address_name="PRINCIPALE",
        order_date=date(2026, 1, 5),
        comment=comment,
        lines=tuple(
            FastmagOrderLine(
                reference=v.barcode,
                size=v.taille,
                colour=v.couleur,
                designation="Chemise à col Claudine",
                unit_price=Decimal("35.50"),
                quantity=position + 1,
                discount_rate=Decimal(10),
            )
            for position, v in enumerate(variants)
        ),
    )


def test_an_order_is_stored_with_its_lines_and_unescaped_comment(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    order = an_order(seed, comment="Merci | à bientôt\nQuai n°3")
    result = make_client().write(build_order_transaction(order, LAYOUT))
    (stored,) = sim.orders()
    assert result.ok
    assert result.number == str(stored["Commande"])
    assert stored["RefExterne"] == "1001"
    assert stored["Client"] == order.customer_id
    assert stored["Commentaire"] == "Merci | à bientôt\r\nQuai n°3"
    assert stored["MontantTotal"] == float(order.total_amount)
    assert stored["QteTotale"] == 3
    assert [(line["Reference"], line["Quantite"]) for line in stored["lines"]] == [
        (line.reference, line.quantity) for line in order.lines
    ]
    assert sim.calls["write"] == 1


def test_dropped_connection_after_commit_is_an_unknown_outcome_and_the_order_exists(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    client = make_client()
    order = an_order(seed)
    sim.drop_after_commit()
    with pytest.raises(FastmagOutcomeUnknown):
        client.write(build_order_transaction(order, LAYOUT))
    assert sim.calls["write"] == 1  # never retried
    (stored,) = sim.orders()
    # So the caller looks it up by external reference instead of sending it again.
    found = client.query(render(FastmagQueries().orders_by_reference, references=["1001"]))
    assert found == [
        {
            "external_reference": "1001",
            "fastmag_number": str(stored["Commande"]),
            "line_count": str(len(stored["lines"])),
        }
    ]


def test_a_5xx_on_write_is_not_retried(make_client: MakeClient, sim: FastmagSimulator, seed: Seed) -> None:
    sim.fail_next(503, times=1)
    with pytest.raises(FastmagOutcomeUnknown, match="neither OK nor KO"):
        make_client(read_retries=5).write(build_order_transaction(an_order(seed), LAYOUT))
    assert sim.calls["write"] == 1
    assert sim.orders() == []


def test_ko_on_write_is_an_error_with_the_remote_message(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    sim.ko_next_write("Stock insuffisant")
    with pytest.raises(FastmagError) as refused:
        make_client().write(build_order_transaction(an_order(seed), LAYOUT))
    assert not isinstance(refused.value, FastmagOutcomeUnknown)
    assert refused.value.remote_message == "Stock insuffisant"
    assert sim.orders() == []


def test_unknown_customer_is_refused(make_client: MakeClient, sim: FastmagSimulator, seed: Seed) -> None:
    with pytest.raises(FastmagError) as refused:
        make_client().write(build_order_transaction(an_order(seed, customer="999999"), LAYOUT))
    assert refused.value.remote_message == "Client inconnu : 999999"
    assert sim.orders() == []


def test_unknown_transaction_keyword(make_client: MakeClient) -> None:
    with pytest.raises(FastmagError) as refused:
        make_client().write(["RESERVATION|ENTETE|x"])
    assert refused.value.remote_message == "Transaction inconnue : RESERVATION"


def test_one_transaction_per_call_posts_each_line_and_keeps_the_header_number(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    order = an_order(seed)
    result = make_client(transactions_per_call="one").write(build_order_transaction(order, LAYOUT))
    (stored,) = sim.orders()
    assert result.number == str(stored["Commande"])
    assert sim.calls["write"] == 1 + len(order.lines)
    assert len(stored["lines"]) == len(order.lines)
    assert stored["QteTotale"] == order.total_quantity


def test_one_per_call_refused_first_line_means_nothing_written(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    with pytest.raises(FastmagError) as refused:
        make_client(transactions_per_call="one").write(
            build_order_transaction(an_order(seed, customer="999999"), LAYOUT)
        )
    assert not isinstance(refused.value, FastmagOutcomeUnknown)
    assert sim.calls["write"] == 1


def test_one_per_call_refusal_after_the_header_is_a_partial_write(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    lines = build_order_transaction(an_order(seed), LAYOUT)
    lines[1] = lines[1].replace("|1001|", "|9999|", 1)  # a line naming an order Fastmag does not have
    with pytest.raises(FastmagPartialWrite, match="line 2 of 3") as partial:
        make_client(transactions_per_call="one").write(lines)
    assert (partial.value.accepted, partial.value.total) == (1, 3)
    assert len(sim.orders()) == 1  # the header is in Fastmag: a partial order, never taken for a whole one
    lookup = render(FastmagQueries().orders_by_reference, references=["1001"])
    (found,) = make_client().query(lookup, contract=ORDERS_BY_REFERENCE)
    assert found["line_count"] == "0"  # and the lookup shows it holds none of the order's lines


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_is_a_write_that_never_left(make_client: MakeClient, seed: Seed) -> None:
    client = make_client()
    client._base = f"http://127.0.0.1:{_closed_port()}"  # nobody listens: the connection is refused
    with pytest.raises(FastmagNotSent):
        client.write(build_order_transaction(an_order(seed), LAYOUT))


def test_a_read_timeout_after_the_body_is_an_unknown_outcome_even_if_stored_later(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    hold = sim.hold_next_write()
    with pytest.raises(FastmagOutcomeUnknown) as unknown:
        make_client(read_timeout_seconds=0.2).write(build_order_transaction(an_order(seed), LAYOUT))
    assert not isinstance(unknown.value, FastmagNotSent)
    hold.release_and_wait()
    assert len(sim.orders()) == 1  # stored after the client gave up


def test_503_after_storing_is_an_unknown_outcome(make_client: MakeClient, sim: FastmagSimulator, seed: Seed) -> None:
    sim.faults.fail_after_commit = 1
    with pytest.raises(FastmagOutcomeUnknown):
        make_client().write(build_order_transaction(an_order(seed), LAYOUT))
    assert len(sim.orders()) == 1


def test_characters_outside_the_charset_are_replaced_and_reported(
    make_client: MakeClient, sim: FastmagSimulator, seed: Seed
) -> None:
    result = make_client().write(build_order_transaction(an_order(seed, comment="Zoë ★ Łódź"), LAYOUT))
    assert result.replaced == ("★", "Ł", "ź")
    assert sim.orders()[0]["Commentaire"] == "Zoë ? ?ódz"


def test_a_line_break_inside_a_transaction_is_refused_before_sending(make_client: MakeClient) -> None:
    with pytest.raises(ValueError, match="line break"):
        make_client().write(["COMMANDE|ENTETE|a\r\nCOMMANDE|LIGNE|b"])
