"""Shared fixtures: a quiet AWS environment for unit tests, the local stack and the task log for the rest."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.observability import logger
from connector.state import forget_kept_snapshots
from tests import properties

# Unit tests must never find real credentials or a real region; the local stack overrides these.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "FastmagLeNewBlack",
        "POWERTOOLS_SERVICE_NAME": "connector",
    }
)


class TaskLog:
    """The JSON lines the connector logged during a test, as support would read them in Logs Insights."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == event]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def task_log() -> Iterator[TaskLog]:
    log = TaskLog()
    previous = logger.registered_handler.setStream(log.stream)
    try:
        yield log
    finally:
        logger.registered_handler.setStream(previous)


@pytest.fixture(autouse=True)
def cold_container() -> None:
    """Every test starts as a cold Lambda container: no snapshot kept warm by an earlier test."""
    forget_kept_snapshots()


# --- scheduling over xdist workers (make pytest: -n 2 --dist loadfile --no-loadscope-reorder) ---------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`long_running` tests first: xdist hands out the files in collection order (without its reordering, which put
    the files of fewest tests, the 5 000-file export among them, last), so no worker is left running one alone at
    the end while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)


# --- hypothesis example counts (tests/properties.py) ---------------------------------------------------------

_SESSION_START = time.time()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    properties.record(item.name.split("[", 1)[0])


FAULT_MATRIX = Path(__file__).resolve().parent / "artifacts" / "fault-matrix.md"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = properties.report(_SESSION_START)
    if rows:
        terminalreporter.section("hypothesis examples run per property")
        for name, ran, planned in rows:
            terminalreporter.write_line(f"{name:<70} {ran:>6} (max_examples={planned})")
    # Written by tests/integration/test_faults.py (possibly in an xdist worker): shown once, here.
    if FAULT_MATRIX.exists() and FAULT_MATRIX.stat().st_mtime >= _SESSION_START:
        terminalreporter.section("fault matrix (tests/artifacts/fault-matrix.md)")
        terminalreporter.write_line(FAULT_MATRIX.read_text(encoding="utf-8"))
