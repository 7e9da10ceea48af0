"""Route logic without AWS: the invoker is chosen from the environment, and a run that cannot start says so."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from connector.api import invoke, routes
from connector.api.invoke import LambdaInvoker, flow_functions, invoker_from_environment
from connector.config import Environment
from connector.errors import SettingsError
from connector.runs import RunRecord, RunStatus
from sandbox.serve import LocalInvoker
from sandbox.stack import ROOT


class FakeLambda:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        return {"StatusCode": 202}


def test_lambda_invoker_invokes_asynchronously_the_named_function() -> None:
    client = FakeLambda()
    invoker = LambdaInvoker({"stock": "stack-PushStockFunction-abc"}, client)  # type: ignore[arg-type]
    invoker.invoke("stock", {"flow": "stock", "run_id": "r1"})
    (call,) = client.calls
    assert call["FunctionName"] == "stack-PushStockFunction-abc"
    assert call["InvocationType"] == "Event"
    assert json.loads(call["Payload"]) == {"flow": "stock", "run_id": "r1"}
    assert invoker.flows == ("stock",)


@pytest.mark.parametrize("value", ["not json", '["stock"]', '{"stock": 1}'])
def test_flow_functions_must_be_a_map_of_names(value: str) -> None:
    with pytest.raises(SettingsError, match="FLOW_FUNCTIONS"):
        flow_functions(Environment(FLOW_FUNCTIONS=value))


def test_the_local_invoker_is_chosen_explicitly_and_only_once_the_sandbox_registered_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(invoke, "_factories", {})
    local = Environment(FLOW_INVOKER="local", FLOW_FUNCTIONS='{"stock": "push_stock"}')
    with pytest.raises(SettingsError, match="FLOW_INVOKER=local"):
        invoker_from_environment(local)
    invoke.register("local", LocalInvoker)
    assert isinstance(invoker_from_environment(local), LocalInvoker)
    remote = invoker_from_environment(Environment(FLOW_FUNCTIONS='{"stock": "fn"}'))
    assert isinstance(remote, LambdaInvoker)


class MemoryRuns:
    def __init__(self) -> None:
        self.records: dict[str, RunRecord] = {}

    def queue(self, record: RunRecord) -> bool:
        return self.records.setdefault(record.run_id, record) is record

    def fail_queued(self, record: RunRecord, message: str) -> bool:
        if self.records[record.run_id].status != RunStatus.QUEUED:
            return False
        self.records[record.run_id] = record.model_copy(update={"status": RunStatus.FAILED, "message": message})
        return True


class BrokenInvoker:
    flows = ("stock",)

    def invoke(self, flow: str, event: dict[str, Any]) -> None:
        raise RuntimeError("AccessDenied on lambda:InvokeFunction")


def test_a_run_that_cannot_start_is_502_and_recorded_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = MemoryRuns()
    services = SimpleNamespace(runs=runs, invoker=BrokenInvoker())
    monkeypatch.setattr(routes, "api_services_for", lambda: services)
    event = json.loads((ROOT / "events" / "api_export_start.json").read_text(encoding="utf-8"))
    answer = routes.app.resolve(event, None)  # type: ignore[arg-type]
    assert answer["statusCode"] == 502
    body = json.loads(answer["body"])
    # The caller reads a stable message and the request id; the error's text is in the log line only.
    assert body == {
        "message": "could not start the stock flow: quote the request id to support",
        "request_id": event["requestContext"]["requestId"],
    }
    (record,) = runs.records.values()
    assert record.status == RunStatus.FAILED
    assert record.message == f"{body['message']} ({body['request_id']})"
