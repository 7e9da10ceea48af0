"""Typed errors carrying what support needs: the key, the reason, the remote message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class SettingsError(ConnectorError):
    """The settings document or the secret is invalid; the message names the field."""


class FastmagError(ConnectorError):
    """Fastmag refused a call (`KO|<message>`) or answered something unreadable."""

    def __init__(self, message: str, *, remote_message: str | None = None) -> None:
        super().__init__(message)
        self.remote_message = remote_message


class FastmagTransportError(FastmagError):
    """Fastmag could not be reached (timeout, connection refused, HTTP error) on a read."""


class FastmagOutcomeUnknown(FastmagError):
    """A write may or may not have been committed: look it up before sending again.

    `accepted_lines`: with one transaction per call, how many lines Fastmag had accepted before the doubt.
    """

    def __init__(self, message: str, *, remote_message: str | None = None, accepted_lines: int = 0) -> None:
        super().__init__(message, remote_message=remote_message)
        self.accepted_lines = accepted_lines


class FastmagNotSent(FastmagError):
    """The write's body never left (DNS failure, connection refused, connect timeout, TLS handshake): nothing
    reached Fastmag, so sending it again cannot duplicate it."""


class FastmagPartialWrite(FastmagError):
    """With one transaction per call, Fastmag accepted the first `accepted` lines of `total`, then refused one
    or never received it: a partial order now sits in Fastmag."""

    def __init__(self, message: str, *, accepted: int, total: int, remote_message: str | None = None) -> None:
        super().__init__(message, remote_message=remote_message)
        self.accepted = accepted
        self.total = total


class LeNewBlackError(ConnectorError):
    """Le New Black answered an error; carries the HTTP status, the message and field errors."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        field_errors: dict[str, list[str]] | None = None,
        raw_body: Any = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.field_errors = field_errors or {}
        self.raw_body = raw_body


class LeNewBlackAuthError(LeNewBlackError):
    """The token request failed, or a fresh token was refused."""


class ValidationProblem(ConnectorError):
    """A source record cannot be sent as it is; `reason` says why, `key` says which."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class ErrorList(Protocol):
    """What `describe` reads: pydantic's ValidationError, or Powertools' RequestValidationError."""

    def errors(self) -> Sequence[Any]: ...


def field_problems(error: ErrorList, *, root: str = "") -> list[tuple[str, str]]:
    """(field path, message) per problem. The messages are pydantic's (which never hold the input), the input
    itself is never read: it may be a password, an email address or anything a caller sent."""
    problems = []
    for item in error.errors():
        loc = list(item["loc"])
        if item["type"] == "json_invalid":
            # Invalid JSON is reported at a character position: the field is the document itself.
            loc = [part for part in loc if not isinstance(part, int)]
        problems.append((".".join(map(str, loc)) or root, str(item["msg"])))
    return problems


def describe(error: ErrorList, *, root: str = "", with_messages: bool = True) -> str:
    """One line naming each bad field: `a.b: message; c: message`, or with `with_messages=False` only the
    fields (`a.b, c`), for documents whose validators may quote the value (a secret)."""
    problems = field_problems(error, root=root)
    if not with_messages:
        return ", ".join(field for field, _ in problems)
    return "; ".join(f"{field}: {message}" for field, message in problems)
