"""The `api-access` secret: who may use the export API, read by the authorizer and the API function only.

- `api_tokens`: bearer tokens for scripts (`Authorization: Bearer <token>`), never put in a link.
- `link_codes`: one per Fastmag button, `{"flow": "stock", "code": "…"}`; a link code only opens its flow's
  confirm page, and confirming there exchanges it for a short session. Removing it revokes the link and every
  session opened from it.
- `session_signing_key`: the HMAC key of the session cookies and of the pages' CSRF tokens; replacing it ends
  every open session.
- `session_minutes`: how long a session lasts after Confirm.

Every credential is at least 32 characters drawn at random (`connector secret --generate api-access FILE`
writes a fresh document); a weaker one is refused when the secret is read or written, naming the field.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

MIN_LENGTH = 32
# Thirty-two characters of one or two letters repeated are not random: a floor on the distinct characters
# refuses such placeholders ("aaaa…", "changeme" pasted four times) without judging real random strings.
MIN_DISTINCT = 12
DEFAULT_SESSION_MINUTES = 30


def _strong(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    # The message never quotes the value (secret documents' errors are shown).
    if len(text) < MIN_LENGTH or len(set(text)) < MIN_DISTINCT:
        raise ValueError(
            f"too weak: use at least {MIN_LENGTH} random characters "
            "(`connector secret --generate api-access FILE` writes strong ones)"
        )
    return value


StrongSecret = Annotated[SecretStr, AfterValidator(_strong)]


class LinkCode(BaseModel):
    """One Fastmag button's code: opens the confirm page of `flow` only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow: str = Field(min_length=1, pattern=r"^[a-z_]+$")
    code: StrongSecret


class ApiAccess(BaseModel):
    """The `api-access` secret document (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_tokens: tuple[StrongSecret, ...] = ()
    link_codes: tuple[LinkCode, ...] = ()
    session_signing_key: StrongSecret | None = None
    session_minutes: int = Field(default=DEFAULT_SESSION_MINUTES, ge=1, le=12 * 60)


def new_credential() -> str:
    """43 URL-safe characters from 32 random bytes."""
    return secrets.token_urlsafe(32)


def new_api_access(flows: tuple[str, ...]) -> dict[str, Any]:
    """A fresh api-access document: one script token, one link code per flow, a signing key."""
    return {
        "api_tokens": [new_credential()],
        "link_codes": [{"flow": flow, "code": new_credential()} for flow in flows],
        "session_signing_key": new_credential(),
        "session_minutes": DEFAULT_SESSION_MINUTES,
    }
