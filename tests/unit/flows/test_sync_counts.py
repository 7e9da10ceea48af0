"""A push's counters stay exact while `sent` and re-sent `accepted` are added a batch's worth at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.flows.context import FlowContext
from connector.flows.sync import Outgoing, SyncResult, _send
from connector.lenewblack.models import ItemOutcome
from connector.state import Snapshot
from tests.properties import examples


class CountingRun:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.records: list[str] = []

    def count(self, counter: str, n: int = 1) -> None:
        self.counts[counter] += n

    def accepted(self, key: str, **fields: Any) -> None:
        self.count("accepted")
        self.records.append(key)

    def rejected(self, key: str, reason: str, **fields: Any) -> None:
        self.count("rejected")


class AnsweringLnb:
    def __init__(self, accepted: Sequence[bool]) -> None:
        self.accepted = accepted

    def send_batches(self, resource: str, payloads: Iterable[Any]) -> Iterator[tuple[int, ItemOutcome]]:
        for index, _ in enumerate(payloads):
            yield index, ItemOutcome(index=index, accepted=self.accepted[index], http_status=200)


def push(run: CountingRun, outcomes: list[tuple[bool, bool]], explain: Any = None) -> SyncResult:
    """`_send` of one item per (accepted by LNB, already held by LNB as sent) pair."""
    items = [Outgoing(f"K{index}", {"price": index}) for index in range(len(outcomes))]
    held = {item.key: item.digest for item, (_, is_held) in zip(items, outcomes, strict=True) if is_held}
    ctx = cast(FlowContext, type("Ctx", (), {"run": run, "lnb": AnsweringLnb([ok for ok, _ in outcomes])})())
    result = SyncResult(len(items))
    _send(ctx, "prices", items, Snapshot("prices", held), result, explain=explain, resend=None)
    return result


outcome_lists = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=350)


@given(outcome_lists)
def test_every_item_is_counted_once_as_sent_and_once_by_its_outcome(outcomes: list[tuple[bool, bool]]) -> None:
    run = CountingRun()
    result = push(run, outcomes)
    assert run.counts["sent"] == len(outcomes)
    assert run.counts["accepted"] == result.accepted == sum(ok for ok, _ in outcomes)
    assert run.counts["rejected"] == sum(not ok for ok, _ in outcomes)
    # Only what LNB did not already hold is logged record by record.
    assert len(run.records) == sum(ok and not held for ok, held in outcomes)


@given(outcome_lists.filter(lambda outcomes: not all(ok for ok, _ in outcomes)))
def test_what_was_counted_before_a_callback_failed_is_kept(outcomes: list[tuple[bool, bool]]) -> None:
    def explain(item: Outgoing, outcome: ItemOutcome) -> str:
        raise RuntimeError("explain failed")

    run = CountingRun()
    with pytest.raises(RuntimeError):
        push(run, outcomes, explain)
    failing = next(index for index, (ok, _) in enumerate(outcomes) if not ok)
    assert run.counts["sent"] == failing + 1  # the items before the failure, and the one being recorded
    assert run.counts["accepted"] == failing


@given(outcome_lists, st.integers(0, 400))
@examples(200)
def test_items_made_as_they_are_sent_are_each_counted_once_even_when_the_making_fails(
    outcomes: list[tuple[bool, bool]], failing_at: int
) -> None:
    items = [Outgoing(f"K{index}", {"price": index}) for index in range(len(outcomes))]

    def made() -> Iterator[Outgoing]:
        for index, item in enumerate(items):
            if index == failing_at:
                raise RuntimeError("mapping failed")
            yield item

    run = CountingRun()
    ctx = cast(FlowContext, type("Ctx", (), {"run": run, "lnb": AnsweringLnb([ok for ok, _ in outcomes])})())
    snapshot = Snapshot("prices")
    result = SyncResult()
    if failing_at < len(items):
        with pytest.raises(RuntimeError, match="mapping failed"):
            _send(ctx, "prices", made(), snapshot, result, explain=None, resend=None)
    else:
        _send(ctx, "prices", made(), snapshot, result, explain=None, resend=None)
    answered = min(failing_at, len(items))
    assert run.counts["sent"] == answered
    assert run.counts["accepted"] == result.accepted == sum(ok for ok, _ in outcomes[:answered])
    # The snapshot moves for what LNB accepted, and for nothing that was not made and sent.
    assert dict(snapshot.entries) == {
        item.key: item.digest for item, (ok, _) in zip(items[:answered], outcomes, strict=False) if ok
    }
