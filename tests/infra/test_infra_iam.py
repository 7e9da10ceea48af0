"""Least privilege in the roles SAM generates: read from the transformed template, as IAM will see them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

# AWS managed policies SAM attaches to every function role it generates. Both grant on Resource "*" because the
# services offer nothing narrower for these calls; no other managed policy may be attached.
ALLOWED_MANAGED_POLICIES = {
    # logs:CreateLogGroup/CreateLogStream/PutLogEvents: attached by SAM to any role it generates.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    # xray:PutTraceSegments/PutTelemetryRecords/GetSampling*: Tracing: Active; X-Ray has no resource-level scope.
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}

# Actions an inline statement may grant on Resource "*": only those AWS does not scope to a resource.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
    # Logs Insights query ids are not resources (a key's history polls its query: keys.py).
    "logs:GetQueryResults",
}
# The inline grants AWS offers no resource for (the Service Authorization Reference lists none).
INLINE_STAR_ACTIONS = {"logs:GetQueryResults"}

POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner logical id, statement) for every identity-based statement in the stack."""
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        documents: list[dict[str, Any]] = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        elif resource["Type"] in POLICY_TYPES:
            documents = [properties["PolicyDocument"]]
        for document in documents:
            for statement in _as_list(document["Statement"]):
                yield logical_id, statement


