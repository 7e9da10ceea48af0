"""Handing a queued run to its flow function without waiting for it: long work never runs in the API call; and
asking a function a short read-only question (`ask`, waiting for its answer) that needs what the API does not hold.

In AWS the API invokes the flow function asynchronously (`InvocationType=Event`); Lambda's on-failure
destination catches what fails. Locally (make serve, tests) there is no Lambda to invoke, so the run goes to the
real handler module in a thread of the same process: the sandbox registers that invoker (`register`), since
the layer knows nothing of it. The choice is the FLOW_INVOKER environment variable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from connector.config import Environment
from connector.errors import ConnectorError, SettingsError

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient


class Invoker(Protocol):
    """Starts a flow function with a flow request event and returns at once."""

    @property
    def flows(self) -> tuple[str, ...]: ...

    def invoke(self, flow: str, event: dict[str, Any]) -> None: ...

    def ask(self, flow: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the flow's function and wait for its answer (a short read-only request, never a run)."""
        ...


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

    def ask(self, flow: str, event: dict[str, Any]) -> dict[str, Any]:
        answer = self._client.invoke(
            FunctionName=self._functions[flow], InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        body = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError") or not isinstance(body, dict):
            raise ConnectorError(f"the {flow} function failed to answer: {answer.get('FunctionError') or body!r}")
        return body


InvokerFactory = Callable[[dict[str, str]], Invoker]
# FLOW_INVOKER value → what builds that invoker from FLOW_FUNCTIONS; "lambda" is the deployed one.
_factories: dict[str, InvokerFactory] = {}


def register(name: str, factory: InvokerFactory) -> None:
    """Offer another invoker under FLOW_INVOKER=`name` (the sandbox's, which runs the handlers in threads)."""
    _factories[name] = factory


def invoker_from_environment(env: Environment) -> Invoker:
    functions = flow_functions(env)
    if env.FLOW_INVOKER != "lambda":
        try:
            factory = _factories[env.FLOW_INVOKER]
        except KeyError:
            raise SettingsError(f"FLOW_INVOKER={env.FLOW_INVOKER} names no invoker this process registered") from None
        return factory(functions)
    import boto3

    return LambdaInvoker(functions, boto3.client("lambda"))
