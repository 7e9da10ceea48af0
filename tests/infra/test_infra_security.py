"""What the deployed stack lets in, read from the template after the SAM transform (as CloudFormation deploys it):
the staging bucket refuses plain HTTP and the public, no resource policy opens anything to everyone, and every
log line lands in a group with retention. Who may read the secret: tests/infra/test_infra_iam.py."""

from __future__ import annotations

from typing import Any

from tests.infra.test_infra_iam import _as_list, _references

RESOURCE_POLICIES = ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy")


def _policy_statements(resources: dict[str, dict[str, Any]], policy_type: str) -> list[dict[str, Any]]:
    return [
        statement
        for resource in resources.values()
        if resource["Type"] == policy_type
        for statement in _as_list(resource["Properties"]["PolicyDocument"]["Statement"])
    ]


def test_the_bucket_denies_every_request_without_tls(resources: dict[str, dict[str, Any]]) -> None:
    denials = [
        statement
        for statement in _policy_statements(resources, "AWS::S3::BucketPolicy")
        if statement["Effect"] == "Deny" and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denials) == 1
    (deny,) = denials
    assert deny["Principal"] == "*" and deny["Action"] == "s3:*"
    # The bucket itself and every object in it.
    targets = _as_list(deny["Resource"])
    assert {"Fn::GetAtt": ["StagingBucket", "Arn"]} in targets
    assert {"Fn::Sub": "${StagingBucket.Arn}/*"} in targets
    policy = next(r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy")
    assert policy["Properties"]["Bucket"] == {"Ref": "StagingBucket"}


def test_the_bucket_blocks_public_access_and_acls(resources: dict[str, dict[str, Any]]) -> None:
    bucket = resources["StagingBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # ACLs are off altogether: the bucket owner owns every object, and no ACL can grant access.
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "AccessControl" not in bucket
    buckets = [logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::S3::Bucket"]
    assert buckets == ["StagingBucket"]


def test_no_resource_policy_allows_everyone(resources: dict[str, dict[str, Any]]) -> None:
    for policy_type in RESOURCE_POLICIES:
        for statement in _policy_statements(resources, policy_type):
            if statement["Effect"] == "Allow":
                assert statement.get("Principal") not in ("*", {"AWS": "*"}), (policy_type, statement)


def test_lambda_permissions_name_their_caller(resources: dict[str, dict[str, Any]]) -> None:
    """Only API Gateway may call the API and authorizer functions, and only from this stack's API. (S3 object
    events reach the upload function through its queue's event source mapping, which needs no permission.)"""
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permissions
    for permission in permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert "ConnectorApi" in _references(permission["SourceArn"])


def test_every_log_group_has_retention(resources: dict[str, dict[str, Any]]) -> None:
    groups = {logical_id: r["Properties"] for logical_id, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert set(groups) >= {"ConnectorLogGroup", "ApiAccessLogGroup"}
    assert all(properties.get("RetentionInDays") == {"Ref": "LogRetentionDays"} for properties in groups.values())


def test_every_function_and_the_api_log_into_a_group_with_retention(resources: dict[str, dict[str, Any]]) -> None:
    """Without LoggingConfig a function would log to a group Lambda creates, which keeps lines forever."""
    functions = {
        logical_id: r["Properties"] for logical_id, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
    }
    assert functions
    for logical_id, properties in functions.items():
        assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "ConnectorLogGroup"}, logical_id
    stages = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert stages
    for stage in stages:
        assert _references(stage["AccessLogSetting"]["DestinationArn"]) == {"ApiAccessLogGroup"}
