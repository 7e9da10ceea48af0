"""What the operator relies on, read from the template: alarms that notify, DLQs that alarm, an API that is
never open without the authorizer, the routes the handler serves, saved queries in the connector/ folder."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from connector.api.routes import app
from connector.runner import HEARTBEAT_FLOWS, HEARTBEAT_METRIC
from sandbox.template import ROOT, created_resources, resolve, resources_of_type


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources_of_type(template, "AWS::CloudWatch::Alarm").items()}


def _metric(alarm: dict[str, Any]) -> tuple[str | None, str | None]:
    return alarm.get("Namespace"), alarm.get("MetricName")


def test_every_alarm_notifies_the_alarm_topic(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    assert len(alarms) >= 10
    for name, alarm in alarms.items():
        assert alarm.get("AlarmActions") == [{"Ref": "AlarmTopic"}], name
        assert alarm.get("AlarmDescription"), name
        assert alarm.get("TreatMissingData") in {"breaching", "notBreaching"}, name


@pytest.mark.parametrize(
    ("choice", "key_created", "topic_key"),
    [
        ("", False, None),
        ("create", True, {"Ref": "AlarmTopicKey"}),
        ("arn:aws:kms:eu-west-3:123456789012:key/1a2b3c4d", False, "arn:aws:kms:eu-west-3:123456789012:key/1a2b3c4d"),
    ],
)
def test_the_alarm_topic_is_encrypted_only_with_the_key_the_brand_chose(
    template: dict[str, Any], choice: str, key_created: bool, topic_key: Any
) -> None:
    """No key by default (a customer-managed key is $1-3 a month for messages mailed in clear); `create` makes one
    CloudWatch may use; an ARN uses the brand's own."""
    parameters = {"AlarmTopicKmsKey": choice}
    assert bool(created_resources(template, "AWS::KMS::Key", parameters)) is key_created
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    resolved = resolve(template, topic["KmsMasterKeyId"], parameters)
    assert (None if resolved == {"Ref": "AWS::NoValue"} else resolved) == topic_key
    if key_created:
        key_statements = template["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
        cloudwatch = [s for s in key_statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
        assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("create", True),
        ("arn:aws:kms:eu-west-3:123456789012:key/1a2b3c4d-0000-1111-2222-333344445555", True),
        ("arn:aws-cn:kms:cn-north-1:123456789012:alias/alarms", True),
        ("Create", False),
        ("1a2b3c4d-0000-1111-2222-333344445555", False),
        ("arn:aws:kms:eu-west-3:1234:key/x", False),
        ("arn:aws:s3:::bucket", False),
    ],
)
def test_the_alarm_topic_key_parameter_takes_only_empty_create_or_a_key_arn(
    template: dict[str, Any], value: str, accepted: bool
) -> None:
    pattern = template["Parameters"]["AlarmTopicKmsKey"]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) is accepted


