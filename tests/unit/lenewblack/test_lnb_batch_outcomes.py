"""Which batch item each result of a `/multi` answer is about: matched by the key a success carries, on
hand-written answers (missing, reordered, foreign, duplicate and keyless results)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.lenewblack.models import BATCH_KEYS, ItemOutcome
from connector.lenewblack.wire import parse_batch_response

Item = dict[str, Any]


def ok(result: Item | None) -> Item:
    return {"status": "success", "errors": [], "result": result}


def error(message: str = "refused") -> Item:
    return {"status": "error", "errors": {"field": [message]}, "result": None}


def parse(resource: str, items: list[Item], data: list[Any], **options: Any) -> list[ItemOutcome]:
    return parse_batch_response({"data": data}, items, 200, BATCH_KEYS[resource], **options)


def accepted(outcomes: list[ItemOutcome]) -> list[bool]:
    return [outcome.accepted for outcome in outcomes]


PRICE = {"price_list_code": "WHOLESALE-EUR", "product_model": "M1", "fabric_code": "RED", "wholesale_price": 10}
# One item per resource, and a second one differing only in one of its key fields.
KEY_SHAPES: dict[str, tuple[Item, Item]] = {
    "inventory/ean": ({"ean13": "3700000000001", "in_stock": 1}, {"ean13": "3700000000002", "in_stock": 1}),
    "inventory/sku": ({"sku": "M1-RED-S", "in_stock": 1}, {"sku": "M1-RED-M", "in_stock": 1}),
    "products": ({"model": "M1", "name": "a"}, {"model": "M2", "name": "a"}),
    "fabrics": ({"code": "RED", "name": "a"}, {"code": "BLUE", "name": "a"}),
    "retailers": ({"reference": "C1", "name": "a"}, {"reference": "C2", "name": "a"}),
    "prices": (PRICE, {**PRICE, "price_list_code": "RETAIL-EUR"}),
    "prices_by_size": ({**PRICE, "size_name": "S"}, {**PRICE, "size_name": "M"}),
}


@pytest.mark.parametrize("resource", sorted(KEY_SHAPES))
def test_every_resource_is_matched_by_its_own_key_whatever_the_order(resource: str) -> None:
    first, second = KEY_SHAPES[resource]
    # Reversed, and each success echoes the saved object (the item plus what LNB adds).
    data = [ok({**second, "id": 2}), ok({**first, "id": 1})]
    outcomes = parse(resource, [first, second], data)
    assert accepted(outcomes) == [True, True]
    assert [outcome.result["id"] for outcome in outcomes if outcome.result] == [1, 2]


@pytest.mark.parametrize("resource", sorted(KEY_SHAPES))
def test_a_success_naming_another_item_of_another_key_field_value_does_not_count(resource: str) -> None:
    first, second = KEY_SHAPES[resource]
    outcomes = parse(resource, [first], [ok(second)])
    assert accepted(outcomes) == [False]
    assert not outcomes[0].attributable


def test_an_ean_echoed_as_a_number_still_names_its_item() -> None:
    outcomes = parse("inventory/ean", [{"ean13": "3700000000001", "in_stock": 1}], [ok({"ean13": 3700000000001})])
    assert accepted(outcomes) == [True]


def test_a_price_period_is_part_of_the_key_only_when_the_item_sends_one() -> None:
    with_period = {**PRICE, "price_period_code": "P1"}
    # LNB may fill a default period on an item sent without one: the match must not depend on it.
    outcomes = parse("prices", [PRICE, with_period], [ok({**PRICE, "price_period_code": "DEFAULT"}), ok(with_period)])
    assert accepted(outcomes) == [True, True]
    wrong_period = parse("prices", [with_period], [ok({**PRICE, "price_period_code": "P2"})])
    assert accepted(wrong_period) == [False]


def test_a_result_missing_in_the_middle_accepts_the_named_and_reports_the_rest() -> None:
    items = [{"code": code, "name": code} for code in "ABCDE"]
    # C's result is missing; B was refused: with one result short, the error cannot be placed.
    data = [ok({"code": "A"}), error(), ok({"code": "D"}), ok({"code": "E"})]
    outcomes = parse("fabrics", items, data)
    assert accepted(outcomes) == [True, False, False, True, True]
    for index in (1, 2):
        assert not outcomes[index].attributable
        assert outcomes[index].reason.startswith("outcome not attributable: the batch answer has 4 result(s) for 5")


def test_reordered_results_keep_successes_but_cannot_place_errors() -> None:
    items = [{"model": model, "name": model} for model in ("M1", "M2", "M3")]
    # Reversed: M2's error sits at M2's position by chance, but M3's success sits at M1's position.
    outcomes = parse("products", items, [ok({"model": "M3"}), error("bad size"), ok({"model": "M1"})])
    assert accepted(outcomes) == [True, False, True]
    assert not outcomes[1].attributable
    assert "out of the request's order" in outcomes[1].reason


def test_errors_are_placed_by_position_when_every_success_sits_at_its_own() -> None:
    items = [{"model": model, "name": model} for model in ("M1", "M2", "M3")]
    outcomes = parse("products", items, [ok({"model": "M1"}), error("bad size"), ok({"model": "M3"})])
    assert accepted(outcomes) == [True, False, True]
    assert outcomes[1].attributable
    assert outcomes[1].reason == "field: bad size"


def test_an_answer_of_errors_only_is_placed_by_position_when_counts_match() -> None:
    items = [{"reference": ref, "name": ref} for ref in ("C1", "C2")]
    outcomes = parse("retailers", items, [error("one"), error("two")])
    assert [(o.accepted, o.reason) for o in outcomes] == [(False, "field: one"), (False, "field: two")]
    short = parse("retailers", items, [error("one")])
    assert [(o.accepted, o.attributable) for o in short] == [(False, False), (False, False)]


def test_a_success_carrying_another_batch_items_key_accepts_that_item_only() -> None:
    items = [{"code": "A", "name": "a"}, {"code": "B", "name": "b"}]
    # Position 0 says "B saved", position 1 is an error: A's fate is unknown, B is saved.
    outcomes = parse("fabrics", items, [ok({"code": "B"}), error()])
    assert accepted(outcomes) == [False, True]
    assert not outcomes[0].attributable


def test_a_success_naming_no_item_of_the_batch_stops_placing_errors() -> None:
    items = [{"code": "A", "name": "a"}, {"code": "B", "name": "b"}]
    outcomes = parse("fabrics", items, [ok({"code": "Z"}), error()])
    assert accepted(outcomes) == [False, False]
    assert [o.attributable for o in outcomes] == [False, False]


def test_duplicate_keys_in_one_batch() -> None:
    items = [{"code": "A", "name": "first"}, {"code": "B", "name": "b"}, {"code": "A", "name": "second"}]
    # In order: each success at its own position accepts its own item.
    assert accepted(parse("fabrics", items, [ok({"code": "A"}), error(), ok({"code": "A"})])) == [True, False, True]
    # One success for A away from both A's positions: which A it means is unknown, so neither is accepted.
    ambiguous = parse("fabrics", items, [ok({"code": "B"}), ok({"code": "A"})])
    assert accepted(ambiguous) == [False, True, False]
    # Two successes for A, one at its own position: the other names the only A left; B's names B.
    both = parse("fabrics", items, [ok({"code": "A"}), ok({"code": "A"}), ok({"code": "B"})])
    assert accepted(both) == [True, True, True]
    # The same success repeated never accepts an item twice nor a third item.
    repeated = parse("fabrics", items[:2], [ok({"code": "A"}), ok({"code": "A"})])
    assert accepted(repeated) == [True, False]


def test_an_item_without_its_key_is_never_accepted_by_a_key() -> None:
    outcomes = parse("products", [{"name": "no model"}], [ok({"model": "M1"})])
    assert accepted(outcomes) == [False]


def test_a_success_without_any_key_is_resent_by_default() -> None:
    items = [{"code": "A", "name": "a"}, {"code": "B", "name": "b"}]
    outcomes = parse("fabrics", items, [ok(None), ok({"name": "b"})])
    assert accepted(outcomes) == [False, False]
    assert all("without naming the item" in o.reason for o in outcomes)


def test_a_success_without_any_key_is_placed_by_position_only_when_the_answer_is_in_order() -> None:
    items = [{"code": "A", "name": "a"}, {"code": "B", "name": "b"}, {"code": "C", "name": "c"}]
    in_order = parse("fabrics", items, [ok(None), error(), ok({"code": "C"})], without_key="by_position")
    assert accepted(in_order) == [True, False, True]
    # A keyed success away from its position shows the order is not the request's: nothing keyless counts.
    out_of_order = parse("fabrics", items, [ok(None), ok({"code": "C"}), error()], without_key="by_position")
    assert accepted(out_of_order) == [False, False, True]
    short = parse("fabrics", items, [ok(None), ok(None)], without_key="by_position")
    assert accepted(short) == [False, False, False]


@given(
    st.lists(st.sampled_from("ABCD"), min_size=1, max_size=6),
    st.data(),
)
def test_no_refused_or_unnamed_item_is_ever_accepted(codes: list[str], data: st.DataObject) -> None:
    """Whatever LNB saved and however it shaped its answer (dropped, duplicated, shuffled), an item is accepted
    only if a success names its key, and an item LNB refused under a key is never accepted under that key."""
    items = [{"code": code, "name": str(position)} for position, code in enumerate(codes)]
    refused = data.draw(st.sets(st.sampled_from(sorted(set(codes)))))
    answer = [error() if item["code"] in refused else ok({"code": item["code"]}) for item in items]
    answer = data.draw(st.permutations(answer))
    answer = answer[: data.draw(st.integers(0, len(answer)))]
    outcomes = parse("fabrics", items, answer)
    assert [o.index for o in outcomes] == list(range(len(items)))
    for item, outcome in zip(items, outcomes, strict=True):
        if outcome.accepted:
            assert item["code"] not in refused
    successes = sum(1 for entry in answer if entry["status"] == "success")
    assert sum(accepted(outcomes)) <= successes


# --- the in-order reading (one result per item, each success naming its own) against the general matching ------

KEY_VALUES = st.sampled_from(["M1", "M2", " M1", "M1 ", "", "  ", 7, True, None])


@st.composite
def price_items(draw: st.DrawFn) -> Item:
    """A `prices` item whose key fields may be missing, blank, padded, numbers or booleans."""
    item: Item = {"wholesale_price": 10}
    for name in ("price_list_code", "product_model", "fabric_code", "price_period_code"):
        if draw(st.booleans()) or name != "price_period_code":
            value = draw(KEY_VALUES)
            if value is not None or draw(st.booleans()):
                item[name] = value
    return item


@st.composite
def answers_in_order(draw: st.DrawFn, items: list[Item]) -> list[Any]:
    """One result per item: mostly the item's own echo, sometimes another item's, a changed key, a bare
    success, an error, a status spelt otherwise, or no object at all."""
    data: list[Any] = []
    for item in items:
        kind = draw(st.sampled_from(["own", "own", "own", "other", "changed", "keyless", "error", "odd", "junk"]))
        if kind == "own":
            data.append(ok({**item, "id": 1}))
        elif kind == "other":
            data.append(ok(dict(draw(st.sampled_from(items)))))
        elif kind == "changed":
            # One of the fields the item sends (its period, when it sends one, most often), or any key field.
            name = draw(st.sampled_from([*item, "price_period_code", "price_period_code", "product_model"]))
            data.append(ok({**item, name: draw(KEY_VALUES)}))
        elif kind == "keyless":
            data.append(ok(draw(st.sampled_from([None, {}, {"wholesale_price": 10}]))))
        elif kind == "error":
            data.append(error())
        elif kind == "odd":
            data.append({"status": draw(st.sampled_from([" Success ", "SUCCESS", "ok"])), "result": dict(item)})
        else:
            data.append(draw(st.sampled_from([None, "saved", 1, {"success": True, "result": dict(item)}])))
    return data


@settings(max_examples=400, deadline=None)  # a loaded machine can stall one example past 200 ms
@given(st.lists(price_items(), min_size=1, max_size=6), st.data(), st.sampled_from(["resend", "by_position"]))
def test_an_answer_in_request_order_is_read_as_the_general_matching_reads_it(
    items: list[Item], data: st.DataObject, without_key: str
) -> None:
    from connector.lenewblack.wire import _matched_outcomes

    answer = data.draw(answers_in_order(items))
    key = BATCH_KEYS["prices"]
    fast = parse_batch_response({"data": answer}, items, 200, key, without_key)  # type: ignore[arg-type]
    general = _matched_outcomes(answer, items, 200, key, without_key)  # type: ignore[arg-type]
    assert fast == general


def test_a_full_batch_echoed_in_order_accepts_every_item() -> None:
    items = [{**PRICE, "size_name": str(size)} for size in range(100)]
    outcomes = parse("prices_by_size", items, [ok({**item, "id": index}) for index, item in enumerate(items)])
    assert accepted(outcomes) == [True] * 100
    assert [outcome.result["id"] for outcome in outcomes if outcome.result] == list(range(100))
