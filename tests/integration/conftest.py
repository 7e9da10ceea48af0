from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.stack import LocalStack

# Retries in integration tests wait no real time: the backoff is configured to zero seconds.
NO_WAIT = {"lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0}}


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(settings_document=NO_WAIT) as local:
        yield local


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