def test_the_alarm_topic_takes_publications_over_tls_only(template: dict[str, Any]) -> None:
    statements = template["Resources"]["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [statement for statement in statements if statement["Effect"] == "Deny"]
    assert deny["Action"] == "sns:Publish"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_alarm_email_is_subscribed_only_when_given(template: dict[str, Any]) -> None:
    (subscription,) = resources_of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def test_every_queue_has_a_depth_alarm(template: dict[str, Any]) -> None:
    """Every queue where failures end up. A working queue (ImageUploadQueue, busy during every export) is not
    watched itself: what fails in it ends in its dead letter queue, which is."""
    queues = {
        logical_id
        for logical_id, queue in resources_of_type(template, "AWS::SQS::Queue").items()
        if "RedrivePolicy" not in queue["Properties"]
    }
    watched = {}
    for alarm in _alarms(template).values():
        if _metric(alarm) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
            (dimension,) = alarm["Dimensions"]
            watched[dimension["Value"]["Fn::GetAtt"][0]] = alarm
    assert set(watched) == queues
    for alarm in watched.values():
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


# Functions whose failures reach support other than through FlowFailureQueue: the API's two behind API Gateway
# (their errors and throttles answer 5XX: api-5xx), the image uploader behind its queue (image-upload-dlq).
BEHIND_THE_API = {"ApiFunction", "AuthorizerFunction"}
BEHIND_A_QUEUE = {"UploadImagesFunction": "ImageUploadQueue"}


def test_every_function_failure_reaches_an_alarm_without_paying_for_its_metrics(template: dict[str, Any]) -> None:
    """No alarm reads the functions' own Errors or Throttles (a metric-math alarm is billed per metric it reads):
    each function's failure already ends where an alarm watches."""
    alarms = _alarms(template)
    assert not [name for name, alarm in alarms.items() if "AWS/Lambda" in json.dumps(alarm)]
    watched_queues = {
        alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in alarms.values()
        if _metric(alarm) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    functions = resources_of_type(template, "AWS::Serverless::Function")
    for name, function in functions.items():
        properties = function["Properties"]
        if name in BEHIND_THE_API:
            assert "EventInvokeConfig" not in properties, name
            continue
        if name in BEHIND_A_QUEUE:
            queue = template["Resources"][BEHIND_A_QUEUE[name]]["Properties"]
            dead_letters = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert dead_letters in watched_queues, name
            continue
        # Asynchronous (schedules, buttons): an error, a timeout or a throttle past the event's age is delivered to
        # the failure queue, whose depth alarms; no Lambda retry hides a failed run.
        invoke = properties["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] == 0, name
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FlowFailureQueue", "Arn"]}
    assert "FlowFailureQueue" in watched_queues
    api_5xx = alarms["Api5xxAlarm"]
    assert _metric(api_5xx) == ("AWS/ApiGateway", "5XXError")


def test_the_template_expands_without_fn_foreach() -> None:
    """samtranslator, checkov and the sandbox's template readers do not expand Fn::ForEach."""
    assert "Fn::ForEach" not in (ROOT / "template.yaml").read_text(encoding="utf-8")


def test_stock_staleness_alarm_breaches_when_no_stock_run_pushed(template: dict[str, Any]) -> None:
    alarm = _alarms(template)["StockStaleAlarm"]
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == {"Ref": "StockStaleMinutes"}
    # One metric (one alarm metric billed): the heartbeat every stock run that pushed publishes.
    assert "Metrics" not in alarm
    assert _metric(alarm) == ("FastmagLeNewBlack", HEARTBEAT_METRIC)
    assert "stock" in HEARTBEAT_FLOWS
    assert alarm["Dimensions"] == [{"Name": "flow", "Value": "stock"}, {"Name": "service", "Value": "connector"}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "LessThanThreshold", 1)
    assert alarm["Period"] == 60  # one datapoint a minute: StockStaleMinutes of them in a row


def test_log_metric_filters_count_events_the_code_logs(template: dict[str, Any]) -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "layers/common/connector").rglob("*.py"))
    filters = resources_of_type(template, "AWS::Logs::MetricFilter")
    alarmed = {_metric(alarm)[1] for alarm in _alarms(template).values()}
    assert len(filters) == 7
    for name, metric_filter in filters.items():
        properties = metric_filter["Properties"]
        assert properties["LogGroupName"] == {"Ref": "ConnectorLogGroup"}, name
        (event,) = re.findall(r'\$\.event = "([^"]+)"', properties["FilterPattern"])
        assert f'"{event}"' in source, f"{name}: no code logs {event}"
        (transformation,) = properties["MetricTransformations"]
        assert transformation["MetricName"] in alarmed, name


# The pages check their caller in ApiFunction (connector.api.auth, the authorizer's code) to answer a refused
# browser with what to do; every other method, and every POST, is behind the authorizer.
PAGES = {
    ("/", "get"),
    ("/exports/{flow}", "get"),
    ("/runs", "get"),
    ("/runs/{run_id}", "get"),
    ("/orders/{reference}", "get"),
    ("/readiness/{run_id}", "get"),
    ("/reconcile/{run_id}", "get"),
    ("/keys/{key}", "get"),
}


def test_every_api_method_but_the_pages_requires_the_authorizer(resources: dict[str, dict[str, Any]]) -> None:
    api = resources["ConnectorApi"]["Properties"]["Body"]
    schemes = api["components"]["securitySchemes"]
    assert list(schemes) == ["TokenAuthorizer"]
    authorizer = schemes["TokenAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    methods = [(path, method, operation) for path, item in api["paths"].items() for method, operation in item.items()]
    assert len(methods) >= 8
    for path, method, operation in methods:
        expected = [{"NONE": []}] if (path, method) in PAGES else [{"TokenAuthorizer": []}]
        assert operation.get("security") == expected, (path, method)
    assert {(path, method) for path, method, _ in methods} >= PAGES
    assert all(method == "get" for _, method in PAGES)


def test_the_template_routes_are_the_handler_routes(template: dict[str, Any]) -> None:
    """A route the handler serves but the template does not deploy (or the reverse) would be a dead button."""
    events = template["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    declared = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events}
    served = {(route.method.upper(), route.openapi_path) for route in app._static_routes + app._dynamic_routes}
    assert served == declared


def test_api_stage_throttles_and_writes_json_access_logs(template: dict[str, Any]) -> None:
    api = template["Resources"]["ConnectorApi"]["Properties"]
    (settings,) = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(api["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "resourcePath", "principalId"} <= set(fields)
    assert not any("querystring" in value.lower() for value in fields.values()), "the token must not be logged"
    group = template["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert api["Auth"]["DefaultAuthorizer"] == "TokenAuthorizer"
    assert api["Auth"]["AddDefaultAuthorizerToCorsPreflight"] is False


def test_buttons_start_exactly_the_flow_functions(template: dict[str, Any]) -> None:
    properties = template["Resources"]["ApiFunction"]["Properties"]
    mapping = json.loads(
        re.sub(r"\$\{(\w+)\}", r"\1", properties["Environment"]["Variables"]["FLOW_FUNCTIONS"]["Fn::Sub"])
    )
    flow_functions = set(resources_of_type(template, "AWS::Serverless::Function")) - {
        "ApiFunction",
        "AuthorizerFunction",
    }
    # Every flow function reachable from a button, except those not started by a flow request.
    assert set(mapping.values()) <= flow_functions
    assert {"PushStockFunction", "ImportOrdersFunction"} <= set(mapping.values())
    (invoke,) = [s for s in properties["Policies"][0]["Statement"] if s["Action"] == "lambda:InvokeFunction"]
    assert {r["Fn::GetAtt"][0] for r in invoke["Resource"]} == set(mapping.values())


def test_saved_queries_and_alarms_live_where_the_readme_says(template: dict[str, Any]) -> None:
    queries = {k: v["Properties"] for k, v in resources_of_type(template, "AWS::Logs::QueryDefinition").items()}
    names = {q["Name"] for q in queries.values()}
    assert names == {
        "connector/run-summary",
        "connector/errors-by-flow-and-reason",
        "connector/blocked-orders",
        "connector/history-of-one-key",
        "connector/slowest-remote-calls",
    }
    for query in queries.values():
        assert query["LogGroupNames"] == [{"Ref": "ConnectorLogGroup"}]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert name in readme, f"README Operate does not explain {name}"
    for name, alarm in _alarms(template).items():
        if "AlarmName" in alarm:
            suffix = alarm["AlarmName"]["Fn::Sub"].removeprefix("${AWS::StackName}-")
            assert f"`{suffix}`" in readme, f"README Operate does not explain the {name} alarm"


def test_exactly_once_events_are_counted_and_alarmed(template: dict[str, Any]) -> None:
    """A lost run, a stuck or unknown order and a lookup that finds nothing each notify someone."""
    filters = {
        f["FilterPattern"]: f["MetricTransformations"][0]
        for f in (v["Properties"] for v in resources_of_type(template, "AWS::Logs::MetricFilter").values())
    }
    alarmed = {_metric(alarm) for alarm in _alarms(template).values()}
    for event in ("run.lost", "order.stuck", "order.unknown", "orders.lookup_broken"):
        transformation = filters[f'{{ $.event = "{event}" }}']
        metric = (transformation["MetricNamespace"], transformation["MetricName"])
        assert metric in alarmed, event


def test_orders_reserved_concurrency_is_optional_and_off_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["OrdersReservedConcurrency"]
    assert parameter["Default"] == ""
    assert template["Conditions"]["HasOrdersReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OrdersReservedConcurrency"}, ""]}]
    }
    reserved = template["Resources"]["ImportOrdersFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {
        "Fn::If": ["HasOrdersReservedConcurrency", {"Ref": "OrdersReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    others = [
        name
        for name, function in resources_of_type(template, "AWS::Serverless::Function").items()
        if "ReservedConcurrentExecutions" in function["Properties"] and name != "ImportOrdersFunction"
    ]
    assert others == []
