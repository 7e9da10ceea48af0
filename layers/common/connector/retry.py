"""Which failed calls are tried again, and by whom: the one table every retry decision reads.

A failure is an HTTP status, or a kind with no status of its own: `unreachable` (connection refused, DNS,
timeout, dropped connection), `auth` (Le New Black's token request failed, or a fresh token was refused),
`other 5xx` and `other` (any status without a row of its own). Each row says:
- `here`: what the transport does at once. `backoff`: urllib3 sends the call again after a paced wait
  (`Retry-After` when the answer has one), up to the remote's retry setting; `new token`: fetch a token and
  send once more; `no`: the call fails.
- `by_lambda`: when the call still fails, the per-event image upload fails its invocation so Lambda tries the
  event again (then its on-failure queue); otherwise the file is reported as rejected. Scheduled runs are
  tried again by the scheduler's RetryPolicy in template.yaml whatever the failure, and the next run resends
  whatever the snapshot did not record, so no other code decides this.
- `stops_batches`: the failure is about the credentials, not the batch: the batches not yet sent would fail
  the same way, so they are reported without being sent.

Readers: `connector.http.paced_retry` (the transport's status list and connection retries, both remotes), the
Le New Black client's 401 rule and `send_batches`, and `flows/images._retryable`. Fastmag writes are never
retried whatever the failure (a resent write may duplicate an order; fastmag/client.py), so only its reads
are here. The shape follows the error maps of sync frameworks (a status or exception kind mapped to retry,
fail or ignore, with a message), written for these two remotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from connector.errors import LeNewBlackAuthError, LeNewBlackError

type Remote = Literal["fastmag", "lenewblack"]
type Failure = int | Literal["unreachable", "auth", "other 5xx", "other"]


@dataclass(frozen=True)
class Rule:
    here: Literal["backoff", "new token", "no"]
    by_lambda: bool
    reason: str
    stops_batches: bool = False


_GATEWAY = "a gateway or an overloaded server: transient, so sent again after a paced wait"
_LNB_UPSERT = " (every Le New Black write is an upsert by business key, so a resend cannot duplicate)"

POLICY: Mapping[tuple[Remote, Failure], Rule] = {
    ("lenewblack", 429): Rule("backoff", True, "rate limited: wait Retry-After when sent, else back off"),
    ("lenewblack", 502): Rule("backoff", True, _GATEWAY + _LNB_UPSERT),
    ("lenewblack", 503): Rule("backoff", True, _GATEWAY + _LNB_UPSERT),
    ("lenewblack", 504): Rule("backoff", True, _GATEWAY + _LNB_UPSERT),
    ("lenewblack", "unreachable"): Rule("backoff", True, "no answer: sent again after a paced wait" + _LNB_UPSERT),
    # The reference SDK stopped resending 500s: usually a request the server cannot handle, not a transient
    # fault. An upload event is still tried again later, by Lambda, in case it was.
    ("lenewblack", 500): Rule("no", True, "the server failed on this request: not resent at once"),
    ("lenewblack", "other 5xx"): Rule("no", True, "an unexpected server error: not resent at once"),
    ("lenewblack", 401): Rule(
        "new token", True, "the token expired or was revoked: fetch a new one, send once more", stops_batches=True
    ),
    ("lenewblack", "auth"): Rule(
        "no",
        True,
        "no token could be had (or a fresh one was refused): every later call would fail too",
        stops_batches=True,
    ),
    ("lenewblack", "other"): Rule("no", False, "the request itself was refused: sent again, it gets the same answer"),
    # urllib3 retried a 429 carrying Retry-After before this table existed: kept, so behaviour does not change.
    ("fastmag", 429): Rule("backoff", False, "rate limited: wait Retry-After when sent, else back off"),
    ("fastmag", 502): Rule("backoff", False, _GATEWAY + " (reads only SELECT)"),
    ("fastmag", 503): Rule("backoff", False, _GATEWAY + " (reads only SELECT)"),
    ("fastmag", 504): Rule("backoff", False, _GATEWAY + " (reads only SELECT)"),
    ("fastmag", "unreachable"): Rule("backoff", False, "no answer: a read is sent again after a paced wait"),
    ("fastmag", "other 5xx"): Rule("no", False, "a server error on a read: the run fails and says so"),
    ("fastmag", "other"): Rule("no", False, "the read was refused: sent again, it gets the same answer"),
}


def rule(remote: Remote, failure: Failure) -> Rule:
    """The row for `failure`; a status without a row of its own falls to `other 5xx` or `other`."""
    found = POLICY.get((remote, failure))
    if found is not None:
        return found
    fallback: Failure = "other 5xx" if isinstance(failure, int) and failure >= 500 else "other"
    return POLICY[(remote, fallback)]


def failure_of(error: LeNewBlackError) -> Failure:
    """The table's name for a Le New Black error: `auth`, `unreachable` (no status) or its HTTP status."""
    if isinstance(error, LeNewBlackAuthError):
        return "auth"
    return "unreachable" if error.http_status is None else error.http_status


def lnb_rule(error: LeNewBlackError) -> Rule:
    return rule("lenewblack", failure_of(error))


def statuses(remote: Remote, here: Literal["backoff", "new token"]) -> frozenset[int]:
    """The statuses whose row says `here` for `remote` (e.g. the transport's status_forcelist)."""
    return frozenset(
        failure
        for (row_remote, failure), row in POLICY.items()
        if row_remote == remote and isinstance(failure, int) and row.here == here
    )
