"""Catalogue, customers and stock through their real handlers whatever quoting Fastmag's answers use, with the
default `fastmag.wire.quoting` (auto): what reaches Le New Black is what Fastmag holds."""

from __future__ import annotations

import pytest

from sandbox.fastmag_sim import AnswerQuoting
from sandbox.stack import LocalStack
from tests.integration.flows import run_flow
from tests.integration.test_products import catalogue
from tests.integration.test_stock import expected_quantities, lnb_stock

JEAN = 'Jean Brut Délavé 32"'
ADDRESS = "12, rue de l'Église\r\nBâtiment A"
# Raw and sprinkled answers cannot carry a line break: the simulator writes a space for each character.
FLATTENED_ADDRESS = "12, rue de l'Église  Bâtiment A"


@pytest.mark.parametrize("shape", ["quoted", "sprinkled", "raw"])
def test_a_quoted_name_and_a_two_line_address_reach_lnb_as_fastmag_holds_them(
    stack: LocalStack, shape: AnswerQuoting
) -> None:
    stack.fastmag.switches.answer_quoting = shape
    expected_catalogue = catalogue(stack.seed)
    reference = next(iter(expected_catalogue))
    stack.fastmag.execute("UPDATE produitsfiches SET designation = ? WHERE barcode = ?", (JEAN, reference))
    customer = stack.seed.retailers()[0]
    stack.fastmag.execute("UPDATE clients SET Adresse1 = ? WHERE Client = ?", (ADDRESS, customer.Client))

    products = run_flow(stack, "products")
    assert products["status"] == "partial"  # as on every shape: the seed's variant without colour is skipped
    assert set(stack.lnb.products) == set(expected_catalogue)
    assert stack.lnb.products[reference]["name"].encode() == JEAN.encode()

    customers = run_flow(stack, "customers")
    assert customers["status"] == "succeeded"
    assert customers["counters"]["accepted"] == len(stack.seed.retailers())
    assert set(stack.lnb.retailers) == {str(c.Client) for c in stack.seed.retailers()}  # no phantom customer
    main = stack.lnb.retailers[str(customer.Client)]["store_address"]
    assert main["address_1"] == (ADDRESS if shape == "quoted" else FLATTENED_ADDRESS)
    assert main["zipcode"] == customer.codepostal  # the columns after the address are not shifted

    stock = run_flow(stack, "stock")
    assert stock["status"] == "partial"  # the seed's bad rows are skipped, with reasons
    assert lnb_stock(stack) == expected_quantities(stack.seed)
