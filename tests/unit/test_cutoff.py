"""The go-live cut-off, pure: unset holds an applying run, `null` takes all, a date splits by placement time."""

from __future__ import annotations

import pytest

from connector.cutoff import HOLD_MESSAGE, hold_reason, placed_at, verdict
from connector.lenewblack.models import Order
from connector.settings import Settings, parse_settings


def rules(document: dict[str, object]) -> Settings:
    return parse_settings({"orders": document})


def order(**times: str) -> Order:
    return Order.model_validate({"reference": "LNB-1", **times})


def test_unset_holds_applying_runs_only_and_null_or_a_date_does_not() -> None:
    assert hold_reason(Settings().orders, preview=False) == HOLD_MESSAGE
    assert hold_reason(Settings().orders, preview=True) is None
    assert hold_reason(rules({"not_before": None}).orders, preview=False) is None
    assert hold_reason(rules({"not_before": "2026-01-01T00:00:00Z"}).orders, preview=False) is None


def test_an_unset_cutoff_survives_a_dump_and_a_null_one_stays_null() -> None:
    assert not parse_settings(Settings().model_dump(mode="json")).orders.cutoff_set
    explicit = rules({"not_before": None})
    assert parse_settings(explicit.model_dump(mode="json")).orders.cutoff_set


def test_a_cutoff_without_an_offset_is_refused() -> None:
    with pytest.raises(Exception, match="timezone"):
        rules({"not_before": "2026-01-01T00:00:00"})


@pytest.mark.parametrize(
    ("times", "ignored"),
    [
        ({"confirmation_time": "2026-02-28T23:59:59+01:00"}, True),
        ({"confirmation_time": "2026-03-01T00:00:00+01:00"}, False),
        ({"confirmation_time": "2026-02-28T23:00:00Z"}, False),  # the same instant as the cut-off
        # Confirmation wins over creation; creation is the fallback.
        ({"confirmation_time": "2026-03-02T10:00:00Z", "create_time": "2025-01-01T00:00:00Z"}, False),
        ({"create_time": "2026-02-01T10:00:00Z"}, True),
        ({"confirmation_time": "", "create_time": "2026-02-01T10:00:00"}, True),  # no offset: UTC
    ],
)
def test_placement_time_against_the_cutoff(times: dict[str, str], ignored: bool) -> None:
    decision = verdict(order(**times), rules({"not_before": "2026-03-01T00:00:00+01:00"}).orders)
    assert decision.ignore is ignored
    assert decision.take is not ignored


def test_no_readable_time_is_a_problem_with_a_cutoff_and_irrelevant_without() -> None:
    unreadable = order(create_time="soon")
    assert placed_at(unreadable) is None
    decision = verdict(unreadable, rules({"not_before": "2026-03-01T00:00:00+01:00"}).orders)
    assert not decision.take and not decision.ignore
    assert "cannot compare it with the go-live cut-off" in (decision.problem or "")
    assert verdict(unreadable, rules({"not_before": None}).orders).take
