"""Nothing raises out of a flow: garbage rows in the Fastmag simulator's tables (and garbage orders in Le New
Black) end each run as succeeded or partial, every bad item skipped, rejected or blocked with a reason in the
task log, and the good items still delivered."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.seed import build_seed
from sandbox.stack import LocalStack
from tests.conftest import TaskLog
from tests.integration.conftest import NO_WAIT
from tests.integration.flows import FLOWS, run_flow, target_state

HUGE = "Très long " * 20_000
# Values a broken or hand-edited Fastmag record may hold, for text and number columns alike.
GARBAGE: list[Any] = [
    None,
    "",
    "   ",
    HUGE,
    "€ emoji 🙂 and 漢字 not in cp1252",
    "quo\"te 'single' back\\slash",
    "pipe|semi;colon,comma",
    "../../etc/passwd",
    "NaN",
    "1e999",
    "-12,5",
    "abc",
    -5,
    10**15,
    1e308,
    "0000-00-00",
]


def small_stack() -> LocalStack:
    stack = LocalStack(build_seed(models=8, retailers=6), settings_document=NO_WAIT, orders=3)
    stack.fastmag.switches.photos_per_colour = 1
    return stack


def insert_garbage(stack: LocalStack, flow: str) -> None:
    execute = stack.fastmag.execute
    for number, value in enumerate(GARBAGE):
        reference = f"GARBAGE{number}" if number % 2 else value
        execute(
            "INSERT INTO produitsfiches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (reference, value, value, value, value, value, value, "PE26", value, value, value, 1),
        )
        execute(
            "INSERT INTO produits (barcode, couleur, taille, gencod, ordretaille) VALUES (?, ?, ?, ?, ?)",
            (reference, value, value, value, value),
        )
        execute(
            "INSERT INTO produits (barcode, couleur, taille, gencod, ordretaille) VALUES (?, 'NOIR', 'M', ?, 1)",
            (reference, value),
        )
        for store in ("CENTRAL", "WEB"):
            execute(
                "INSERT INTO stock (barcode, couleur, taille, codemag, stock, AR) VALUES (?, ?, ?, ?, ?, 1)",
                (reference, value, value, store, value),
            )
            execute(
                "INSERT INTO stock (barcode, couleur, taille, codemag, stock, AR) VALUES (?, 'NOIR', 'M', ?, ?, 1)",
                (reference, store, value),
            )
        for tariff in ("GROS", "PVC"):
            execute("INSERT INTO tarifs VALUES (?, ?, ?, ?, ?)", (reference, tariff, value, value, value))
            execute("INSERT INTO tarifs VALUES (?, ?, '', '', ?)", (reference, tariff, value))
        execute(
            "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                90_000 + number,
                value,
                value,
                value,
                value,
                value or "Société",
                value,
                value,
                value,
                value,
                value,
                value,
                value,
                value,
                value,
                value,
            ),
        )
        execute(
            "INSERT INTO clientadresse VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (90_000 + number, value, value, value, value, value, value, value, value),
        )
    if flow == "orders":
        template = copy.deepcopy(next(iter(stack.lnb.orders.values())))
        good_item = template["items"][0]
        broken_items = [
            {**good_item, "quantity": -3},
            {**good_item, "quantity": 10**12},
            {**good_item, "quantity": "beaucoup"},
            {**good_item, "ean13": "12345"},
            {**good_item, "unit_price": "NaN"},
            {"name": HUGE},
            {},
        ]
        for number, item in enumerate(broken_items):
            stack.lnb.add_order({**template, "reference": f"B2B-GARBAGE-{number}", "items": [item]})
        stack.lnb.add_order({"reference": "B2B-GARBAGE-EMPTY"})
        stack.lnb.add_order({**template, "reference": "B2B-GARBAGE-RETAILER", "retailer_reference": HUGE})
        stack.lnb.add_order({**template, "reference": "B2B-" + "X" * 3000})


@pytest.mark.parametrize("flow", FLOWS)
def test_garbage_rows_end_the_run_with_reasons_not_a_failure(flow: str, task_log: TaskLog) -> None:
    # One stack at a time: moto's state is per process.
    with small_stack() as clean:
        run_flow(clean, flow)
        delivered = target_state(clean, flow)
    with small_stack() as small:
        insert_garbage(small, flow)
        result = run_flow(small, flow)
        after = target_state(small, flow)

    assert result["status"] in {"succeeded", "partial"}, result.get("message")
    assert "raised" not in result
    lines = [line for line in task_log.lines if line.get("run_id") == result["run_id"]]
    problems = [line for line in lines if line.get("event") in {"record.skipped", "record.rejected", "order.blocked"}]
    assert problems, "the garbage was reported"
    assert all(str(line.get("reason") or "").strip() for line in problems)
    counters = result["counters"]
    assert len(problems) >= counters["skipped"] + counters["rejected"]
    assert all(answer.get("reason") for answer in result.get("uploads", []) if answer["event"] != "record.sent")
    # The good items went through as on a clean stack.
    if flow == "orders":
        assert set(delivered[0]) <= set(after[0])
    elif isinstance(delivered, tuple):
        for clean_part, part in zip(delivered, after, strict=True):
            assert clean_part.items() <= part.items()
    else:
        assert delivered.items() <= after.items()
