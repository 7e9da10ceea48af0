"""One flow registry (`connector.flows.FLOWS`): the template, the handlers and the sample events agree with it,
and the deployed layer never reaches for the sandbox that tests it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from connector.events import FlowRequest
from connector.flows import FLOWS, load_flow

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "connector"


def _flow_functions(template: dict[str, Any]) -> dict[str, str]:
    """ApiFunction's FLOW_FUNCTIONS: flow → the logical id of the function a button starts."""
    variables = template["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    return dict(json.loads(re.sub(r"\$\{(\w+)\}", r"\1", variables["FLOW_FUNCTIONS"]["Fn::Sub"])))


def test_the_template_starts_one_function_per_registered_flow_in_its_folder(template: dict[str, Any]) -> None:
    functions = _flow_functions(template)
    assert list(functions) == list(FLOWS)
    for flow, logical_id in functions.items():
        code = template["Resources"][logical_id]["Properties"]["CodeUri"]
        assert code.rstrip("/") == f"functions/{FLOWS[flow].function_dir}", flow


@pytest.mark.parametrize("flow", list(FLOWS))
def test_each_handler_names_its_own_flow_once(flow: str) -> None:
    source = (ROOT / "functions" / FLOWS[flow].function_dir / "app.py").read_text(encoding="utf-8")  # type: ignore[index]
    named = [
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "handler_for"
        and isinstance(node.args[0], ast.Constant)
    ]
    assert named == [flow]


@pytest.mark.parametrize("flow", list(FLOWS))
def test_each_sample_event_is_a_request_of_its_flow_and_the_module_runs_it(flow: str) -> None:
    spec = FLOWS[flow]  # type: ignore[index]
    event = json.loads((ROOT / "events" / f"{spec.sample_event}.json").read_text(encoding="utf-8"))
    assert FlowRequest.parse(flow, event).flow == flow  # type: ignore[arg-type]
    assert callable(load_flow(flow))


def test_an_unknown_flow_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="stock"):
        load_flow("stok")


def _sandbox_references(path: Path) -> list[str]:
    """Imports of `sandbox` and module names `sandbox…` written as text (importlib.import_module("sandbox.x"))."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        found += [f"{path}:{node.lineno}: {name}" for name in names if re.match(r"sandbox(\.|$)", name)]
    return found


def test_nothing_in_the_layer_imports_or_loads_the_sandbox() -> None:
    assert [ref for path in sorted(LAYER.rglob("*.py")) for ref in _sandbox_references(path)] == []


def test_the_scan_finds_an_import_and_a_module_loaded_by_name(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text('import sandbox.stack\nimport importlib\nimportlib.import_module("sandbox.serve")\n')
    assert len(_sandbox_references(probe)) == 2
