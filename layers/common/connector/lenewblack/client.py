"""Le New Black Wholesale API v2 client: the endpoints (token, pagination, batches, files, orders).

Facts and their confidence are in lenewblack-api.md. Reading the answers is wire.py's job; when a failed call is
sent again is the retry table's (connector/retry.py), applied by the shared transport (connector/http.py) and
by the 401 rule and the batch sender here.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import batched
from typing import Any
from urllib.parse import quote, urlencode

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter

from connector import retry
from connector.errors import LeNewBlackAuthError, LeNewBlackError
from connector.http import PacedRetry, TokenManager, paced_retry, session_reading_the_environment_once
from connector.json_text import read_json
from connector.lenewblack.models import BATCH_KEYS, BatchKey, ItemOutcome
from connector.lenewblack.wire import (
    batch_failed,
    encode_body,
    parse_batch_response,
    parse_error_body,
    parse_token_expiry,
)
from connector.observability import logger, mask_url, remote_call
from connector.settings import LeNewBlackSettings

REMOTE: retry.Remote = "lenewblack"
AUTH_PATH = "/auth/token"
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
_RAW_BODY_LIMIT = 4000
_POOL_SIZE = 32


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _BatchCall:
    """One `POST /multi/{name}` ready to go: its items and their JSON body."""

    name: str
    key: BatchKey
    items: Sequence[Mapping[str, Any]]
    body: bytes

    @property
    def path(self) -> str:
        return f"/multi/{self.name}"


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
        self._session = session or session_reading_the_environment_once(self._base)
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
        self._tokens = TokenManager(self._fetch_token, now, settings.token_refresh_margin_seconds)

    # --- counters and retry policy ---------------------------------------------------------------------------

    def _retry(self, on_retry: Callable[[float], None]) -> PacedRetry:
        settings = self.settings
        return paced_retry(
            REMOTE,
            retries=settings.max_retries,
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_cap_seconds=settings.backoff_cap_seconds,
            jitter="full",
            pause=on_retry,
            # Every LNB write is an upsert by business key (model, reference, code, ean13…), so sending a
            # POST again after a timeout or a dropped connection cannot create a duplicate: retry all methods.
            allowed_methods=None,
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
        """Send one call (with the adapter's retries), refreshing the token once on a 401 (the retry table's
        `new token` statuses).

        Returns the response and its parsed JSON (None for an empty body). Non-2xx statuses raise
        LeNewBlackError, except those in `accept_statuses`, which the caller reads itself.
        """
        data: bytes | Mapping[str, str] | None = form
        if json_body is not None:
            data = encode_body(json_body)
        response = self._exchange(method, path, params=params, data=data, as_json=json_body is not None, files=files)
        return response, self._answer(response, method, path, accept_statuses)

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: bytes | Mapping[str, str] | None = None,
        as_json: bool = False,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> requests.Response:
        """`_request`'s call, its answer not read yet (`_answer`); `as_json`: `data` is a JSON body."""
        query = dict(params or {})
        shown = f"{path}?{urlencode(query)}" if query else path
        headers = {"Content-Type": "application/json"} if as_json else {}
        new_token = retry.statuses(REMOTE, "new token")
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
            if response.status_code not in new_token:
                break
            if attempt == 1:
                self._tokens.invalidate(token)
        return response

    @staticmethod
    def _answer(response: requests.Response, method: str, path: str, accept_statuses: frozenset[int]) -> Any:
        """The parsed JSON of `_exchange`'s answer (see `_request`)."""
        payload = _response_json(response, method, path)
        if response.status_code in retry.statuses(REMOTE, "new token"):
            raise _error_from_response(response, method, path, payload, LeNewBlackAuthError)
        if not response.ok and response.status_code not in accept_statuses:
            raise _error_from_response(response, method, path, payload, LeNewBlackError)
        return payload

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
        call = self._batch_call(resource, items)
        return self._outcomes(call, self._exchange("POST", call.path, data=call.body, as_json=True))

    def _batch_call(self, resource: str, items: Sequence[Mapping[str, Any]]) -> _BatchCall:
        name = resource.strip("/")
        key = BATCH_KEYS.get(name)
        if key is None:  # a result could not be tied to its item: refuse rather than guess
            raise ValueError(f"no batch key declared for {name!r} in BATCH_KEYS")
        return _BatchCall(name, key, items, encode_body({"requests": list(items)}))

    def _outcomes(self, call: _BatchCall, response: requests.Response) -> list[ItemOutcome]:
        """The outcome of each item of `call` from LNB's answer; LeNewBlackError when the batch failed whole."""
        # A 400/422 that still carries per-item `data` is a partly failed batch, not a failed call.
        body = self._answer(response, "POST", call.path, frozenset({400, 422}))
        if not response.ok and not (isinstance(body, Mapping) and isinstance(body.get("data"), list)):
            raise _error_from_response(response, "POST", call.path, body, LeNewBlackError)
        outcomes = parse_batch_response(
            body, call.items, response.status_code, call.key, self.settings.batch_success_without_key
        )
        unattributed = [outcome for outcome in outcomes if not outcome.attributable]
        if unattributed:
            logger.warning(
                f"{len(unattributed)} of {len(call.items)} {call.name} outcome(s) could not be tied to their item",
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
        items: Iterable[Mapping[str, Any]],
        *,
        batch_size: int | None = None,
        concurrency: int | None = None,
    ) -> Iterator[tuple[int, ItemOutcome]]:
        """Send `items` in batches, several at once; yield `(position in items, outcome)` as batches finish.

        `items` are taken a batch at a time as batches finish, one batch ahead of those in flight: a generator that
        maps them runs while earlier batches wait on LNB, and at most `concurrency` + 1 batches are taken and not
        yet answered. Every item taken gets exactly one outcome. A batch that fails as a whole gives each of its
        items a rejection carrying the HTTP status and message; the other batches go on. After a failure the retry
        table marks `stops_batches` (authentication), the remaining batches are not sent and are reported so. If
        taking items raises, the batches taken are still sent and answered, then the error is raised."""
        size = batch_size or self.settings.batch_size
        workers = concurrency or self.settings.concurrency
        batches = batched(items, size, strict=False)
        stopped_by: list[LeNewBlackError] = []

        def failed(call: _BatchCall, error: LeNewBlackError) -> list[ItemOutcome]:
            if retry.lnb_rule(error).stops_batches:
                stopped_by.append(error)
            else:
                logger.warning(
                    f"batch of {len(call.items)} {resource} failed as a whole: {error}",
                    extra={"event": "batch.failed", "http_status": error.http_status, "reason": str(error)},
                )
            return batch_failed(len(call.items), error)

        # A batch thread only waits on LNB: the body is encoded, and a successful answer read, by the thread taking
        # the items, while other batches are out. Reading an answer that echoes every item cost the batch threads
        # more CPU than the call itself, and a thread busy reading is a thread not sending the next batch. A failed
        # answer is read at once, so that one that stops the batches stops those not yet sent.
        def send(call: _BatchCall) -> requests.Response | list[ItemOutcome]:
            if stopped_by:
                return batch_failed(len(call.items), stopped_by[0])
            try:
                response = self._exchange("POST", call.path, data=call.body, as_json=True)
                return response if response.ok else self._outcomes(call, response)
            except LeNewBlackError as error:
                return failed(call, error)

        def outcomes(call: _BatchCall, answer: requests.Response | list[ItemOutcome]) -> list[ItemOutcome]:
            if isinstance(answer, list):
                return answer
            try:
                return self._outcomes(call, answer)
            except LeNewBlackError as error:
                return failed(call, error)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lnb-batch") as pool:
            # batch → its call and the position of its first item
            pending: dict[Future[requests.Response | list[ItemOutcome]], tuple[_BatchCall, int]] = {}
            failure: Exception | None = None
            taken, more = 0, True
            while more or pending:
                # `workers` batches in flight and one queued behind them: a thread that finishes starts the next
                # batch at once, while this thread takes (maps) the one after.
                while more and len(pending) <= workers:
                    try:
                        batch = next(batches)
                    except StopIteration:
                        more = False
                    except Exception as error:  # the caller's generator: raised once the batches taken are answered
                        failure, more = error, False
                    else:
                        call = self._batch_call(resource, batch)
                        pending[pool.submit(send, call)] = call, taken
                        taken += len(batch)
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    call, start = pending.pop(future)
                    for outcome in outcomes(call, future.result()):
                        yield start + outcome.index, outcome
            if failure is not None:
                raise failure

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
        return read_json(response.content)
    except ValueError:
        pass  # not UTF-8 JSON: read as requests reads it, its encoding guessed
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
