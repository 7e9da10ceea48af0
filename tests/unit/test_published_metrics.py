"""Only the custom metrics an alarm or the dashboard reads are published (each is billed by the hour)."""

from __future__ import annotations

import json
import re

import pytest

from connector.counters import Counters
from connector.flows.readiness_report import METRIC as READINESS_METRIC
from connector.observability import metrics
from connector.runner import HEARTBEAT_METRIC, PUBLISHED_COUNTERS, _log_finished
from connector.runs import RunRecord, RunStatus
from sandbox.template import load_template, resources_of_type


def metric_names_read_by_the_template() -> set[str]:
    template = load_template()
    names = set(re.findall(r'"MetricName": "([a-z_]+)"', json.dumps(template)))
    for dashboard in resources_of_type(template, "AWS::CloudWatch::Dashboard").values():
        body = dashboard["Properties"]["DashboardBody"]
        text = body["Fn::Sub"] if isinstance(body, dict) else body
        names |= set(re.findall(r'MetricName=\\"([a-z_]+)\\"', text))
        names |= set(re.findall(r'\["FastmagLeNewBlack", "([a-z_]+)"\]', text))
    return names


def test_every_published_metric_is_read_by_an_alarm_or_the_dashboard() -> None:
    read = metric_names_read_by_the_template()
    published = set(PUBLISHED_COUNTERS) | {HEARTBEAT_METRIC}
    assert published <= read, published - read


def _published_by(record: RunRecord) -> dict[str, float]:
    """What the run's closing line publishes, by metric name, with the dimensions it publishes them under."""
    metrics.clear_metrics()
    metrics.dimension_set.clear()
    _log_finished(record)
    published = {name: sum(metric["Value"]) for name, metric in metrics.metric_set.items()}
    if published:
        assert metrics.dimension_set == {"flow": record.flow}
    metrics.clear_metrics()
    metrics.dimension_set.clear()
    return published


def _record(flow: str, status: RunStatus, **counters: int) -> RunRecord:
    return RunRecord(run_id=f"{flow}-1", flow=flow, trigger="schedule", status=status, counters=Counters(**counters))


def test_an_idle_orders_tick_publishes_no_custom_metric() -> None:
    """Billed by the hour published in: a tick every 15 minutes that found no order must not keep one alive."""
    assert _published_by(_record("orders", RunStatus.SUCCEEDED, read=0)) == {}


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.PARTIAL])
def test_a_stock_run_that_pushed_publishes_the_heartbeat_even_with_nothing_to_send(status: RunStatus) -> None:
    assert _published_by(_record("stock", status, read=1000, unchanged=997, skipped=3)) == {HEARTBEAT_METRIC: 1}


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.HELD, RunStatus.SKIPPED])
def test_a_stock_run_that_did_not_push_leaves_the_heartbeat_missing(status: RunStatus) -> None:
    """StockStaleAlarm reads a missing datapoint as breaching: a failed, held or skipped run must not hide it."""
    assert HEARTBEAT_METRIC not in _published_by(_record("stock", status, read=1000, sent=5, rejected=1))


def test_counters_are_published_only_when_not_zero() -> None:
    # Sent and rejected are in the run.finished line the dashboard sums, never a metric billed by the hour.
    assert _published_by(_record("prices", RunStatus.PARTIAL, read=10, sent=7, rejected=2)) == {}
    assert _published_by(_record("reconcile", RunStatus.SUCCEEDED, read=10, drift=3)) == {"drift": 3}
    assert _published_by(_record("reconcile", RunStatus.SUCCEEDED, read=10)) == {}


def test_every_custom_metric_an_alarm_reads_is_published() -> None:
    """The converse: an alarm on a metric nothing publishes never fires (treated as not breaching)."""
    template = load_template()
    published = set(PUBLISHED_COUNTERS) | {HEARTBEAT_METRIC, READINESS_METRIC}
    for metric_filter in resources_of_type(template, "AWS::Logs::MetricFilter").values():
        published |= {t["MetricName"] for t in metric_filter["Properties"]["MetricTransformations"]}
    for name, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        stats = [query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query]
        read = [*stats, properties] if "MetricName" in properties else stats
        for metric in read:
            if metric["Namespace"] == "FastmagLeNewBlack":
                assert metric["MetricName"] in published, name
