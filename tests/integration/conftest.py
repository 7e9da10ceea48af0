from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from connector import config
from sandbox.run import available_functions
from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack

# Retries in integration tests wait no real time: the backoff is configured to zero seconds.
NO_WAIT = {"lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0}}


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(settings_document=NO_WAIT) as local:
        yield local


@contextmanager
def local_invocations(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The API's runs start in threads of this process (FLOW_INVOKER=local), as Lambda's asynchronous invoke
    would start them; on exit, waits for them."""
    monkeypatch.setenv("FLOW_INVOKER", "local")
    monkeypatch.setenv("FLOW_FUNCTIONS", json.dumps(available_functions()))
    config.environment.cache_clear()
    try:
        yield
    finally:
        LocalInvoker.wait()
        config.environment.cache_clear()


@pytest.fixture
def api(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    with local_invocations(monkeypatch):
        yield stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
