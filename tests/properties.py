"""Property tests that say how much they tried: each runs a fixed number of hypothesis examples, counted.

    @given(st.binary())
    @examples(300)
    def test_reader_never_raises_anything_else(body: bytes) -> None: ...

`examples(n)` sets `max_examples=n` (no deadline: some properties call a local stack) and counts the examples
hypothesis actually ran; tests/conftest.py writes the counts to tests/artifacts/hypothesis-examples/ and
prints them at the end of the session.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

COUNTS_DIR = Path(__file__).resolve().parent / "artifacts" / "hypothesis-examples"

# examples run per property in this process (an xdist worker runs a property whole, in one process)
RUN: Counter[str] = Counter()
PLANNED: dict[str, int] = {}


def examples[F: Callable[..., Any]](count: int) -> Callable[[F], F]:
    def decorate(test: F) -> F:
        PLANNED[test.__name__] = count

        @functools.wraps(test)
        def counted(*args: Any, **kwargs: Any) -> Any:
            RUN[test.__name__] += 1
            return test(*args, **kwargs)

        configured: F = settings(
            max_examples=count,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )(counted)
        return configured

    return decorate


def record(name: str) -> None:
    """Write how many examples the property `name` ran (called after the test)."""
    if name not in PLANNED:
        return
    COUNTS_DIR.mkdir(parents=True, exist_ok=True)
    (COUNTS_DIR / f"{name}.txt").write_text(f"{RUN[name]} {PLANNED[name]}\n", encoding="utf-8")


def report(since: float) -> list[tuple[str, int, int]]:
    """(property, examples run, max_examples) for every count written since `since` (a timestamp)."""
    rows = []
    for path in sorted(COUNTS_DIR.glob("*.txt")) if COUNTS_DIR.exists() else []:
        if path.stat().st_mtime >= since:
            ran, planned = (int(value) for value in path.read_text(encoding="utf-8").split())
            rows.append((path.stem, ran, planned))
    return rows
