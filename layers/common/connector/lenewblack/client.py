"""Le New Black Wholesale API v2 client: token, transport policy, pagination, batches, files, orders.

Facts and their confidence are in lenewblack-api.md; every behaviour marked uncertain there is handled in
all its known variants here (pagination headers present or not, batch item `status` or `success`, error
bodies in every shape seen, `expire_on` in several forms, `Retry-After` present or not).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import islice, takewhile
from typing import Any, Literal, Self
from urllib.parse import quote, urlencode

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from connector.errors import LeNewBlackAuthError, LeNewBlackError
from connector.lenewblack.models import BATCH_KEYS, BatchKey, ItemKey, ItemOutcome
from connector.observability import logger, mask_url, remote_call
from connector.settings import LeNewBlackSettings

REMOTE = "lenewblack"
AUTH_PATH = "/auth/token"
# 429 is a rate limit; 502/503/504 are gateways and overloads. 500 is left out on purpose: the reference
# SDK stopped retrying it, since a 500 is usually a request the server cannot handle, not a transient fault.
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
# The refresh margin is at most this share of a token's lifetime, so a short-lived token is used for most of it.
REFRESH_MARGIN_SHARE = 0.2
_RAW_BODY_LIMIT = 4000
_POOL_SIZE = 32


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- pure helpers (unit-tested) ----------------------------------------------------------------------------------


def full_jitter_backoff(retry_number: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Wait before retry number `retry_number` (1 for the first retry): uniform in [0, min(cap, base·2^(n-1))].

    Full jitter spreads the concurrent batch threads that hit the same overload, instead of having them
    come back in lock step.
    """
    if retry_number < 1:
        return 0.0
    ceiling = min(cap, base * float(2 ** (retry_number - 1)))
    return rand() * ceiling


def normalize_errors(value: Any) -> dict[str, list[str]]:
    """Field errors as `{field: [messages]}`; a bare string or list becomes messages under the key ``""``."""
    if value is None or value in ("", [], {}):
        return {}
    if isinstance(value, Mapping):
        normalized: dict[str, list[str]] = {}
        for field, messages in value.items():
            texts = _texts(messages)
            if texts:
                normalized[str(field)] = texts
        return normalized
    texts = _texts(value)
    return {"": texts} if texts else {}


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Mapping):
        # A nested map (e.g. per-variant errors) is flattened into "key: message" lines.
        return [f"{key}: {text}" for key, inner in value.items() for text in _texts(inner)]
    if isinstance(value, list | tuple):
        return [text for inner in value for text in _texts(inner)]
    return [str(value)]


