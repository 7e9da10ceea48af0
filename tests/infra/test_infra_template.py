"""template.yaml holds the shape ARCHITECTURE.md promises: one layer, one log group, safe storage, schedules
that cannot lose a tick silently, and the names the handlers read."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connector.config import Environment
from connector.events import FlowRequest
from connector.settings import Credentials
from sandbox.template import ROOT, dynamodb_table_spec, dynamodb_ttl_spec, resources_of_type

# Functions answered synchronously (API Gateway), and the one an SQS event source mapping polls (its failures go to
# its queue's dead letter queue: tests/infra/test_infra_uploads_and_firewall.py); every other is invoked
# asynchronously.
SYNC_FUNCTIONS = {"ApiFunction", "AuthorizerFunction"}
QUEUE_FUNCTIONS = {"UploadImagesFunction"}

# Logical id suffix by resource type (house style: PascalCase with the type as suffix).
SUFFIXES = {
    "AWS::Serverless::Function": "Function",
    "AWS::Serverless::LayerVersion": "Layer",
    "AWS::Logs::LogGroup": "LogGroup",
    "AWS::DynamoDB::Table": "Table",
    "AWS::S3::Bucket": "Bucket",
    "AWS::S3::BucketPolicy": "Policy",
    "AWS::SSM::Parameter": "Parameter",
    "AWS::SecretsManager::Secret": "Secret",
    "AWS::SQS::Queue": "Queue",
    "AWS::SQS::QueuePolicy": "Policy",
}

# Schedule event → (function, the flow request it must deliver, apart from the scheduler's context).
SCHEDULES = {
    "StockSchedule": ("PushStockFunction", {"flow": "stock", "trigger": "schedule", "full": False}),
    "FullStockSchedule": ("PushStockFunction", {"flow": "stock", "trigger": "schedule", "full": True}),
    "OrdersSchedule": ("ImportOrdersFunction", {"flow": "orders", "trigger": "schedule"}),
    "ReadinessSchedule": ("ReadinessFunction", {"flow": "readiness", "trigger": "schedule"}),
    "ReconcileWeeklySchedule": ("ReconcileFunction", {"flow": "reconcile", "trigger": "schedule", "repair": False}),
}
EVENT_FILES = {
    "StockSchedule": "schedule_stock.json",
    "FullStockSchedule": "schedule_stock_full.json",
    "OrdersSchedule": "schedule_orders.json",
    "ReadinessSchedule": "schedule_readiness.json",
    "ReconcileWeeklySchedule": "schedule_reconcile.json",
}
SCHEDULER_CONTEXT = {
    "schedule": "<aws.scheduler.schedule-arn>",
    "scheduled_time": "<aws.scheduler.scheduled-time>",
    "execution_id": "<aws.scheduler.execution-id>",
    "attempt": "<aws.scheduler.attempt-number>",
}
# fmt: off
CLOUDWATCH_RETENTION_DAYS = {
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
}
# fmt: on


def _schedule_events(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        event_name: (function_name, event["Properties"])
        for function_name, function in resources_of_type(template, "AWS::Serverless::Function").items()
        for event_name, event in function["Properties"].get("Events", {}).items()
        if event["Type"] in ("ScheduleV2", "Schedule")
    }


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# --- Functions and the layer ---------------------------------------------------------------------------------


def test_globals_give_every_function_the_runtime_the_layer_and_the_log_group(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "app.lambda_handler"
    assert function["Tracing"] == "Active"
    assert function["Layers"] == [{"Ref": "CommonLayer"}]
    assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "ConnectorLogGroup"}}


def test_every_deployed_function_has_the_layer_and_logs_into_the_retained_group(
    resources: dict[str, dict[str, Any]],
) -> None:
    functions = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}
    layers = {k for k, v in resources.items() if v["Type"] == "AWS::Lambda::LayerVersion"}
    assert set(functions) >= {"PushStockFunction", "ImportOrdersFunction"}
    assert len(layers) == 1
    for name, properties in functions.items():
        assert properties["Layers"] == [{"Ref": next(iter(layers))}], name
        assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "ConnectorLogGroup"}, name
        assert properties["LoggingConfig"]["LogFormat"] == "JSON", name
        assert properties["TracingConfig"] == {"Mode": "Active"}, name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["Timeout"] <= 900, name
    group = resources["ConnectorLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}"}


def test_log_retention_parameter_offers_only_values_cloudwatch_accepts(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["LogRetentionDays"]
    assert parameter["Default"] == 90
    assert set(parameter["AllowedValues"]) == CLOUDWATCH_RETENTION_DAYS


def test_environment_matches_what_the_handlers_read(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["STATE_TABLE"] == {"Ref": "StateTable"}
    assert variables["STAGING_BUCKET"] == {"Ref": "StagingBucket"}
    assert variables["CREDENTIALS_SECRET_ID"]["Fn::If"][0] == "HasCredentialsSecretName"
    assert variables["SETTINGS_PARAMETER"]["Fn::If"][0] == "HasSettingsParameterName"
    assert "API_ACCESS_SECRET_ID" not in variables, "only the authorizer is told where the API tokens are"
    assert variables["PARAMETERS_MAX_AGE"] == "300"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "connector"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "FastmagLeNewBlack"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    connector_variables = {name for name in variables if not name.startswith("POWERTOOLS_")}
    assert connector_variables <= set(Environment.model_fields), "a variable connector.settings does not read"
    concrete = {name: "x" if value != "300" else value for name, value in variables.items()}
    assert Environment.model_validate(concrete).PARAMETERS_MAX_AGE == 300


def test_function_code_lives_in_its_snake_case_folder(template: dict[str, Any]) -> None:
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        folder = _snake(name.removesuffix("Function"))
        assert function["Properties"]["CodeUri"] == f"functions/{folder}/", name
        assert function["Properties"].get("Description"), name


def test_layer_is_built_for_arm64_from_the_connector_package(template: dict[str, Any]) -> None:
    layer = template["Resources"]["CommonLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    content = ROOT / "layers" / "common"
    assert (content / "connector" / "__init__.py").is_file()
    requirements = (content / "requirements.txt").read_text(encoding="utf-8").lower()
    pinned = [line for line in requirements.splitlines() if line.strip() and not line.startswith("#")]
    assert pinned
    assert all("==" in line for line in pinned), "runtime dependencies are pinned"
    assert not any(line.startswith(("boto3", "botocore")) for line in pinned), "the runtime provides boto3"


def test_logical_ids_carry_their_type(template: dict[str, Any]) -> None:
    for logical_id, resource in template["Resources"].items():
        assert re.fullmatch(r"(?:[A-Z][a-z0-9]*)+", logical_id), logical_id
        suffix = SUFFIXES.get(resource["Type"])
        assert suffix is None or logical_id.endswith(suffix), (logical_id, resource["Type"])


# --- Asynchronous paths ----------------------------------------------------------------------------------------


def test_every_async_function_sends_its_failures_to_the_failure_queue(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    for name, function in functions.items():
        if name in SYNC_FUNCTIONS | QUEUE_FUNCTIONS:
            assert "EventInvokeConfig" not in function["Properties"], name
            continue
        config = function["Properties"]["EventInvokeConfig"]
        assert config["MaximumRetryAttempts"] in (0, 1), name
        on_failure = config["DestinationConfig"]["OnFailure"]
        assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FlowFailureQueue", "Arn"]}}, name


def test_invoke_configs_are_deployed(resources: dict[str, dict[str, Any]]) -> None:
    configs = {
        v["Properties"]["FunctionName"]["Ref"]: v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    async_functions = {
        k
        for k, v in resources.items()
        if v["Type"] == "AWS::Lambda::Function" and k not in SYNC_FUNCTIONS | QUEUE_FUNCTIONS
    }
    assert set(configs) == async_functions
    for config in configs.values():
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FlowFailureQueue", "Arn"]}


def test_schedules_deliver_a_flow_request_retry_and_dead_letter(template: dict[str, Any]) -> None:
    events = _schedule_events(template)
    assert set(events) == set(SCHEDULES)
    for event_name, (function_name, properties) in events.items():
        expected_function, request = SCHEDULES[event_name]
        assert function_name == expected_function
        assert properties["Name"]["Fn::Sub"].startswith("${AWS::StackName}-"), event_name
        assert properties["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
        assert json.loads(properties["Input"]) == {**request, **SCHEDULER_CONTEXT}, event_name
        assert properties["RetryPolicy"]["MaximumRetryAttempts"] == 2
        assert 60 <= properties["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
        assert properties["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    expressions = {name: props["ScheduleExpression"] for name, (_, props) in events.items()}
    assert expressions == {
        "StockSchedule": {"Ref": "PushStockRate"},
        "FullStockSchedule": {"Ref": "FullStockSchedule"},
        "OrdersSchedule": {"Ref": "ImportOrdersRate"},
        "ReadinessSchedule": {"Ref": "ReadinessSchedule"},
        "ReconcileWeeklySchedule": {"Ref": "ReconcileSchedule"},
    }


def test_schedule_parameters_default_to_the_documented_rates(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["PushStockRate"]["Default"] == "rate(5 minutes)"
    assert parameters["FullStockSchedule"]["Default"] == "cron(30 2 * * ? *)"
    assert parameters["ImportOrdersRate"]["Default"] == "rate(15 minutes)"
    assert parameters["ScheduleTimezone"]["Default"] == "Europe/Paris"
    assert parameters["Stage"]["AllowedValues"] == ["dev", "prod"]
    assert parameters["AlarmEmail"]["Default"] == ""


def test_deployed_schedules_target_their_function_with_the_input(resources: dict[str, dict[str, Any]]) -> None:
    schedules = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Scheduler::Schedule"}
    assert len(schedules) == len(SCHEDULES)
    for name, schedule in schedules.items():
        target = schedule["Target"]
        assert target["Arn"]["Fn::GetAtt"][0] in {function for function, _ in SCHEDULES.values()}, name
        assert set(SCHEDULER_CONTEXT.items()) <= set(json.loads(target["Input"]).items()), name
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2, name
        assert "DeadLetterConfig" in target, name
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}, name


@pytest.mark.parametrize("event_name", sorted(EVENT_FILES))
def test_sample_event_is_what_the_scheduler_delivers(template: dict[str, Any], event_name: str) -> None:
    _, properties = _schedule_events(template)[event_name]
    template_input = json.loads(properties["Input"])
    sample = json.loads((ROOT / "events" / EVENT_FILES[event_name]).read_text(encoding="utf-8"))
    assert sample.keys() == template_input.keys()
    for key, value in template_input.items():
        if key not in SCHEDULER_CONTEXT:
            assert sample[key] == value, key
    assert datetime.fromisoformat(sample["scheduled_time"]).tzinfo is not None
    assert str(uuid.UUID(sample["execution_id"])) == sample["execution_id"]

    schedule_name = sample["schedule"].rsplit("/", 1)[-1]
    assert sample["schedule"].startswith("arn:aws:scheduler:")
    assert schedule_name.endswith(properties["Name"]["Fn::Sub"].removeprefix("${AWS::StackName}"))

    # The run is named by the schedule and its tick: a retry of the tick (new execution id, next attempt) and a
    # second delivery of it are the same run; the same time on another schedule is another run.
    request = FlowRequest.parse(template_input["flow"], sample)
    assert request.trigger == "schedule"
    tick = datetime.fromisoformat(sample["scheduled_time"]).strftime("%Y%m%dT%H%M%SZ")
    assert request.resolved_run_id() == f"{request.flow}-{schedule_name}-{tick}"
    retry = FlowRequest.parse(template_input["flow"], {**sample, "execution_id": str(uuid.uuid4()), "attempt": "2"})
    assert retry.resolved_run_id() == request.resolved_run_id() and retry.attempt == 2
    other = FlowRequest.parse(template_input["flow"], {**sample, "schedule": sample["schedule"] + "-other"})
    assert other.resolved_run_id() != request.resolved_run_id()


# --- Storage, configuration, queues -------------------------------------------------------------------------


def test_state_table(template: dict[str, Any]) -> None:
    table = template["Resources"]["StateTable"]
    properties = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_table_spec_is_the_template_table(template: dict[str, Any]) -> None:
    spec = dynamodb_table_spec(template)
    assert spec == {
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_flow",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
    properties = template["Resources"]["StateTable"]["Properties"]
    assert spec["KeySchema"] == properties["KeySchema"]
    assert spec["AttributeDefinitions"] == properties["AttributeDefinitions"]
    assert dynamodb_ttl_spec(template) == properties["TimeToLiveSpecification"]


def test_table_spec_creates_the_table_in_moto(template: dict[str, Any]) -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-3")
        client.create_table(TableName="state", **dynamodb_table_spec(template))
        ttl = dynamodb_ttl_spec(template)
        assert ttl is not None
        client.update_time_to_live(TableName="state", TimeToLiveSpecification=ttl)
        table = client.describe_table(TableName="state")["Table"]
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_flow"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        described = client.describe_time_to_live(TableName="state")["TimeToLiveDescription"]
        assert described["AttributeName"] == "expires_at"


def test_table_spec_refuses_what_is_not_a_table(template: dict[str, Any]) -> None:
    with pytest.raises(KeyError, match="StagingBucket"):
        dynamodb_table_spec(template, "StagingBucket")


def test_bucket_is_private_encrypted_versioned_and_expires_previews(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["StagingBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    assert rules["ExpirePreviews"]["Prefix"] == "previews/"
    assert rules["ExpirePreviews"]["ExpirationInDays"] == 30
    # Task log files are kept exactly as long as previews.
    assert rules["ExpireTaskLogs"]["Prefix"] == "runs/"
    assert rules["ExpireTaskLogs"]["ExpirationInDays"] == rules["ExpirePreviews"]["ExpirationInDays"]
    assert any("NoncurrentVersionExpiration" in rule and "Prefix" not in rule for rule in rules.values())


def test_bucket_refuses_plain_http(template: dict[str, Any]) -> None:
    policies = resources_of_type(template, "AWS::S3::BucketPolicy")
    (policy,) = (p["Properties"] for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": "StagingBucket"})
    denials = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denials) == 1
    assert denials[0]["Principal"] == "*"
    assert denials[0]["Action"] in ("s3:*", ["s3:*"])
    assert denials[0]["Resource"] == [
        {"Fn::GetAtt": ["StagingBucket", "Arn"]},
        {"Fn::Sub": "${StagingBucket.Arn}/*"},
    ]


def test_every_queue_is_encrypted(resources: dict[str, dict[str, Any]]) -> None:
    queues = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    assert set(queues) >= {"ScheduleDeadLetterQueue", "FlowFailureQueue"}
    for name, queue in queues.items():
        assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue, name
    for name in ("ScheduleDeadLetterQueue", "FlowFailureQueue"):
        assert queues[name]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_previous_releases_settings_parameter_and_secret_are_retained_unchanged(template: dict[str, Any]) -> None:
    for name in ("SettingsParameter", "ConnectorSecret"):
        resource = template["Resources"][name]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain", name
    parameter = template["Resources"]["SettingsParameter"]["Properties"]
    assert parameter["Name"] == {"Fn::Sub": "/${AWS::StackName}/settings"}
    assert parameter["Type"] == "String"
    assert json.loads(parameter["Value"]) == {}
    secret = template["Resources"]["ConnectorSecret"]["Properties"]
    placeholder = json.loads(secret["SecretString"])
    # The previous release's one secret: the logins and its api_tokens (link codes came later, in api-access).
    assert set(placeholder) == set(Credentials.model_fields) | {"api_tokens"}
    assert placeholder["api_tokens"] == [], "no button works until the integrator sets a token"
    for key in placeholder:
        assert key in secret["Description"], key


def test_outputs_name_what_the_integrator_and_support_need(template: dict[str, Any]) -> None:
    values = {name: output["Value"] for name, output in template["Outputs"].items()}
    for expected in (
        {"Ref": "StateTable"},
        {"Ref": "StagingBucket"},
        {"Ref": "SettingsParameter"},
        {"Ref": "ConnectorSecret"},
        {"Ref": "ConnectorLogGroup"},
        {"Ref": "PushStockFunction"},
        {"Ref": "ImportOrdersFunction"},
    ):
        assert expected in values.values(), expected


def test_sample_events_are_valid_json_objects() -> None:
    for path in Path(ROOT / "events").glob("schedule_*.json"):
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path
