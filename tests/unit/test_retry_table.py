"""The retry table (connector/retry.py): every row, the fallbacks, and the image upload reading it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from connector import retry
from connector.errors import LeNewBlackAuthError, LeNewBlackError
from connector.flows.image_upload import _retryable

# Written out independently of the table: (here, by_lambda, stops_batches) for every row.
EXPECTED: dict[tuple[retry.Remote, retry.Failure], tuple[str, bool, bool]] = {
    ("lenewblack", 429): ("backoff", True, False),
    ("lenewblack", 502): ("backoff", True, False),
    ("lenewblack", 503): ("backoff", True, False),
    ("lenewblack", 504): ("backoff", True, False),
    ("lenewblack", "unreachable"): ("backoff", True, False),
    ("lenewblack", 500): ("no", True, False),
    ("lenewblack", "other 5xx"): ("no", True, False),
    ("lenewblack", 401): ("new token", True, True),
    ("lenewblack", "auth"): ("no", True, True),
    ("lenewblack", "other"): ("no", False, False),
    ("fastmag", 429): ("backoff", False, False),
    ("fastmag", 502): ("backoff", False, False),
    ("fastmag", 503): ("backoff", False, False),
    ("fastmag", 504): ("backoff", False, False),
    ("fastmag", "unreachable"): ("backoff", False, False),
    ("fastmag", "other 5xx"): ("no", False, False),
    ("fastmag", "other"): ("no", False, False),
}


def test_the_table_has_exactly_the_expected_rows() -> None:
    assert set(retry.POLICY) == set(EXPECTED)


@pytest.mark.parametrize(("key", "expected"), EXPECTED.items(), ids=[f"{r}-{f}" for r, f in EXPECTED])
def test_every_row(key: tuple[retry.Remote, retry.Failure], expected: tuple[str, bool, bool]) -> None:
    found = retry.rule(*key)
    assert (found.here, found.by_lambda, found.stops_batches) == expected
    assert found.reason.strip()


@pytest.mark.parametrize(
    ("remote", "status", "fallback"),
    [
        ("lenewblack", 507, "other 5xx"),
        ("lenewblack", 599, "other 5xx"),
        ("lenewblack", 404, "other"),
        ("lenewblack", 422, "other"),
        ("lenewblack", 301, "other"),
        ("fastmag", 500, "other 5xx"),
        ("fastmag", 413, "other"),
    ],
)
def test_a_status_without_a_row_falls_to_its_class(remote: retry.Remote, status: int, fallback: str) -> None:
    assert retry.rule(remote, status) is retry.POLICY[(remote, fallback)]  # type: ignore[index]


def test_status_lists_read_from_the_table() -> None:
    assert retry.statuses("lenewblack", "backoff") == {429, 502, 503, 504}
    assert retry.statuses("lenewblack", "new token") == {401}
    assert retry.statuses("fastmag", "backoff") == {429, 502, 503, 504}
    assert retry.statuses("fastmag", "new token") == frozenset()


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (LeNewBlackAuthError("token refused", http_status=401), "auth"),
        (LeNewBlackAuthError("no answer"), "auth"),
        (LeNewBlackError("no answer"), "unreachable"),
        (LeNewBlackError("HTTP 429", http_status=429), 429),
        (LeNewBlackError("HTTP 422", http_status=422), 422),
    ],
)
def test_failure_of_a_le_new_black_error(error: LeNewBlackError, failure: retry.Failure) -> None:
    assert retry.failure_of(error) == failure


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (LeNewBlackAuthError("token refused", http_status=401), True),
        (LeNewBlackError("no answer"), True),
        (LeNewBlackError("HTTP 429", http_status=429), True),
        (LeNewBlackError("HTTP 500", http_status=500), True),
        (LeNewBlackError("HTTP 503", http_status=503), True),
        (LeNewBlackError("HTTP 507", http_status=507), True),
        (LeNewBlackError("HTTP 404", http_status=404), False),
        (LeNewBlackError("HTTP 422", http_status=422), False),
        (LeNewBlackError("HTTP 302", http_status=302), False),
    ],
)
def test_the_image_upload_asks_lambda_for_another_try_as_today(error: LeNewBlackError, retried: bool) -> None:
    assert _retryable(error) is retried


def test_the_image_upload_reads_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    limited = LeNewBlackError("HTTP 429", http_status=429)
    refused = LeNewBlackError("HTTP 422", http_status=422)
    policy = dict(retry.POLICY)
    policy[("lenewblack", 429)] = replace(policy[("lenewblack", 429)], by_lambda=False)
    policy[("lenewblack", 422)] = retry.Rule("no", True, "test: a 422 made worth another try")
    monkeypatch.setattr(retry, "POLICY", policy)
    assert (_retryable(limited), _retryable(refused)) == (False, True)