def errors_summary(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{field}: {text}" if field else text for field, texts in errors.items() for text in texts)


def parse_error_body(body: Any) -> tuple[str | None, dict[str, list[str]]]:
    """The remote message and field errors of an error body, whatever shape it has.

    Shapes seen in the SDKs: `{"message": "..."}`, `{"message": ["...", "..."]}`, `{"error": "..."}`,
    `{"error": {"message": "...", "errors": {...}}}`, and an `errors` map at top level.
    """
    if isinstance(body, str):
        return (body.strip() or None), {}
    if not isinstance(body, Mapping):
        return None, {}
    nested = body.get("error")
    field_errors = normalize_errors(body.get("errors"))
    if not field_errors and isinstance(nested, Mapping):
        field_errors = normalize_errors(nested.get("errors"))
    candidates = [body.get("message")]
    if isinstance(nested, Mapping):
        candidates.append(nested.get("message"))
    else:
        candidates.append(nested)
    for candidate in candidates:
        texts = _texts(candidate)
        if texts:
            return "; ".join(texts), field_errors
    return (errors_summary(field_errors) or None), field_errors


_NAIVE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def parse_token_expiry(body: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the token expires, as an aware UTC datetime; None when the answer says nothing usable.

    `expire_on` is an absolute date-time (`YYYY-MM-DD HH:MM:SS`, ISO 8601 with or without zone, assumed UTC
    when naive) or an epoch number; failing that, `expires_in` seconds.
    """
    expire_on = body.get("expire_on")
    if isinstance(expire_on, int | float) and not isinstance(expire_on, bool):
        return datetime.fromtimestamp(expire_on, UTC)
    if isinstance(expire_on, str) and expire_on.strip():
        text = expire_on.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return datetime.fromtimestamp(float(text), UTC)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    expires_in = body.get("expires_in")
    if isinstance(expires_in, int | float | str) and not isinstance(expires_in, bool):
        try:
            return now + timedelta(seconds=float(expires_in))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class _Result:
    """One entry of a batch answer's `data`, read without assuming which item it is about."""

    success: bool
    errors: dict[str, list[str]]
    message: str | None
    result: dict[str, Any] | None


def _read_result(entry: Any) -> _Result:
    if not isinstance(entry, Mapping):
        return _Result(False, {}, f"unreadable batch result {entry!r}", None)
    status = entry.get("status")
    success = entry.get("success")
    if isinstance(status, str):
        accepted = status.strip().lower() == "success"
    elif isinstance(success, bool):
        accepted = success
    else:
        accepted = False
    errors = normalize_errors(entry.get("errors"))
    message = entry.get("message") if isinstance(entry.get("message"), str) else None
    if not accepted and not errors and not message:
        message = (
            f"Le New Black answered status {status!r} without errors"
            if isinstance(status, str)
            else "batch result carries neither `status` nor `success`"
        )
    result = entry.get("result")
    return _Result(accepted, errors, message, dict(result) if isinstance(result, Mapping) else None)


def parse_batch_response(
    body: Any,
    items: Sequence[Mapping[str, Any]],
    http_status: int | None,
    key: BatchKey,
    without_key: Literal["resend", "by_position"] = "resend",
) -> list[ItemOutcome]:
    """One outcome per input item, in input order, each tied to its item by the key a success result carries.

    - A success counts for an item only when its `result` names the item (`key`): at its own position first,
      elsewhere only when exactly one item not yet accepted has that key.
    - Errors name no item: they are attributed by position only when the answer has one result per item and
      every keyed success sits at its own position. Otherwise every item not accepted is "not attributable".
    - A success naming no item at all is accepted by position under that same condition with
      `without_key="by_position"`; with "resend" it is not accepted.

    An item not accepted is never recorded as pushed, so the flow reports it and sends it again next run.
    """
    data = body.get("data") if isinstance(body, Mapping) else None
    count = len(items)
    if not isinstance(data, list):
        return [
            _not_attributable(index, "unreadable batch answer: no `data` list", http_status) for index in range(count)
        ]
    results = [_read_result(entry) for entry in data]
    names = _ItemNames(key, items)
    keyed = [
        (position, found)
        for position, result in enumerate(results)
        if result.success and (found := names.named_by(result.result)) is not None
    ]
    outcomes = {
        index: _accepted(index, results[position], http_status) for index, position in _keyed_claims(keyed).items()
    }
    if count == len(results) and all(position in found for position, found in keyed):
        return [
            outcomes.get(index) or _by_position(index, results[index], http_status, without_key)
            for index in range(count)
        ]
    order = "" if count != len(results) else " out of the request's order"
    reason = f"the batch answer has {len(results)} result(s){order} for {count} item(s)"
    return [outcomes.get(index) or _not_attributable(index, reason, http_status) for index in range(count)]


class _ItemNames:
    """The batch's items by key, to find which items a success result names."""

    def __init__(self, key: BatchKey, items: Sequence[Mapping[str, Any]]) -> None:
        self._key = key
        self._positions: dict[ItemKey, list[int]] = {}
        for index, item in enumerate(items):
            item_key = key.of_item(item)
            if item_key is not None:
                self._positions.setdefault(item_key, []).append(index)
        # Items of one batch may be keyed by different fields (a price with its period, one without).
        self._shapes = {tuple(name for name, _ in item_key) for item_key in self._positions}

    def named_by(self, result: Mapping[str, Any] | None) -> list[int] | None:
        """Items a success result names (maybe none of this batch); None when it carries no key at all."""
        if result is None or not self._key.names_an_item(result):
            return None
        found = {
            index
            for shape in self._shapes
            if (result_key := BatchKey.of_result(result, shape)) is not None
            for index in self._positions.get(result_key, ())
        }
        return sorted(found)


def _keyed_claims(keyed: Sequence[tuple[int, list[int]]]) -> dict[int, int]:
    """Item index → position of the success that names it: the success at the item's own position first, else
    a success elsewhere naming exactly one item not yet accepted (two items with one key stay undecided)."""
    accepted: dict[int, int] = {}
    for position, found in keyed:
        if position in found:
            accepted[position] = position
    for position, found in keyed:
        still_open = [index for index in found if index not in accepted]
        if position not in found and len(still_open) == 1:
            accepted[still_open[0]] = position
    return accepted


def _accepted(index: int, result: _Result, http_status: int | None) -> ItemOutcome:
    return ItemOutcome(
        index=index, accepted=True, message=result.message, http_status=http_status, result=result.result
    )


def _by_position(
    index: int, result: _Result, http_status: int | None, without_key: Literal["resend", "by_position"]
) -> ItemOutcome:
    """The outcome of the item at `index` from the result at the same position (answers in request order)."""
    if not result.success:
        return ItemOutcome(
            index=index,
            accepted=False,
            errors=result.errors,
            message=result.message,
            http_status=http_status,
            result=result.result,
        )
    if without_key == "by_position":
        return _accepted(index, result, http_status)
    return _not_attributable(
        index,
        "Le New Black answered success without naming the item (setting lenewblack.batch_success_without_key)",
        http_status,
    )


def _not_attributable(index: int, reason: str, http_status: int | None) -> ItemOutcome:
    return ItemOutcome(
        index=index,
        accepted=False,
        message=f"outcome not attributable: {reason}; the item may or may not have been saved, it is sent again",
        http_status=http_status,
        attributable=False,
    )


def _json_default(value: Any) -> Any:
    """Encode what `model_dump()` (python mode) leaves in a payload."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    raise TypeError(f"cannot send {type(value).__name__} to Le New Black as JSON")


# --- transport -------------------------------------------------------------------------------------------------


class PacedRetry(Retry):
    """urllib3's retry policy with full-jitter backoff, and every wait routed through `pause`.

    `pause` receives each wait (Retry-After or backoff) once per retry, so tests can check the wait without
    sleeping and the client can count retried requests.
    """

    def __init__(
        self,
        *args: Any,
        pause: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pause = pause
        self.rand = rand

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.pause = self.pause
        retry.rand = self.rand
        return retry

    def get_backoff_time(self) -> float:
        # Only the current run of consecutive errors counts, as in urllib3 (redirects reset it).
        consecutive = sum(1 for _ in takewhile(lambda h: h.redirect_location is None, reversed(self.history)))
        return full_jitter_backoff(consecutive, self.backoff_factor, self.backoff_max, self.rand)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = (
            self.get_retry_after(response) if self.respect_retry_after_header and response is not None else None
        )
        self.pause(retry_after if retry_after is not None else self.get_backoff_time())


@dataclass
class _Token:
    value: str
    refresh_at: datetime


class _TokenManager:
    """Holds one token for all threads; fetches it under a lock so concurrent batches share one request.

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


class LeNewBlackClient:
    """One client per invocation; safe to share between the batch threads it starts itself."""

    def __init__(
        self,
        settings: LeNewBlackSettings,
        client_id: str,
        client_secret: SecretStr | str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utc_now,
        rand: Callable[[], float] = random.random,
        page_size_parameter: str | None = None,
    ) -> None:
        """`page_size_parameter`: name of a page-size query parameter to send (e.g. `page_size`); whether the
        server honours one is unknown, so by default none is sent and `settings.page_size` only tells the
        client what a full page is.
        """
        self.settings = settings
        self._base = settings.base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self._sleep = sleep
        self._now = now
        self._rand = rand
        self._timeout = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
        self._page_size_parameter = page_size_parameter
        self._counter_lock = threading.Lock()
        self.calls = 0
        self.token_calls = 0
        self._session = session or requests.Session()
        self._session.headers["Accept"] = "application/json"
        # Connections are opened on demand, so a pool as large as the highest allowed concurrency costs
        # nothing and gives every batch thread its own connection, whatever concurrency send_batches gets.
        pool = max(settings.concurrency, _POOL_SIZE)
        self._session.mount(
            f"{self._base}/",
            HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=self._retry(self._data_retry)),
        )
        # The token endpoint gets its own adapter only so its retries are counted apart from data calls.
        self._session.mount(
            f"{self._base}{AUTH_PATH}",
            HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=self._retry(self._token_retry)),
        )
        self._tokens = _TokenManager(self._fetch_token, now, settings.token_refresh_margin_seconds)

    # --- counters and retry policy ---------------------------------------------------------------------------

    def _retry(self, on_retry: Callable[[float], None]) -> PacedRetry:
        settings = self.settings
        return PacedRetry(
            total=settings.max_retries,
            # Every LNB write is an upsert by business key (model, reference, code, ean13…), so sending a
            # POST again after a timeout or a dropped connection cannot create a duplicate: retry all methods.
            allowed_methods=None,
            status_forcelist=RETRIED_STATUSES,
            backoff_factor=settings.backoff_base_seconds,
            backoff_max=settings.backoff_cap_seconds,
            # A long Retry-After is capped so one invocation is not parked past its budget; if the server is
            # still limiting after that, the call fails and the items are reported and sent again next run.
            retry_after_max=int(settings.backoff_cap_seconds),
            raise_on_status=False,
            raise_on_redirect=False,
            pause=on_retry,
            rand=self._rand,
        )

    def _count(self, *, token: bool) -> None:
        with self._counter_lock:
            if token:
                self.token_calls += 1
            else:
                self.calls += 1

    def _data_retry(self, seconds: float) -> None:
        self._count(token=False)
        self._pause(seconds)

    def _token_retry(self, seconds: float) -> None:
        self._count(token=True)
        self._pause(seconds)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    # --- token -----------------------------------------------------------------------------------------------

    def authenticate(self) -> None:
        """Fetch a token now (`connector check`): LeNewBlackAuthError says why the credentials do not open LNB."""
        self._fetch_token()

    def _fetch_token(self) -> tuple[str, datetime]:
        body = {
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        with remote_call(REMOTE, "POST", AUTH_PATH) as log:
            self._count(token=True)
            try:
                response = self._session.post(
                    self._base + AUTH_PATH,
                    data=json.dumps(body),
                    headers={"Content-Type": "application/json"},
                    timeout=self._timeout,
                )
            except requests.RequestException as error:
                log["reason"] = type(error).__name__
                raise LeNewBlackAuthError(
                    f"token request failed: Le New Black could not be reached ({mask_url(str(error))})"
                ) from None
            log["http_status"] = response.status_code
        payload = _response_json(response, "POST", AUTH_PATH, error_type=LeNewBlackAuthError)
        if not response.ok:
            raise _error_from_response(response, "POST", AUTH_PATH, payload, LeNewBlackAuthError)
        token = payload.get("access_token") if isinstance(payload, Mapping) else None
        if not isinstance(token, str) or not token:
            raise LeNewBlackAuthError(
                "token request answered without an access_token", http_status=response.status_code
            )
        now = self._now()
        expires_at = parse_token_expiry(payload, now)
        if expires_at is None or expires_at <= now:
            # Unknown, unreadable or already-past expiry (e.g. a server clock or zone we guessed wrong): use a
            # default lifetime rather than fetch a token per call; a 401 still triggers a refresh.
            if expires_at is not None:
                logger.warning(
                    "Le New Black token expiry is in the past; using a default lifetime",
                    extra={"remote": REMOTE, "expire_on": str(payload.get("expire_on"))},
                )
            expires_at = now + timedelta(seconds=DEFAULT_TOKEN_LIFETIME_SECONDS)
        return token, expires_at

    # --- requests --------------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        accept_statuses: frozenset[int] = frozenset(),
    ) -> tuple[requests.Response, Any]:
        """Send one call (with the adapter's retries), refreshing the token once on a 401.

        Returns the response and its parsed JSON (None for an empty body). Non-2xx statuses raise
        LeNewBlackError, except those in `accept_statuses`, which the caller reads itself.
        """
        query = dict(params or {})
        shown = f"{path}?{urlencode(query)}" if query else path
        data: bytes | Mapping[str, str] | None = None
        headers: dict[str, str] = {}
        if json_body is not None:
            data = json.dumps(json_body, default=_json_default, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = form
        for attempt in (1, 2):
            token = self._tokens.get()
            with remote_call(REMOTE, method, shown) as log:
                self._count(token=False)
                try:
                    response = self._session.request(
                        method,
                        self._base + path,
                        params={**query, "access_token": token},
                        data=data,
                        files=files,
                        headers=headers,
                        timeout=self._timeout,
                    )
                except requests.RequestException as error:
                    log["reason"] = type(error).__name__
                    # The exception text carries the URL, hence the token: mask it, and drop the chain.
                    raise LeNewBlackError(
                        f"{method} {path}: Le New Black could not be reached ({mask_url(str(error))})"
                    ) from None
                log["http_status"] = response.status_code
                retries = getattr(response.raw, "retries", None)
                if retries is not None and retries.history:
                    log["retries"] = len(retries.history)
            if response.status_code != 401:
                break
            if attempt == 1:
                self._tokens.invalidate(token)
        payload = _response_json(response, method, path)
        if response.status_code == 401:
            raise _error_from_response(response, method, path, payload, LeNewBlackAuthError)
        if not response.ok and response.status_code not in accept_statuses:
            raise _error_from_response(response, method, path, payload, LeNewBlackError)
        return response, payload

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params)[1]

    def post(self, path: str, json: Any) -> Any:
        return self._request("POST", path, json_body=json)[1]

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)[1]

    # --- lists -----------------------------------------------------------------------------------------------

    def iter_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of a paginated list (a bare JSON array per page, `page` from 1).

        `X-Pagination-Has-More` decides when the server sends it; otherwise a full page means "ask for the
        next" and a short or empty page ends the list.
        """
        page_size = self.settings.page_size
        base_params = dict(params or {})
        if self._page_size_parameter:
            base_params[self._page_size_parameter] = page_size
        page = 1
        while True:
            response, body = self._request("GET", path, params={**base_params, "page": page})
            if not isinstance(body, list):
                raise LeNewBlackError(
                    f"GET {path} page {page}: expected a JSON array, got {type(body).__name__}",
                    http_status=response.status_code,
                    raw_body=_raw(response),
                )
            rows = [row for row in body if isinstance(row, dict)]
            if rows:
                yield rows
            has_more = response.headers.get("X-Pagination-Has-More")
            if not body:
                return
            if has_more is not None:
                if has_more.strip().lower() != "true":
                    return
            elif len(body) < page_size:
                return
            page += 1

    def list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [row for page in self.iter_pages(path, params) for row in page]

    # --- batches ---------------------------------------------------------------------------------------------

    def multi(self, resource: str, items: Sequence[Mapping[str, Any]]) -> list[ItemOutcome]:
        """One `POST /multi/{resource}`; one outcome per input item, in input order, matched by key."""
        if not items:
            return []
        name = resource.strip("/")
        key = BATCH_KEYS.get(name)
        if key is None:  # a result could not be tied to its item: refuse rather than guess
            raise ValueError(f"no batch key declared for {name!r} in BATCH_KEYS")
        path = f"/multi/{name}"
        # A 400/422 that still carries per-item `data` is a partly failed batch, not a failed call.
        response, body = self._request(
            "POST", path, json_body={"requests": list(items)}, accept_statuses=frozenset({400, 422})
        )
        if not response.ok and not (isinstance(body, Mapping) and isinstance(body.get("data"), list)):
            raise _error_from_response(response, "POST", path, body, LeNewBlackError)
        outcomes = parse_batch_response(body, items, response.status_code, key, self.settings.batch_success_without_key)
        unattributed = [outcome for outcome in outcomes if not outcome.attributable]
        if unattributed:
            logger.warning(
                f"{len(unattributed)} of {len(items)} {name} outcome(s) could not be tied to their item",
                extra={
                    "event": "batch.unattributable",
                    "http_status": response.status_code,
                    "reason": unattributed[0].reason,
                },
            )
        return outcomes

    def send_batches(
        self,
        resource: str,
        items: Sequence[Mapping[str, Any]],
        *,
        batch_size: int | None = None,
        concurrency: int | None = None,
    ) -> Iterator[tuple[int, ItemOutcome]]:
        """Send `items` in batches, several at once; yield `(index in items, outcome)` as batches finish.

        Every item gets exactly one outcome. A batch that fails as a whole gives each of its items a
        rejection carrying the HTTP status and message; the other batches go on. After an authentication
        failure the remaining batches are not sent (they would fail the same way) and are reported so.
        """
        size = batch_size or self.settings.batch_size
        workers = concurrency or self.settings.concurrency
        starts = iter(range(0, len(items), size))
        auth_failure: list[LeNewBlackAuthError] = []

        def send(batch: Sequence[Mapping[str, Any]]) -> list[ItemOutcome]:
            if auth_failure:
                return _failed(len(batch), auth_failure[0])
            try:
                return self.multi(resource, batch)
            except LeNewBlackAuthError as error:
                auth_failure.append(error)
                return _failed(len(batch), error)
            except LeNewBlackError as error:
                logger.warning(
                    f"batch of {len(batch)} {resource} failed as a whole: {error}",
                    extra={"event": "batch.failed", "http_status": error.http_status, "reason": str(error)},
                )
                return _failed(len(batch), error)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lnb-batch") as pool:
            # At most `workers` batches in flight: memory stays flat and a consumer that stops early does
            # not leave hundreds of queued requests behind.
            pending: dict[Future[list[ItemOutcome]], int] = {
                pool.submit(send, items[start : start + size]): start for start in islice(starts, workers)
            }
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    start = pending.pop(future)
                    following = next(starts, None)
                    if following is not None:
                        pending[pool.submit(send, items[following : following + size])] = following
                    for outcome in future.result():
                        yield start + outcome.index, outcome

    # --- files -----------------------------------------------------------------------------------------------

    def upload_product_image(  # noqa: PLR0917 - the positional order is the one the image flow uses
        self, model: str, fabric_code: str, image_index: int, content: bytes, filename: str, content_type: str
    ) -> dict[str, Any]:
        """Put an image in slot `image_index` of the variant (model, fabric_code); multipart, binary file."""
        _, body = self._request(
            "POST",
            "/files/products",
            form={"model": model, "fabric_code": fabric_code, "image_index": str(image_index)},
            files={"file": (filename, content, content_type)},
        )
        return dict(body) if isinstance(body, Mapping) else {}

    def delete_product_image(self, model: str, fabric_code: str, image_index: int) -> None:
        self.delete(f"/files/products/{_segment(model)}/{_segment(fabric_code)}/{image_index}")

    # --- orders ----------------------------------------------------------------------------------------------

    def list_orders(self, status: str, **filters: Any) -> list[dict[str, Any]]:
        """Every order in `status` (all pages); extra filters such as `update_time_from` pass through."""
        return self.list_all("/orders", {"status": status, **filters})

    def set_order_status(self, reference: str, status: str) -> dict[str, Any]:
        body = self.post("/orders/status", {"reference": reference, "status": status})
        return dict(body) if isinstance(body, Mapping) else {}


# --- response helpers ------------------------------------------------------------------------------------------


def _segment(value: str) -> str:
    return quote(value, safe="")


def _raw(response: requests.Response) -> str:
    return response.text[:_RAW_BODY_LIMIT]


def _response_json(
    response: requests.Response, method: str, path: str, error_type: type[LeNewBlackError] = LeNewBlackError
) -> Any:
    """The parsed body; None when empty. A non-JSON success is an error; a non-JSON failure keeps its text."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        if response.ok:
            raise error_type(
                f"{method} {path}: answer is not JSON", http_status=response.status_code, raw_body=_raw(response)
            ) from None
        return _raw(response)


def _error_from_response(
    response: requests.Response, method: str, path: str, body: Any, error_type: type[LeNewBlackError]
) -> LeNewBlackError:
    remote, field_errors = parse_error_body(body)
    # A gateway's HTML page is no message for support; the status line says more.
    if remote and isinstance(body, str) and body.lstrip().startswith("<"):
        remote = None
    detail = remote or response.reason or "no message"
    return error_type(
        f"HTTP {response.status_code} on {method} {path}: {detail}",
        http_status=response.status_code,
        field_errors=field_errors,
        raw_body=body if body is not None else _raw(response),
    )


def _failed(count: int, error: LeNewBlackError) -> list[ItemOutcome]:
    return [
        ItemOutcome(
            index=index,
            accepted=False,
            errors=error.field_errors,
            message=str(error),
            http_status=error.http_status,
        )
        for index in range(count)
    ]
