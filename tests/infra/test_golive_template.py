"""Go-live without surprises (issue 15): schedules deploy off, the stock-stale alarm only while they run, and
no release deletes or replaces what holds the brand's data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.template import ROOT, load_template, resources_of_type

PREVIOUS_RELEASE = Path(__file__).parent / "previous_release" / "template.yaml"

# Types whose resources hold the brand's data: deleting or replacing one loses it.
BRAND_DATA_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SSM::Parameter",
    "AWS::SecretsManager::Secret",
    "AWS::Logs::LogGroup",
}
# Properties whose change makes CloudFormation replace the resource (a new one, the old one's data left behind
# or deleted): the physical names and a table's keys.
REPLACING_PROPERTIES = {
    "AWS::DynamoDB::Table": ("TableName", "KeySchema"),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::SSM::Parameter": ("Name", "Type"),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
}
# A change listed here is accepted because the README's upgrade section says what to do before deploying it:
# (logical id, what changed) → the README anchor of that note. Release N+1 may list the removal of the two
# retained placeholders here, e.g. ("SettingsParameter", "removed"): "#upgrade".
ACCEPTED_CHANGES: dict[tuple[str, str], str] = {}


def _pinned(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id → what must not change: type, replacing properties, deletion policies."""
    pinned = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        if kind not in BRAND_DATA_TYPES:
            continue
        properties = resource.get("Properties", {})
        pinned[logical_id] = {
            "Type": kind,
            **{name: properties.get(name) for name in REPLACING_PROPERTIES[kind]},
            "DeletionPolicy": resource.get("DeletionPolicy", "Delete"),
            "UpdateReplacePolicy": resource.get("UpdateReplacePolicy", "Delete"),
        }
    return pinned


def breaking_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, str]]:
    """(logical id, change) for every brand-data resource the current template would delete or replace."""
    before, after = _pinned(previous), _pinned(current)
    changes = []
    for logical_id, facts in before.items():
        now = after.get(logical_id)
        if now is None:
            changes.append((logical_id, "removed"))
            continue
        for name, value in facts.items():
            if name in ("DeletionPolicy", "UpdateReplacePolicy"):
                # Retain → Delete weakens; Delete → Retain (release N for the old configuration) is safe.
                if value == "Retain" and now[name] != "Retain":
                    changes.append((logical_id, name))
            elif now[name] != value:
                changes.append((logical_id, name))
    return changes


def _readme_anchors() -> set[str]:
    headings = re.findall(r"^#+ (.+)$", (ROOT / "README.md").read_text(encoding="utf-8"), re.MULTILINE)
    return {"#" + re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-") for heading in headings}


def test_no_release_deletes_or_replaces_brand_data_without_an_upgrade_note(template: dict[str, Any]) -> None:
    unexplained = [c for c in breaking_changes(load_template(PREVIOUS_RELEASE), template) if c not in ACCEPTED_CHANGES]
    assert unexplained == [], "write the upgrade note in the README and list the change in ACCEPTED_CHANGES"
    anchors = _readme_anchors()
    assert {anchor for anchor in ACCEPTED_CHANGES.values() if anchor not in anchors} == set()


def test_the_compatibility_check_catches_a_removal_a_rename_and_a_weakened_policy(template: dict[str, Any]) -> None:
    previous = load_template(PREVIOUS_RELEASE)
    resources = dict(template["Resources"])
    del resources["StateTable"]
    bucket = {**resources["StagingBucket"], "DeletionPolicy": "Delete"}
    log_group = resources["ConnectorLogGroup"]
    renamed = {**log_group, "Properties": {**log_group["Properties"], "LogGroupName": "/other"}}
    changed = {**template, "Resources": {**resources, "StagingBucket": bucket, "ConnectorLogGroup": renamed}}
    assert set(breaking_changes(previous, changed)) == {
        ("StateTable", "removed"),
        ("StagingBucket", "DeletionPolicy"),
        ("ConnectorLogGroup", "LogGroupName"),
    }


def test_the_previous_releases_configuration_is_retained_before_it_may_be_dropped(template: dict[str, Any]) -> None:
    for logical_id in ("SettingsParameter", "ConnectorSecret", "StateTable", "StagingBucket"):
        resource = template["Resources"][logical_id]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain"), logical_id


def test_the_previous_release_is_a_real_release_template() -> None:
    previous = load_template(PREVIOUS_RELEASE)
    assert {"StateTable", "StagingBucket", "SettingsParameter", "ConnectorSecret", "ConnectorLogGroup"} <= set(
        _pinned(previous)
    )


# --- Schedules ----------------------------------------------------------------------------------------------


def test_schedules_parameter_defaults_to_off(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["SchedulesEnabled"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["true", "false"])
    assert template["Conditions"]["SchedulesOn"] == {"Fn::Equals": [{"Ref": "SchedulesEnabled"}, "true"]}


def test_every_deployed_schedule_follows_the_parameter(resources: dict[str, dict[str, Any]]) -> None:
    schedules = resources_of_type({"Resources": resources}, "AWS::Scheduler::Schedule")
    assert len(schedules) == 5  # stock, full stock, orders, readiness, reconcile
    for name, schedule in schedules.items():
        assert schedule["Properties"]["State"] == {"Fn::If": ["SchedulesOn", "ENABLED", "DISABLED"]}, name


def _evaluate_state(state: dict[str, Any], parameters: dict[str, str], template: dict[str, Any]) -> str:
    condition, when_true, when_false = state["Fn::If"]
    equals = template["Conditions"][condition]["Fn::Equals"]
    value = parameters.get(equals[0]["Ref"], template["Parameters"][equals[0]["Ref"]]["Default"])
    return str(when_true if value == equals[1] else when_false)


@pytest.mark.parametrize(("given", "expected"), [({}, "DISABLED"), ({"SchedulesEnabled": "true"}, "ENABLED")])
def test_schedules_are_off_unless_switched_on(
    template: dict[str, Any], resources: dict[str, dict[str, Any]], given: dict[str, str], expected: str
) -> None:
    for schedule in resources_of_type({"Resources": resources}, "AWS::Scheduler::Schedule").values():
        assert _evaluate_state(schedule["Properties"]["State"], given, template) == expected


def test_the_stock_stale_alarm_exists_only_while_schedules_run(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["StockStaleAlarm"]
    assert alarm["Condition"] == "SchedulesOn"
    assert alarm["Properties"]["EvaluationPeriods"] == {"Ref": "StockStaleMinutes"}


def test_stock_stale_minutes_defaults_to_three_push_periods(template: dict[str, Any]) -> None:
    rate = re.fullmatch(r"rate\((\d+) minutes?\)", template["Parameters"]["PushStockRate"]["Default"])
    assert rate is not None
    assert template["Parameters"]["StockStaleMinutes"]["Default"] == 3 * int(rate.group(1))
    # CloudWatch allows at most a day of one-minute evaluation periods.
    assert template["Parameters"]["StockStaleMinutes"]["MaxValue"] == 1440
