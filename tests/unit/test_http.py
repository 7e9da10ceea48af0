"""The shared paced retry (connector/http.py): waits routed through `pause`, both backoffs, built from the table."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from urllib3.response import HTTPResponse
from urllib3.util.retry import RequestHistory, Retry

from connector import retry
from connector.fastmag.client import FastmagClient
from connector.http import PacedRetry, full_jitter_backoff, paced_retry
from connector.lenewblack.client import LeNewBlackClient
from connector.settings import FastmagSettings, LeNewBlackSettings


def test_full_jitter_backoff_ceiling_doubles_up_to_the_cap() -> None:
    assert [full_jitter_backoff(n, 0.5, 3.0, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert full_jitter_backoff(4, 0.5, 60, lambda: 0.0) == 0.0
    assert full_jitter_backoff(3, 0.5, 60, lambda: 0.25) == 0.5
    assert full_jitter_backoff(0, 0.5, 60, lambda: 1.0) == 0.0


@given(st.integers(min_value=0, max_value=64), st.floats(0, 60), st.floats(0, 600), st.floats(0, 0.999999))
def test_full_jitter_backoff_stays_within_zero_and_cap(n: int, base: float, cap: float, r: float) -> None:
    wait = full_jitter_backoff(n, base, cap, lambda: r)
    assert 0 <= wait <= cap


def _retry(pauses: list[float], jitter: str = "full") -> PacedRetry:
    return PacedRetry(
        total=3,
        status_forcelist={429, 503},
        backoff_factor=0.5,
        backoff_max=10,
        pause=pauses.append,
        rand=lambda: 1.0,
        jitter=jitter,  # type: ignore[arg-type]
    )


def test_retry_after_is_passed_to_the_pause_and_survives_new() -> None:
    pauses: list[float] = []
    again = _retry(pauses).increment("POST", "/x", response=HTTPResponse(status=429, headers={"Retry-After": "7"}))
    again.sleep(HTTPResponse(status=429, headers={"Retry-After": "7"}))
    assert pauses == [7.0]
    assert isinstance(again, PacedRetry)
    assert (again.jitter, again.rand(), again.pause) == ("full", 1.0, pauses.append)


def test_full_jitter_backoff_without_retry_after_uses_consecutive_errors() -> None:
    pauses: list[float] = []
    again = _retry(pauses)
    for _ in range(3):
        again = again.increment("POST", "/x", response=HTTPResponse(status=503))
        again.sleep(HTTPResponse(status=503))
    assert pauses == [0.5, 1.0, 2.0]
    redirected = again.new(history=(*again.history, RequestHistory("GET", "/x", None, 301, "/y")))
    assert redirected.get_backoff_time() == 0.0


def test_plain_exponential_backoff_retries_the_first_at_once() -> None:
    pauses: list[float] = []
    again = _retry(pauses, jitter="none")
    for _ in range(3):
        again = again.increment("GET", "/x", response=HTTPResponse(status=503))
        again.sleep(HTTPResponse(status=503))
    assert pauses == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("status", [413, 429, 503])
def test_only_the_status_list_decides_even_with_a_retry_after(status: int) -> None:
    paced = PacedRetry(total=3, status_forcelist={502}, pause=lambda _: None)
    assert not paced.is_retry("GET", status, has_retry_after=True)
    assert paced.is_retry("GET", 502)
    # urllib3's own Retry retries these on a Retry-After alone: the reason PacedRetry narrows it.
    assert Retry(total=3, status_forcelist={502}).is_retry("GET", status, has_retry_after=True)


@pytest.mark.parametrize("remote", ["fastmag", "lenewblack"])
def test_the_transport_retries_what_the_table_says(remote: retry.Remote) -> None:
    built = paced_retry(
        remote,
        retries=3,
        backoff_base_seconds=0.5,
        backoff_cap_seconds=10,
        jitter="none",
        pause=lambda _: None,
        allowed_methods=None,
    )
    assert built.status_forcelist == retry.statuses(remote, "backoff")
    assert (built.connect, built.read) == (None, None)  # no answer: retried within `total`
    assert built.retry_after_max == 10


def test_a_table_that_no_longer_retries_unanswered_calls_sets_the_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    row = retry.POLICY[("fastmag", "unreachable")]
    monkeypatch.setattr(retry, "POLICY", {**retry.POLICY, ("fastmag", "unreachable"): replace(row, here="no")})
    built = paced_retry(
        "fastmag",
        retries=3,
        backoff_base_seconds=0.5,
        backoff_cap_seconds=10,
        jitter="none",
        pause=lambda _: None,
        allowed_methods=None,
    )
    assert (built.connect, built.read) == (0, 0)


def _forcelists() -> tuple[object, object]:
    fastmag = FastmagClient(FastmagSettings(), "user", "password")
    lnb = LeNewBlackClient(LeNewBlackSettings(), "id", "secret")
    fastmag_read = fastmag._session.get_adapter(FastmagSettings().base_url + "/ediquery.ips").max_retries
    lnb_call = lnb._session.get_adapter(LeNewBlackSettings().base_url + "/inventory").max_retries
    return fastmag_read.status_forcelist, lnb_call.status_forcelist


def test_both_clients_take_their_status_list_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _forcelists() == ({429, 502, 503, 504}, {429, 502, 503, 504})
    policy = dict(retry.POLICY)
    for remote in ("fastmag", "lenewblack"):
        policy[(remote, 500)] = retry.Rule("backoff", False, "test: a 500 made transient")
        policy[(remote, 503)] = retry.Rule("no", False, "test: a 503 made final")
    monkeypatch.setattr(retry, "POLICY", policy)
    assert _forcelists() == ({429, 500, 502, 504}, {429, 500, 502, 504})


def test_fastmag_backoff_settings_reach_its_transport() -> None:
    settings = FastmagSettings()
    assert (settings.wire.backoff_base_seconds, settings.wire.backoff_cap_seconds) == (0.5, 10)
    wire = settings.wire.model_copy(update={"backoff_base_seconds": 2.0, "backoff_cap_seconds": 30})
    client = FastmagClient(settings.model_copy(update={"wire": wire}), "user", "password")
    reads = client._session.get_adapter(settings.base_url + "/ediquery.ips").max_retries
    assert (reads.backoff_factor, reads.backoff_max, reads.retry_after_max, reads.jitter) == (2.0, 30, 30, "none")