def _references(value: Any) -> set[str]:
    """Logical ids (and parameters) a CloudFormation value points at, through Ref, GetAtt and Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                for name in _sub_variables(text):
                    found |= _references(variables[name]) if name in variables else {name.split(".")[0]}
                found |= _references(variables)
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def _sub_variables(text: str) -> list[str]:
    names = []
    for part in text.split("${")[1:]:
        name = part.split("}", 1)[0]
        if not name.startswith("!") and not name.startswith("AWS::"):
            names.append(name)
    return names


def test_the_stack_has_roles_to_check(resources: dict[str, dict[str, Any]]) -> None:
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    # Two functions and three schedules, each with a role of its own.
    assert len(roles) >= 5
    assert sum(1 for _ in _statements(resources)) >= 10


def test_no_action_wildcards(resources: dict[str, dict[str, Any]]) -> None:
    broad = [
        (owner, action)
        for owner, statement in _statements(resources)
        if statement["Effect"] == "Allow"
        for action in _as_list(statement.get("Action", []))
        if action == "*" or action.endswith(":*")
    ]
    assert broad == []
    assert all("NotAction" not in statement for _, statement in _statements(resources))


def test_resource_star_only_for_actions_aws_cannot_scope(resources: dict[str, dict[str, Any]]) -> None:
    unscoped = [
        (owner, action)
        for owner, statement in _statements(resources)
        if statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource", []))
        for action in _as_list(statement["Action"])
        if action not in STAR_RESOURCE_ACTIONS
    ]
    assert unscoped == []
    assert all("NotResource" not in statement for _, statement in _statements(resources))


# The brand-owned configuration is made outside the stack (README "Configure"): its names are these parameters.
BRAND_CONFIGURATION = {"SettingsParameterName", "CredentialsSecretName", "ApiAccessSecretName"}


def test_every_allowed_resource_is_one_of_the_stacks(resources: dict[str, dict[str, Any]]) -> None:
    """No literal ARN or pattern: each granted resource is built from a resource of this stack, or from the name
    of the brand-owned configuration."""
    for owner, statement in _statements(resources):
        if statement["Effect"] != "Allow":
            continue
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                continue
            assert _references(resource) & (set(resources) | BRAND_CONFIGURATION), (owner, resource)


def test_only_the_allow_listed_managed_policies(resources: dict[str, dict[str, Any]]) -> None:
    attached = {
        arn
        for resource in resources.values()
        if resource["Type"] == "AWS::IAM::Role"
        for arn in resource["Properties"].get("ManagedPolicyArns", [])
    }
    assert attached == ALLOWED_MANAGED_POLICIES


# Every flow's function. The images flow stages files under images/ and is checked once its function exists.
FLOW_FUNCTIONS = {
    "customers": "ExportCustomersFunction",
    "products": "ExportProductsFunction",
    "prices": "ExportPricesFunction",
    "images": "ExportImagesFunction",
    "stock": "PushStockFunction",
    "orders": "ImportOrdersFunction",
    "readiness": "ReadinessFunction",
    "reconcile": "ReconcileFunction",
}
# The S3 objects each flow function may write: its own snapshots (state.SnapshotStore) with the values LNB accepted
# beside them (previews.SentValues), the previews and its task logs (images also stages its files; readiness keeps
# no snapshot and writes its reports). tests/infra/test_infra_access.py evaluates them for sample keys.
FLOW_OBJECTS = {
    "customers": {"snapshots/customers.*"},
    "products": {"snapshots/products.*", "snapshots/products-fabrics.*"},
    "prices": {"snapshots/prices.*"},
    "images": {"snapshots/images.*", "snapshots/images-colours.*", "images/*"},
    "stock": {"snapshots/stock-*"},
    "orders": set(),
}
COMMON_OBJECTS = {"previews/*", "runs/*"}
OWN_OBJECTS = {
    "readiness": {"previews/*", "runs/*", "readiness/*"},
    # A repair saves the snapshots of the flows it repairs for (its report is a preview).
    "reconcile": {
        "snapshots/stock-*",
        "snapshots/products.*",
        "snapshots/customers.*",
        "snapshots/prices.*",
        "previews/*",
        "runs/*",
    },
}

# Who may read the credentials: each flow function (Fastmag and Le New Black logins) and the upload half of the
# images flow (Le New Black). The api-access secret: the authorizer only. Not the API function: it starts runs.
SECRET_READERS = {
    "CredentialsSecretName": {*FLOW_FUNCTIONS.values(), "UploadImagesFunction"},
    # The pages check their caller themselves and Confirm opens sessions: ApiFunction reads it too.
    "ApiAccessSecretName": {"AuthorizerFunction", "ApiFunction"},
}


def _grants(role: dict[str, Any]) -> dict[str, set[str]]:
    """action → logical ids of the resources an identity policy of `role` allows it on."""
    grants: dict[str, set[str]] = {}
    for policy in role.get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            if statement["Effect"] == "Allow":
                for action in _as_list(statement["Action"]):
                    grants.setdefault(action, set()).update(_references(statement["Resource"]))
    return grants


@pytest.mark.parametrize("flow", list(FLOW_FUNCTIONS))
def test_flow_roles_reach_only_their_data(resources: dict[str, dict[str, Any]], flow: str) -> None:
    name = FLOW_FUNCTIONS[flow]
    if name not in resources:
        pytest.skip(f"{name} is not in the template yet")
    role = resources[f"{name}Role"]["Properties"]
    grants = _grants(role)
    assert grants["ssm:GetParameter"] == {"SettingsParameterName"}
    assert grants["secretsmanager:GetSecretValue"] == {"CredentialsSecretName"}
    assert grants["dynamodb:PutItem"] == {"StateTable"}
    assert "dynamodb:Scan" not in grants
    assert "dynamodb:BatchWriteItem" not in grants
    assert grants["s3:PutObject"] == {"StagingBucket"}
    assert grants["sqs:SendMessage"] == {"FlowFailureQueue"}
    assert not any(action.startswith(("s3:Delete", "iam:", "kms:", "lambda:")) for action in grants)
    assert "dynamodb:DeleteTable" not in grants

    object_grants = [
        statement
        for policy in role["Policies"]
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
        if "s3:PutObject" in _as_list(statement["Action"])
    ]
    prefixes = {sub["Fn::Sub"] for statement in object_grants for sub in _as_list(statement["Resource"])}
    expected = OWN_OBJECTS.get(flow, FLOW_OBJECTS.get(flow, set()) | COMMON_OBJECTS)
    assert prefixes == {f"${{StagingBucket.Arn}}/{key}" for key in expected}


def test_every_flow_of_the_registry_has_a_function_listed_here() -> None:
    from connector.flows import FLOWS

    assert set(FLOW_FUNCTIONS) == set(FLOWS)


def _readers(resources: dict[str, dict[str, Any]], action: str, target: str) -> set[str]:
    return {
        logical_id.removesuffix("Role")
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role" and target in _grants(resource["Properties"]).get(action, set())
    }


@pytest.mark.parametrize("secret", sorted(SECRET_READERS))
def test_only_the_functions_that_need_it_can_read_each_secret(
    resources: dict[str, dict[str, Any]], secret: str
) -> None:
    functions = {logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert _readers(resources, "secretsmanager:GetSecretValue", secret) == SECRET_READERS[secret] & functions
    assert "ApiFunction" not in _readers(resources, "secretsmanager:GetSecretValue", "CredentialsSecretName")


def test_the_authorizer_reads_the_api_tokens_and_nothing_else(resources: dict[str, dict[str, Any]]) -> None:
    grants = _grants(resources["AuthorizerFunctionRole"]["Properties"])
    assert grants == {"secretsmanager:GetSecretValue": {"ApiAccessSecretName"}}


def test_nothing_reads_the_previous_releases_placeholders(resources: dict[str, dict[str, Any]]) -> None:
    """They are retained for the upgrade (README "Upgrade") but the functions read the brand-owned ones."""
    for action in ("secretsmanager:GetSecretValue", "ssm:GetParameter"):
        assert (
            _readers(resources, action, "ConnectorSecret") | _readers(resources, action, "SettingsParameter") == set()
        )


def test_secrets_are_read_through_no_other_action(resources: dict[str, dict[str, Any]]) -> None:
    # No other way in: no statement anywhere grants any other Secrets Manager action, and no resource policy.
    other = [
        (owner, action)
        for owner, statement in _statements(resources)
        for action in _as_list(statement.get("Action", []))
        if action.startswith("secretsmanager:") and action != "secretsmanager:GetSecretValue"
    ]
    assert other == []
    assert not [r for r in resources.values() if r["Type"] == "AWS::SecretsManager::ResourcePolicy"]


def test_the_only_resource_star_grants_are_the_listed_managed_policies(resources: dict[str, dict[str, Any]]) -> None:
    """Every inline statement names its resources. Resource "*" reaches a role only through the two managed
    policies of ALLOWED_MANAGED_POLICIES (CloudWatch Logs writes, X-Ray segments), where AWS offers no scope."""
    star = [
        (owner, statement.get("Action"))
        for owner, statement in _statements(resources)
        if statement["Effect"] == "Allow"
        and "*" in _as_list(statement.get("Resource", []))
        and not set(_as_list(statement["Action"])) <= INLINE_STAR_ACTIONS
    ]
    assert star == []
    assert all("Resource" in statement for _, statement in _statements(resources))


@pytest.mark.parametrize(
    ("schedule", "function"),
    [
        ("PushStockFunctionStockSchedule", "PushStockFunction"),
        ("PushStockFunctionFullStockSchedule", "PushStockFunction"),
        ("ImportOrdersFunctionOrdersSchedule", "ImportOrdersFunction"),
        ("ReadinessFunctionReadinessSchedule", "ReadinessFunction"),
        ("ReconcileFunctionReconcileWeeklySchedule", "ReconcileFunction"),
    ],
)
def test_schedule_roles_invoke_their_function_and_feed_the_dead_letter_queue(
    resources: dict[str, dict[str, Any]], schedule: str, function: str
) -> None:
    role = resources[f"{schedule}Role"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["scheduler.amazonaws.com"]}
    grants = {
        (action, frozenset(_references(statement["Resource"])))
        for policy in role["Policies"]
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
        for action in _as_list(statement["Action"])
    }
    assert grants == {
        ("lambda:InvokeFunction", frozenset({function})),
        ("sqs:SendMessage", frozenset({"ScheduleDeadLetterQueue"})),
    }


def test_the_api_reads_exactly_the_stacks_schedules_and_names_them_to_the_status_page(
    resources: dict[str, dict[str, Any]],
) -> None:
    """The status page reads each schedule's state with one statement scoped to the stack's schedules, and the
    SCHEDULES it is given names each of them once, with the flow its Input starts."""
    schedules = {
        logical_id: resource["Properties"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Scheduler::Schedule"
    }
    assert len(schedules) == 5
    statements = [
        statement
        for owner, statement in _statements(resources)
        if any(action.startswith("scheduler:") for action in _as_list(statement["Action"]))
    ]
    assert [(statement["Action"], statement["Effect"]) for statement in statements] == [
        ("scheduler:GetSchedule", "Allow")
    ]
    assert _readers(resources, "scheduler:GetSchedule", next(iter(schedules))) == {"ApiFunction"}
    granted = sorted(_as_list(statements[0]["Resource"]), key=json.dumps)
    assert granted == sorted(({"Fn::GetAtt": [logical_id, "Arn"]} for logical_id in schedules), key=json.dumps)
    variables = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    named = json.loads(re.sub(r"\$\{(\w+)\}", r"\1", variables["SCHEDULES"]["Fn::Sub"]))
    flows = {
        logical_id: json.loads(properties["Target"]["Input"])["flow"] for logical_id, properties in schedules.items()
    }
    assert {(entry["flow"], entry["name"]) for entry in named} == {
        (flow, logical_id) for logical_id, flow in flows.items()
    }
    assert all("group" not in entry and "GroupName" not in schedules[entry["name"]] for entry in named), "default"
