"""What both remotes' HTTP transports share: one paced urllib3 retry built from the retry table, and the token
holder of a client whose calls carry a short-lived token.

Fastmag backs off exponentially, as urllib3 does (the first retry at once); Le New Black with full jitter, so the
concurrent batch threads that hit one overload do not come back in lock step.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import takewhile
from typing import Any, Literal, Self

import requests
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from connector import retry

type Jitter = Literal["none", "full"]

# The refresh margin is at most this share of a token's lifetime, so a short-lived token is used for most of it.
REFRESH_MARGIN_SHARE = 0.2


def full_jitter_backoff(retry_number: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Wait before retry number `retry_number` (1 for the first retry): uniform in [0, min(cap, base·2^(n-1))]."""
    if retry_number < 1:
        return 0.0
    ceiling = min(cap, base * float(2 ** (retry_number - 1)))
    return rand() * ceiling


class PacedRetry(Retry):
    """urllib3's retry policy with every wait (Retry-After or backoff) passed to `pause`, once per retry.

    `pause` lets tests check the waits without sleeping and a client count its retried requests. `jitter`
    "none" keeps urllib3's exponential backoff, "full" draws each wait with `rand` (`full_jitter_backoff`).
    Only `status_forcelist` decides which statuses are retried: urllib3 would also retry a 413, 429 or 503
    carrying Retry-After, which would be a rule outside the retry table.
    """

    def __init__(
        self,
        *args: Any,
        pause: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        jitter: Jitter = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pause = pause
        self.rand = rand
        self.jitter: Jitter = jitter
        self.RETRY_AFTER_STATUS_CODES = frozenset(self.status_forcelist or ())

    def new(self, **kw: Any) -> Self:
        # urllib3 copies the policy on every attempt and would drop these otherwise.
        return super().new(**{"pause": self.pause, "rand": self.rand, "jitter": self.jitter, **kw})

    def get_backoff_time(self) -> float:
        if self.jitter == "none":
            return super().get_backoff_time()
        # Only the current run of consecutive errors counts, as in urllib3 (redirects reset it).
        consecutive = sum(1 for _ in takewhile(lambda h: h.redirect_location is None, reversed(self.history)))
        return full_jitter_backoff(consecutive, self.backoff_factor, self.backoff_max, self.rand)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = (
            self.get_retry_after(response) if self.respect_retry_after_header and response is not None else None
        )
        self.pause(retry_after if retry_after is not None else self.get_backoff_time())


def paced_retry(
    remote: retry.Remote,
    *,
    retries: int,
    backoff_base_seconds: float,
    backoff_cap_seconds: float,
    jitter: Jitter,
    pause: Callable[[float], None],
    allowed_methods: Collection[str] | None,
    rand: Callable[[], float] = random.random,
) -> PacedRetry:
    """The transport policy of `remote`, as the retry table says: which statuses and whether a call that got no
    answer are sent again. A long Retry-After is capped at the backoff cap, so one invocation is not parked
    past its budget; if the server still refuses after that, the call fails and says so."""
    again_unanswered = None if retry.rule(remote, "unreachable").here == "backoff" else 0
    return PacedRetry(
        total=retries,
        connect=again_unanswered,
        read=again_unanswered,
        allowed_methods=allowed_methods,
        status_forcelist=retry.statuses(remote, "backoff"),
        backoff_factor=backoff_base_seconds,
        backoff_max=backoff_cap_seconds,
        retry_after_max=int(backoff_cap_seconds),
        raise_on_status=False,
        raise_on_redirect=False,
        pause=pause,
        rand=rand,
        jitter=jitter,
    )


@dataclass
class _Token:
    value: str
    refresh_at: datetime


class TokenManager:
    """Holds one token for all threads; fetches it under a lock so concurrent calls share one request.

    A token is refreshed `margin_seconds` before it expires, or after 80 % of its lifetime when that comes later
    (a 30 s token with a 60 s margin is refreshed after 24 s, not on every call)."""

    def __init__(
        self, fetch: Callable[[], tuple[str, datetime]], now: Callable[[], datetime], margin_seconds: int
    ) -> None:
        self._fetch = fetch
        self._now = now
        self._margin = timedelta(seconds=margin_seconds)
        self._token: _Token | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._now() >= self._token.refresh_at:
                value, expires_at = self._fetch()
                lifetime = max(expires_at - self._now(), timedelta(0))
                self._token = _Token(value, expires_at - min(self._margin, lifetime * REFRESH_MARGIN_SHARE))
            return self._token.value

    def invalidate(self, value: str) -> None:
        """Forget `value` after a 401, unless another thread has already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None


def session_reading_the_environment_once(base_url: str) -> requests.Session:
    """A session holding what requests reads from the environment (`trust_env`: proxies, CA bundle, .netrc
    credentials) as it reads it for `base_url` now, and no longer reading it on every call.

    requests reads them again for every call, a fifth of a batch call's CPU, and a full export makes 1 000 calls
    to the one host a client talks to; a Lambda's environment does not change while it runs. The settings
    are the ones requests would merge into each call: the environment's proxies (unless `no_proxy` spares the
    host), a CA bundle from REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, and .netrc credentials for the host."""
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or session.verify
    session.auth = requests.utils.get_netrc_auth(base_url)
    session.trust_env = False
    return session
