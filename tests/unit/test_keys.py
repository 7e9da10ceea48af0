"""A key's history: the Logs Insights query it starts, how its answer is polled and read, and its bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from connector.errors import ConnectorError
from connector.keys import (
    LIMIT,
    MAX_DAYS,
    HistoryAnswer,
    InsightsHistory,
    InvalidKey,
    QueryStatus,
    bounded_since,
    history,
    insights_query,
    parse_results,
    searchable_key,
)
from connector.task_log import Outcome

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
GROUP = "/aws/lambda/connector"


def row(**fields: str) -> list[dict[str, str]]:
    return [{"field": name, "value": value} for name, value in fields.items()]


def test_the_query_filters_one_key_newest_first_and_is_bounded() -> None:
    query = insights_query("3760000100014", 200)
    assert query.splitlines() == [
        "fields @timestamp, flow, run_id, trigger, level, event, key, reason, what, old, new, http_status, "
        "lnb_status, fastmag_number",
        '| filter ispresent(event) and key = "3760000100014"',
        "| sort @timestamp desc",
        "| limit 200",
    ]


@pytest.mark.parametrize(
    ("key", "literal"),
    [
        ('A" or key like /./ or key = "', r'"A\" or key like /./ or key = \""'),
        ("back\\slash", r'"back\\slash"'),
        ('end\\"', r'"end\\\""'),
    ],
)
def test_no_key_can_end_the_string_literal(key: str, literal: str) -> None:
    assert f"key = {literal}\n" in insights_query(key)


@pytest.mark.parametrize("key", ["", "   ", "A\nB", "A\x00", "x" * 201])
def test_keys_no_record_can_have_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        searchable_key(key)


def test_a_key_is_searched_as_the_logs_hold_it() -> None:
    assert searchable_key(" jeanne.durand@example.fr ") == "j***@example.fr"


def test_since_is_bounded_to_the_last_days() -> None:
    assert bounded_since(None, NOW) == NOW - timedelta(days=MAX_DAYS)
    assert bounded_since(NOW - timedelta(days=400), NOW) == NOW - timedelta(days=MAX_DAYS)
    assert bounded_since(datetime(2026, 11, 29), NOW) == datetime(2026, 11, 29, tzinfo=UTC)


def test_results_become_events_and_rows_of_other_keys_are_dropped() -> None:
    rows = [
        row(
            **{"@timestamp": "2026-11-30 10:00:00.123", "@ptr": "x"},
            flow="stock",
            run_id="stock-1",
            level="INFO",
            event="record.sent",
            key="3760000100014",
            old="4",
            new="0",
            http_status="200",
        ),
        row(
            **{"@timestamp": "2026-11-29 09:00:00.000"},
            flow="products",
            run_id="products-1",
            level="WARNING",
            event="record.incomplete",
            key="3760000100014",
            reason="no EAN13",
            what="Robe Élise",
        ),
        row(**{"@timestamp": "2026-11-29 08:00:00.000"}, event="record.sent", key="another"),
    ]
    events = parse_results("3760000100014", rows)
    assert [(e.at, e.flow, e.run_id, e.outcome) for e in events] == [
        ("2026-11-30T10:00:00.123+00:00", "stock", "stock-1", Outcome.SENT),
        ("2026-11-29T09:00:00.000+00:00", "products", "products-1", Outcome.WARNED),
    ]
    assert (events[0].old, events[0].new, events[0].detail) == (4, 0, {"http_status": 200})
    assert (events[1].reason, events[1].what, events[1].old) == ("no EAN13", "Robe Élise", None)


def test_insights_history_starts_a_bounded_query_and_polls_it() -> None:
    logs = boto3.client("logs", region_name="eu-west-3")
    source = InsightsHistory(logs, GROUP, clock=lambda: NOW)
    since = NOW - timedelta(days=2)
    with Stubber(logs) as stub:
        stub.add_response(
            "start_query",
            {"queryId": "q-1"},
            {
                "logGroupNames": [GROUP],
                "startTime": int(since.timestamp()),
                "endTime": int(NOW.timestamp()),
                "queryString": insights_query("3760000100014"),
                "limit": LIMIT,
            },
        )
        stub.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "q-1"})
        stub.add_response(
            "get_query_results",
            {
                "status": "Complete",
                "results": [row(**{"@timestamp": "2026-11-30 10:00:00.000"}, event="record.sent", key="3760000100014")],
            },
            {"queryId": "q-1"},
        )
        stub.add_response("get_query_results", {"status": "Timeout", "results": []}, {"queryId": "q-2"})
        assert source.start("3760000100014", since) == HistoryAnswer(status=QueryStatus.RUNNING, query_id="q-1")
        assert source.poll("3760000100014", "q-1").status == QueryStatus.RUNNING
        done = source.poll("3760000100014", "q-1")
        assert (done.status, [e.event for e in done.events]) == (QueryStatus.COMPLETE, ["record.sent"])
        failed = source.poll("3760000100014", "q-2")
        assert failed.status == QueryStatus.FAILED
        assert failed.message is not None and "Timeout" in failed.message
        stub.assert_no_pending_responses()


class Slow:
    """A source whose query stays running for `polls` polls."""

    def __init__(self, polls: int) -> None:
        self.polls = polls

    def start(self, key: str, since: datetime) -> HistoryAnswer:
        return HistoryAnswer(status=QueryStatus.RUNNING, query_id="q")

    def poll(self, key: str, query_id: str) -> HistoryAnswer:
        self.polls -= 1
        if self.polls > 0:
            return HistoryAnswer(status=QueryStatus.RUNNING, query_id=query_id)
        return HistoryAnswer(status=QueryStatus.COMPLETE, query_id=query_id)


def test_history_waits_for_the_answer_but_not_forever() -> None:
    slept: list[float] = []
    assert history("K", None, Slow(3), sleep=slept.append) == []
    assert len(slept) == 3
    with pytest.raises(ConnectorError, match="took more than"):
        history("K", None, Slow(100), wait_seconds=5, sleep=lambda _: None)


def test_history_raises_what_a_failed_query_said() -> None:
    class Failing(Slow):
        def poll(self, key: str, query_id: str) -> HistoryAnswer:
            return HistoryAnswer(status=QueryStatus.FAILED, query_id=query_id, message="the query ended Cancelled")

    with pytest.raises(ConnectorError, match="Cancelled"):
        history("K", None, Failing(1), sleep=lambda _: None)
