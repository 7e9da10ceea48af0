"""template.yaml as data, so local tables and tests are built from the template and cannot drift from it.

    from sandbox.template import load_template, dynamodb_table_spec
    dynamodb.create_table(TableName="state", **dynamodb_table_spec(load_template()))

`transform_template` expands the SAM transform into plain CloudFormation (the IAM roles SAM generates, the
scheduler schedules...) without AWS credentials or network. It needs `aws-sam-translator`; when the current
interpreter lacks it, it runs this file with the interpreter of the SAM CLI venv (`.venv-sam`), which has it.
Run as a script: `python sandbox/template.py transform [region]`, with {"template": …, "parameters": …} on stdin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
DEFAULT_REGION = "eu-west-3"

# The keys of a GlobalSecondaryIndexes entry that DynamoDB's CreateTable accepts.
_GSI_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")

Template = dict[str, Any]


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    """Parse a CloudFormation/SAM template with its short-form intrinsics (`!Ref x` → `{"Ref": "x"}`).

    The result is plain dicts, lists and strings (JSON-compatible), detached from the YAML node types.
    """
    parsed = cfn_yaml.loads(path.read_text(encoding="utf-8"), str(path))
    template: Template = json.loads(json.dumps(parsed))
    return template


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id → resource, for every resource of `resource_type` (e.g. `AWS::Serverless::Function`)."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def _table_properties(template: Template, logical_id: str) -> dict[str, Any]:
    resource = template.get("Resources", {}).get(logical_id)
    if resource is None or resource.get("Type") != "AWS::DynamoDB::Table":
        raise KeyError(f"{logical_id} is not an AWS::DynamoDB::Table in the template")
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def dynamodb_table_spec(template: Template, logical_id: str = "StateTable") -> dict[str, Any]:
    """Keyword arguments of boto3 `create_table` (all but TableName) for the table `logical_id`."""
    properties = _table_properties(template, logical_id)
    spec: dict[str, Any] = {
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    indexes = [
        {key: index[key] for key in _GSI_KEYS if key in index} for index in properties.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        spec["GlobalSecondaryIndexes"] = indexes
    if "ProvisionedThroughput" in properties:
        spec["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    return spec


def dynamodb_ttl_spec(template: Template, logical_id: str = "StateTable") -> dict[str, Any] | None:
    """The `TimeToLiveSpecification` argument of boto3 `update_time_to_live`, or None without TTL."""
    ttl = _table_properties(template, logical_id).get("TimeToLiveSpecification")
    if not ttl:
        return None
    return {"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl.get("Enabled", False))}


def resolve(template: Template, value: Any, context: dict[str, Any]) -> Any:
    """A value with the intrinsics the schedules and conditions use (Ref, Sub, Join, If) worked out."""
    if not isinstance(value, dict):
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        if argument in context:
            return context[argument]
        parameter = template["Parameters"].get(argument)
        return value if parameter is None else parameter["Default"]  # a resource's or pseudo-parameter's: as is
    if function == "Fn::Sub":
        return re.sub(r"\$\{([\w:]+)\}", lambda match: _text(template, match[1], context), argument)
    if function == "Fn::Join":
        separator, parts = argument
        resolved = resolve(template, parts, context)
        return separator.join(str(resolve(template, part, context)) for part in resolved)
    if function == "Fn::If":
        condition, when_true, when_false = argument
        return resolve(template, when_true if condition_holds(template, condition, context) else when_false, context)
    raise ValueError(f"{function} is not an intrinsic the sandbox resolves")


def _text(template: Template, name: str, context: dict[str, Any]) -> str:
    value = resolve(template, {"Ref": name}, context)
    if isinstance(value, dict):
        raise ValueError(f"{name} is known only once deployed: give it in the parameters")
    return str(value)


def condition_holds(template: Template, name: str, parameters: dict[str, Any] | None = None) -> bool:
    """Whether the template's condition `name` holds with these parameters (the defaults for the others)."""
    context = parameters or {}

    def holds(expression: Any) -> bool:
        ((function, argument),) = expression.items()
        if function == "Condition":
            return holds(template["Conditions"][argument])
        if function == "Fn::Equals":
            left, right = (resolve(template, side, context) for side in argument)
            return str(left) == str(right)  # CloudFormation compares parameter values as strings
        if function == "Fn::Not":
            return not holds(argument[0])
        if function == "Fn::And":
            return all(holds(part) for part in argument)
        if function == "Fn::Or":
            return any(holds(part) for part in argument)
        raise ValueError(f"{function} is not a condition function")

    return holds(template["Conditions"][name])


