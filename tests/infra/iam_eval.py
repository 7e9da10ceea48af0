"""A small IAM policy evaluator for the roles of the transformed template.

Enough of IAM's identity-policy logic to decide what a function may do: an explicit Deny wins, then any Allow,
else the implicit deny. Actions and resources match with IAM's wildcards (`*`, `?`; actions case-insensitive),
and the condition operators the template uses are implemented; any other operator raises rather than pass, so
a new condition cannot make a statement look broader or narrower than IAM would read it.

Statements are resolved first: the intrinsics SAM leaves in them (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`) become
concrete ARNs of a sample deployment (stack `connector`, parameters at their defaults).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PARTITION, REGION, ACCOUNT, STACK = "aws", "eu-west-3", "123456789012", "connector"
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": STACK,
    "AWS::URLSuffix": "amazonaws.com",
}
TABLE_ARN = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-state"
BUCKET = f"{STACK}-staging"
BUCKET_ARN = f"arn:{PARTITION}:s3:::{BUCKET}"
# What a Ref or a GetAtt of these resources answers; any other resource gets a name of its own.
NAMES = {"StateTable": f"{STACK}-state", "StagingBucket": BUCKET}
ARNS = {"StateTable": TABLE_ARN, "StagingBucket": BUCKET_ARN}


def secret_arn(name: str) -> str:
    """A secret made outside the stack: Secrets Manager appends "-" and six random characters."""
    return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-Ab12Cd"


class Resolver:
    """Intrinsics → values, for one template's parameters (their defaults) and conditions."""

    def __init__(self, template: Mapping[str, Any]) -> None:
        self._parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
        self._conditions = template.get("Conditions", {})

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, inner), *_ = node.items()
            intrinsic = {
                "Ref": self._ref,
                "Fn::GetAtt": self._get_att_node,
                "Fn::Sub": self._sub,
                "Fn::If": self._if,
                "Fn::Join": self._join,
            }.get(key)
            if intrinsic is not None:
                return intrinsic(inner)
        return {key: self.value(inner) for key, inner in node.items()}

    def _get_att_node(self, inner: Any) -> str:
        name, attribute = inner if isinstance(inner, list) else inner.split(".", 1)
        return self._get_att(name, attribute)

    def _sub(self, inner: Any) -> str:
        text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
        values = {name: self.value(value) for name, value in variables.items()}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub_variable(m.group(1), values), text)

    def _if(self, inner: Any) -> Any:
        condition, when_true, when_false = inner
        return self.value(when_true if self.condition(condition) else when_false)

    def _join(self, inner: Any) -> str:
        separator, items = inner
        return str(separator).join(self.value(items))

    def condition(self, name: str) -> bool:
        return bool(self._condition(self._conditions[name]))

    def _condition(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (key, inner), *_ = node.items()
            if key == "Fn::Equals":
                left, right = (self._condition(item) for item in inner)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._condition(inner[0])
            if key == "Fn::And":
                return all(self._condition(item) for item in inner)
            if key == "Fn::Or":
                return any(self._condition(item) for item in inner)
            if key == "Condition":
                return self.condition(inner)
        return self.value(node)

    def _ref(self, name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self._parameters:
            return self._parameters[name]
        return NAMES.get(name, name)

    def _get_att(self, name: str, attribute: str) -> str:
        if attribute == "Arn":
            return ARNS.get(name, f"arn:{PARTITION}:test:{REGION}:{ACCOUNT}:{name}")
        return f"{name}.{attribute}"

    def _sub_variable(self, name: str, values: Mapping[str, Any]) -> str:
        if name in values:
            return str(values[name])
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self._get_att(resource, attribute)
        return self._ref(name)


@dataclass(frozen=True)
class Request:
    """One API call: its action, the resource it names, and the condition keys IAM would see."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _like(value: str, patterns: list[str]) -> bool:
    return any(_wildcard(pattern).match(value) for pattern in patterns)


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    patterns = [str(item) for item in _as_list(expected)]
    present = key in request.context
    values = list(request.context.get(key, []))
    if operator == "Null":
        (wanted,) = patterns
        return (not present) if wanted.lower() == "true" else present
    if operator == "ForAllValues:StringLike":
        # Every value must match; a request without the key (no value at all) passes, as in IAM.
        return all(_like(value, patterns) for value in values)
    if operator == "StringLike":
        return present and any(_like(value, patterns) for value in values)
    if operator == "StringEquals":
        return present and any(value in patterns for value in values)
    raise NotImplementedError(f"condition operator {operator} is not implemented by this evaluator")


def matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        raise NotImplementedError("NotAction / NotResource are not implemented by this evaluator")
    actions = [str(action) for action in _as_list(statement["Action"])]
    if not any(_wildcard(action, ignore_case=True).match(request.action) for action in actions):
        return False
    if not any(_wildcard(str(resource)).match(request.resource) for resource in _as_list(statement["Resource"])):
        return False
    return all(
        _condition_holds(operator, key, expected, request)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def decide(statements: Sequence[Mapping[str, Any]], request: Request) -> bool:
    """True when the statements allow the request: no explicit Deny matches and some Allow does."""
    matched = [statement for statement in statements if matches(statement, request)]
    if any(statement["Effect"] == "Deny" for statement in matched):
        return False
    return any(statement["Effect"] == "Allow" for statement in matched)


def role_statements(resources: Mapping[str, Any], role: str, resolver: Resolver) -> list[dict[str, Any]]:
    """Every inline statement of a role, resolved (the managed policies reach only logs and X-Ray)."""
    properties = resources[role]["Properties"]
    return [
        resolver.value(statement)
        for policy in properties.get("Policies", [])
        for statement in _as_list(policy["PolicyDocument"]["Statement"])
    ]


# --- sample requests ------------------------------------------------------------------------------------------


def item(action: str, partition_key: str) -> Request:
    """A single-item call on the table (GetItem, PutItem, UpdateItem, DeleteItem) on one partition key."""
    return Request(f"dynamodb:{action}", TABLE_ARN, {"dynamodb:LeadingKeys": [partition_key]})


def index_query(partition_key: str, index: str = "by_flow") -> Request:
    """A Query on an index: the leading key is the index's partition key value in the key condition."""
    return Request("dynamodb:Query", f"{TABLE_ARN}/index/{index}", {"dynamodb:LeadingKeys": [partition_key]})


def table_query(partition_key: str) -> Request:
    """A Query on the table itself, for one partition key."""
    return Request("dynamodb:Query", TABLE_ARN, {"dynamodb:LeadingKeys": [partition_key]})


def scan() -> Request:
    """A Scan names no partition key: the request carries no dynamodb:LeadingKeys."""
    return Request("dynamodb:Scan", TABLE_ARN)


def batch_write(*partition_keys: str) -> Request:
    return Request("dynamodb:BatchWriteItem", TABLE_ARN, {"dynamodb:LeadingKeys": list(partition_keys)})


def s3_object(action: str, key: str) -> Request:
    return Request(f"s3:{action}", f"{BUCKET_ARN}/{key}")


def read_secret(name: str) -> Request:
    return Request("secretsmanager:GetSecretValue", secret_arn(name))
