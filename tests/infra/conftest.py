"""Fixtures of the infrastructure tests: the template as written, and as CloudFormation will deploy it."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.template import load_template, transform_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml with its intrinsics as data (`!Ref X` → `{"Ref": "X"}`)."""
    return load_template()


@pytest.fixture(scope="session")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The template after the SAM transform: the generated roles, schedules and invoke configs."""
    return transform_template(template)


@pytest.fixture(scope="session")
def resources(transformed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = transformed["Resources"]
    return resources
