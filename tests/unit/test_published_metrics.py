"""Only the custom metrics an alarm or the dashboard reads are published (each is billed by the hour)."""

from __future__ import annotations

import json
import re

from connector.runner import PUBLISHED_COUNTERS
from connector.runs import RunStatus
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
    finished = (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.HELD, RunStatus.SKIPPED)
    published = set(PUBLISHED_COUNTERS) | {f"run_{status}" for status in finished}
    assert published <= read, published - read
