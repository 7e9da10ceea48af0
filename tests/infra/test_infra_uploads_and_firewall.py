"""The paced image uploads (S3 events → EventBridge → ImageUploadQueue → UploadImagesFunction) and the export API's
protection (stage throttle, optional web ACL), as the template deploys them."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.template import load_template, transform_template, upload_pacing


def _properties(resources: dict[str, dict[str, Any]], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources[logical_id]["Properties"]
    return properties


def test_the_upload_event_source_is_paced_by_upload_concurrency(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    (mapping_id,) = [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
        and resource["Properties"]["FunctionName"] == {"Ref": "UploadImagesFunction"}
    ]
    mapping = _properties(resources, mapping_id)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["ImageUploadQueue", "Arn"]}
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "UploadConcurrency"}}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    parameter = template["Parameters"]["UploadConcurrency"]
    assert (parameter["MinValue"], parameter["Default"]) == (2, 4)  # 2: the least AWS accepts
    # Nothing else starts the function: no other event source, no EventBridge rule targets it directly.
    assert not any(
        target.get("Arn") == {"Fn::GetAtt": ["UploadImagesFunction", "Arn"]}
        for resource in resources.values()
        if resource["Type"] == "AWS::Events::Rule"
        for target in resource["Properties"].get("Targets", [])
    )


def test_the_queue_outlasts_six_function_timeouts_and_keeps_a_file_three_deliveries(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    queue = _properties(resources, "ImageUploadQueue")
    function = _properties(resources, "UploadImagesFunction")
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    redrive = queue["RedrivePolicy"]
    assert redrive == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ImageUploadDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    # The handler records a file's last failure on the delivery the queue will not repeat.
    assert function["Environment"]["Variables"]["UPLOAD_MAX_RECEIVES"] == str(redrive["maxReceiveCount"])
    assert upload_pacing(template).max_receives == redrive["maxReceiveCount"]
    assert _properties(resources, "ImageUploadDeadLetterQueue")["MessageRetentionPeriod"] == 14 * 86400


def test_s3_image_events_reach_the_queue_and_only_their_rule_may_send_to_it(
    resources: dict[str, dict[str, Any]],
) -> None:
    rule = _properties(resources, "ImageFilesRule")
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "images/"}]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["ImageUploadQueue", "Arn"]}
    statements = _properties(resources, "ImageUploadQueuePolicy")["PolicyDocument"]["Statement"]
    (allow,) = [statement for statement in statements if statement["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ImageFilesRule", "Arn"]}}}


def test_the_stage_throttle_protects_the_buttons(resources: dict[str, dict[str, Any]]) -> None:
    (settings,) = _properties(resources, "ConnectorApiStage")["MethodSettings"]
    # Far above a few people clicking, so a handful of anonymous requests cannot keep the buttons at 429.
    assert settings["ThrottlingRateLimit"] >= 50
    assert settings["ThrottlingBurstLimit"] >= 2 * settings["ThrottlingRateLimit"]


def test_the_firewall_is_off_by_default(template: dict[str, Any], resources: dict[str, dict[str, Any]]) -> None:
    assert template["Parameters"]["ApiFirewall"]["Default"] == "off"
    assert "USD" in template["Parameters"]["ApiFirewall"]["Description"]  # its monthly cost, stated
    firewall = {lid for lid, r in resources.items() if r["Type"].startswith("AWS::WAFv2::")}
    assert firewall == {"ApiWebAcl", "ApiWebAclAssociation", "ApiAllowedAddressSet"}
    assert {resources[lid]["Condition"] for lid in firewall} == {"ApiFirewallOn", "ApiFirewallWithAllowList"}
    assert template["Conditions"]["ApiFirewallOn"] == {"Fn::Equals": [{"Ref": "ApiFirewall"}, "on"]}


@pytest.fixture(scope="module")
def with_firewall() -> dict[str, dict[str, Any]]:
    transformed = transform_template(load_template(), {"ApiFirewall": "on"})
    resources: dict[str, dict[str, Any]] = transformed["Resources"]
    return resources


def test_the_firewall_blocks_by_address_rate_and_allow_list_and_guards_the_stage(
    with_firewall: dict[str, dict[str, Any]],
) -> None:
    acl = _properties(with_firewall, "ApiWebAcl")
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    allow_list, rate = acl["Rules"]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "Limit": {"Ref": "ApiRequestsPerAddress"},
        "EvaluationWindowSec": 300,
        "AggregateKeyType": "IP",
    }
    # The allow-list rule exists only when addresses are given: every address outside them is blocked.
    condition, rule, otherwise = allow_list["Fn::If"]
    assert (condition, otherwise) == ("HasApiAllowedAddresses", {"Ref": "AWS::NoValue"})
    assert rule["Action"] == {"Block": {}}
    assert rule["Statement"]["NotStatement"]["Statement"]["IPSetReferenceStatement"]["Arn"] == {
        "Fn::GetAtt": ["ApiAllowedAddressSet", "Arn"]
    }
    association = _properties(with_firewall, "ApiWebAclAssociation")
    assert association["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    arn = association["ResourceArn"]["Fn::Sub"]
    assert arn.endswith("/restapis/${ConnectorApi}/stages/${ConnectorApiStage}")
    assert with_firewall["ConnectorApiStage"]["Type"] == "AWS::ApiGateway::Stage"