def created_resources(
    template: Template, resource_type: str, parameters: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """`resources_of_type`, less the resources whose Condition does not hold with these parameters (defaults)."""
    return {
        logical_id: resource
        for logical_id, resource in resources_of_type(template, resource_type).items()
        if "Condition" not in resource or condition_holds(template, resource["Condition"], parameters)
    }


_SCHEDULE_PROPERTIES = ("Name", "ScheduleExpression", "ScheduleExpressionTimezone", "State", "Input")


def schedules(template: Template, stack_name: str, parameters: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The ScheduleV2 events' schedules as `create_schedule` arguments (plus their `flow`), with the template's
    parameter defaults unless `parameters` overrides them, in Scheduler's default group."""
    context = {"AWS::StackName": stack_name, **(parameters or {})}
    found = []
    for function in resources_of_type(template, "AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "ScheduleV2":
                continue
            properties = event["Properties"]
            schedule = {name: resolve(template, properties[name], context) for name in _SCHEDULE_PROPERTIES}
            found.append({"flow": json.loads(schedule["Input"])["flow"], **schedule})
    return found


# Properties that name local code or documents, which `sam package` would upload to S3.
_ARTIFACT_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


@dataclass(frozen=True)
class UploadPacing:
    """How the image uploads are paced in AWS: the event source's batch size and maximum concurrency (the
    UploadConcurrency parameter's default), and the deliveries of a message before its dead letter queue."""

    batch_size: int
    max_concurrency: int
    max_receives: int


def upload_pacing(template: Template) -> UploadPacing:
    resources = template["Resources"]
    mapping = resources["UploadImagesFunctionImageUploads"]["Properties"]
    concurrency = mapping["ScalingConfig"]["MaximumConcurrency"]
    if isinstance(concurrency, dict):
        concurrency = template["Parameters"][concurrency["Ref"]]["Default"]
    redrive = resources["ImageUploadQueue"]["Properties"]["RedrivePolicy"]
    return UploadPacing(int(mapping["BatchSize"]), int(concurrency), int(redrive["maxReceiveCount"]))


def _with_artifacts_in_s3(template: Template) -> Template:
    """A copy whose local paths are S3 URIs, as after `sam package` (the translator accepts only those)."""
    packaged: Template = json.loads(json.dumps(template))
    sections = [resource.get("Properties", {}) for resource in packaged.get("Resources", {}).values()]
    sections += packaged.get("Globals", {}).values()
    for properties in sections:
        for name in _ARTIFACT_PROPERTIES:
            value = properties.get(name)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[name] = f"s3://packaged-artifacts/{value.strip('/')}"
    return packaged


def _transform_here(template: Template, parameters: dict[str, Any], region: str) -> Template:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # A session with a region and no credentials: the translator only reads its region and partition.
    session = boto3.session.Session(region_name=region)
    translator = Translator(None, Parser(), boto_session=session)
    transformed: Template = translator.translate(
        _with_artifacts_in_s3(template),
        parameter_values=dict(parameters),
        # Managed policies are given by ARN in the template, so no IAM lookup of policy names is needed.
        get_managed_policy_map=dict,
    )
    return transformed


def transform_template(
    template: Template | None = None,
    parameters: dict[str, Any] | None = None,
    region: str = DEFAULT_REGION,
) -> Template:
    """The template after the SAM transform: plain CloudFormation, as CloudFormation would deploy it."""
    source = load_template() if template is None else template
    values = {"AWS::Region": region, "AWS::AccountId": "123456789012", **(parameters or {})}
    try:
        import samtranslator  # noqa: F401
    except ImportError:
        pass
    else:
        return _transform_here(source, values, region)
    if not SAM_PYTHON.exists():
        raise RuntimeError(f"aws-sam-translator is not installed here and {SAM_PYTHON} is missing (make build)")
    completed = subprocess.run(  # noqa: S603 - a fixed interpreter and this file, no shell
        [str(SAM_PYTHON), str(Path(__file__).resolve()), "transform", region],
        input=json.dumps({"template": source, "parameters": values}),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": region, "SAM_CLI_TELEMETRY": "0"},
        timeout=120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"SAM transform failed:\n{completed.stderr}")
    result: Template = json.loads(completed.stdout)
    return result


def _main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] != "transform":
        print("usage: template.py transform [region] < {'template': ..., 'parameters': ...}", file=sys.stderr)
        return 2
    request = json.load(sys.stdin)
    region = argv[1] if len(argv) == 2 else DEFAULT_REGION
    json.dump(_transform_here(request["template"], request.get("parameters", {}), region), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
