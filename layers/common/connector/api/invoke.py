"""Handing a queued run to its flow function without waiting for it: long work never runs in the API call.

In AWS the API invokes the flow function asynchronously (`InvocationType=Event`); Lambda's on-failure
destination catches what fails. Locally (make serve, tests) there is no Lambda to invoke, so the run goes to the
real handler module in a thread of the same process. The choice is the FLOW_INVOKER environment variable.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, Protocol

from connector.errors import SettingsError
from connector.settings import Environment

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient


class Invoker(Protocol):
    """Starts a flow function with a flow request event and returns at once."""

    @property
    def flows(self) -> tuple[str, ...]: ...

    def invoke(self, flow: str, event: dict[str, Any]) -> None: ...


def flow_functions(env: Environment) -> dict[str, str]:
    """FLOW_FUNCTIONS: flow → Lambda function name (or, locally, handler folder)."""
    try:
        functions = json.loads(env.FLOW_FUNCTIONS)
    except json.JSONDecodeError as error:
        raise SettingsError(f"FLOW_FUNCTIONS is not JSON: {error}") from error
    if not isinstance(functions, dict) or not all(isinstance(v, str) for v in functions.values()):
        raise SettingsError("FLOW_FUNCTIONS must map each flow to a function name")
    return {str(flow): name for flow, name in functions.items()}


class LambdaInvoker:
    def __init__(self, functions: dict[str, str], client: LambdaClient) -> None:
        self._functions = functions
        self._client = client

    @property
    def flows(self) -> tuple[str, ...]:
        return tuple(self._functions)

    def invoke(self, flow: str, event: dict[str, Any]) -> None:
        self._client.invoke(
            FunctionName=self._functions[flow], InvocationType="Event", Payload=json.dumps(event).encode()
        )


def invoker_from_environment(env: Environment) -> Invoker:
    functions = flow_functions(env)
    if env.FLOW_INVOKER == "local":
        # The repository's sandbox, present only where make serve and the tests run (never in the layer).
        local: Invoker = importlib.import_module("sandbox.serve").LocalInvoker(functions)
        return local
    import boto3

    return LambdaInvoker(functions, boto3.client("lambda"))
