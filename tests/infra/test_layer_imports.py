"""Every handler imports with nothing but what Lambda will have: the standard library, the layer's pinned
requirements (and what they depend on), the runtime's boto3, and the code of the layer and the function.

The dev venv holds much more (moto brings the X-Ray SDK, for one), so an import that only works here would
otherwise pass every other test and crash in AWS.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "layers" / "common" / "requirements.txt"
RUNTIME_PROVIDED = ("boto3",)  # the python3.13 Lambda runtime ships boto3 and botocore
HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))

GUARD = """
import importlib.abc, importlib.util, json, os, sys
allowed = set(json.loads(os.environ["ALLOWED_MODULES"]))
stdlib = os.path.dirname(os.__file__) + os.sep  # the interpreter's own library, not the venv's
class Guard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in allowed | set(sys.stdlib_module_names):
            return None
        for finder in sys.meta_path[1:]:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            origin = spec.origin or "" if spec is not None else ""
            if origin.startswith(stdlib) and "site-packages" not in origin:
                return spec  # a private module of the standard library (e.g. _sysconfigdata_…)
        raise ModuleNotFoundError(f"{name} is not in the layer, the runtime or the standard library", name=name)
sys.meta_path.insert(0, Guard())
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
"""


def _requirement_names(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        requirement = line.split("#")[0].strip()
        if requirement and ";" not in requirement:
            names.append(re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0])
    return names


def _closure(distributions: list[str]) -> set[str]:
    """The distributions and everything they require (extras left out), as installed here."""
    seen: set[str] = set()
    pending = list(distributions)
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" not in requirement:
                pending.extend(_requirement_names([requirement.split(";")[0]]))
    return seen


def allowed_modules() -> set[str]:
    distributions = _closure([*_requirement_names(LAYER_REQUIREMENTS.read_text().splitlines()), *RUNTIME_PROVIDED])
    modules = {
        module
        for module, owners in metadata.packages_distributions().items()
        if any(owner.lower().replace("_", "-") in distributions for owner in owners)
    }
    return modules | {"connector"}


def test_the_layer_requirements_name_no_boto3_or_botocore() -> None:
    names = {name.lower() for name in _requirement_names(LAYER_REQUIREMENTS.read_text().splitlines())}
    assert not names & {"boto3", "botocore"}


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_imports_with_only_the_layer_and_the_runtime(handler: str) -> None:
    environment = {
        "ALLOWED_MODULES": json.dumps(sorted(allowed_modules())),
        "PYTHONPATH": str(ROOT / "layers" / "common"),
        "AWS_DEFAULT_REGION": "eu-west-3",
        "POWERTOOLS_SERVICE_NAME": "connector",
        "PATH": "/usr/bin:/bin",
    }
    answer = subprocess.run(
        [sys.executable, "-c", GUARD, str(ROOT / "functions" / handler / "app.py")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
