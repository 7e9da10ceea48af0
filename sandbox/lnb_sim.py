"""A stateful Le New Black Wholesale API v2 simulator, for tests, benchmarks and `make run`.

It follows lenewblack-api.md: token by `POST /auth/token`, `access_token` query parameter, bare-array pages
with `X-Pagination-*` headers, `{"requests": [...]}` batches answered item by item, multipart image upload,
orders and their status. Every behaviour the reference marks uncertain is a switch (a plain attribute set
from a test), so the client is exercised against each variant:

    pagination_headers   send `X-Pagination-*` headers (True) or not
    page_size            rows per page (500)
    batch_item_form      per-item result key: "status" (`"success"`/`"error"`) or "success" (boolean)
    item_errors_form     per-item `errors`: "map" (field → messages) or "string"
    batch_failure_status HTTP status of a batch where some items failed (200; 207 or 422 are plausible)
    batch_results_dropped  drop the last N entries of every batch answer's `data` (0)
    batch_middle_result_dropped  drop the entry in the middle of every batch answer's `data` (False)
    batch_results_reversed  answer `data` in the reverse of the request's order (False)
    batch_success_echoes_key  a success's `result` is the saved object, key included (True), or null
    error_shape          error bodies: "message", "array" (message list), "nested" (`error.message`),
                         "error_string" (`error` is the text)
    token_lifetime_seconds, expire_on_form ("datetime" `YYYY-MM-DD HH:MM:SS` UTC, "iso", "epoch",
                         "expires_in"), accept_bearer_header
    max_batch_size       over it the whole batch is refused with a 422 (None: no limit)
    latency_seconds      added to every call
    auto_create_fabrics  a product naming an unknown fabric creates it (True) or is refused
    prices_require_variant  a price for an unknown (model, fabric_code) is refused (True)
    inventory_requires_known_item  stock for an EAN/SKU no product carries is refused (False)
    buyer_emails_taken   buyer emails another retailer holds: a retailer naming one is refused with a
                         `buyers.<n>.email` error on that buyer only (empty)
    normalising          reads answer as a re-rendering server would (numbers as strings, lists of objects
                         reordered, server fields added, nulls left out, countries upper case; lnb_normalise.py)
    price_lists, order_statuses, image_slots   the configured sets

and fault injection: `fail_next`, `refuse_next` (the write never left), `drop_connection_next` (the answer is
lost), `fail_after_apply` (a 503 page after the write), `reject_items`, `expire_tokens`.
Every request is recorded in `requests`, except refused ones (`refused`); `data_calls()` leaves out token calls.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from sandbox.background import BackgroundServer
from sandbox.credentials import SANDBOX_SECRET
from sandbox.lnb_normalise import normalised

BASE_PATH = "/apis/wholesale/v2"
DEFAULT_PRICE_LISTS = frozenset({"WHOLESALE-EUR", "RETAIL-EUR"})
DEFAULT_ORDER_STATUSES = frozenset(
    {"draft", "open_for_buyer", "open_for_brand", "confirmed", "invoicing", "closed", "canceled", "blocked"}
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_ISO2 = re.compile(r"^[A-Z]{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EAN13 = re.compile(r"^\d{13}$")

ItemErrors = dict[str, list[str]]
# The reads a normalising simulator re-renders (the reconciliation's reads).
_NORMALISED_READS = frozenset(
    {
        "list_products",
        "get_product",
        "get_variant",
        "list_retailers",
        "get_retailer",
        "list_prices",
        "list_prices_by_size",
        "list_fabrics",
        "list_inventory",
        "get_inventory_ean",
        "get_inventory_sku",
    }
)
ItemPredicate = Callable[[Mapping[str, Any]], bool]
Handled = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # relative to the base path, e.g. "/multi/inventory/ean"
    query: dict[str, str]
    items: int | None  # number of items of a batch; None for other calls
    status: int
    body: Any


@dataclass(frozen=True)
class StoredImage:
    content: bytes
    sha256: str
    filename: str
    content_type: str


@dataclass
class _Fault:
    prefix: str
    status: int
    times: int
    retry_after: int | None


@dataclass
class _Drop:
    prefix: str
    times: int


@dataclass
class _ArmedFaults:
    """What the fault helpers armed; each entry is consumed by the calls its prefix matches."""

    failures: list[_Fault] = field(default_factory=list)  # fail_next: an error status instead of handling
    refusals: list[_Drop] = field(default_factory=list)  # refuse_next: closed without handling
    drops: list[_Drop] = field(default_factory=list)  # drop_connection_next: handled, then closed
    failures_after_apply: list[_Fault] = field(default_factory=list)  # fail_after_apply: handled, then an error page

    def clear(self) -> None:
        self.failures.clear()
        self.refusals.clear()
        self.drops.clear()
        self.failures_after_apply.clear()


@dataclass(frozen=True)
class _Rejection:
    resource: str
    matches: ItemPredicate
    errors: ItemErrors


@dataclass(frozen=True)
class _Resource:
    key: Callable[[Mapping[str, Any]], str]
    validate: Callable[[Mapping[str, Any]], ItemErrors]
    save: Callable[[Mapping[str, Any]], dict[str, Any]]


class _Problem(Exception):
    """An error answer: status, message, field errors and extra headers."""

    def __init__(
        self, status: int, message: str, errors: ItemErrors | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}
        self.headers = headers or {}


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: tests assert on `requests` instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def _now_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _required(item: Mapping[str, Any], fields: Iterable[str], prefix: str = "") -> ItemErrors:
    return {f"{prefix}{name}": ["is required"] for name in fields if item.get(name) in (None, "", [])}


def _is_stock(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


class LeNewBlackSimulator:
    """Le New Black on 127.0.0.1 (a free port by default), in a daemon thread. Use it as a context manager."""

    normalising = False  # a switch (module docstring); a test sets it on the instance

    def __init__(  # noqa: PLR0915 - one statement per switch and per store, read in one place
        self,
        *,
        client_id: str = SANDBOX_SECRET["lnb_client_id"],
        client_secret: str = SANDBOX_SECRET["lnb_client_secret"],
        price_lists: Collection[str] = DEFAULT_PRICE_LISTS,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.price_lists: set[str] = set(price_lists)
        self.order_statuses: set[str] = set(DEFAULT_ORDER_STATUSES)
        self.image_slots = 8
        # switches (see the module docstring)
        self.pagination_headers = True
        self.page_size = 500
        self.batch_item_form: Literal["status", "success"] = "status"
        self.item_errors_form: Literal["map", "string"] = "map"
        self.batch_failure_status = 200
        self.batch_results_dropped = 0
        self.batch_middle_result_dropped = False
        self.batch_results_reversed = False
        self.batch_success_echoes_key = True
        self.error_shape: Literal["message", "array", "nested", "error_string"] = "message"
        self.token_lifetime_seconds = 3600
        self.expire_on_form: Literal["datetime", "iso", "epoch", "expires_in"] = "datetime"
        self.accept_bearer_header = True
        self.max_batch_size: int | None = None
        self.latency_seconds = 0.0
        self.auto_create_fabrics = True
        self.prices_require_variant = True
        self.inventory_requires_known_item = False
        self.buyer_emails_taken: set[str] = set()
        # Called with (method, path below the base path) before each call is handled: a test's barrier holds a call
        # here until it releases it, to run two clients in an exact order.
        self.before_handling: Callable[[str, str], None] | None = None
        # state
        self.products: dict[str, dict[str, Any]] = {}
        self.fabrics: dict[str, dict[str, Any]] = {}
        self.collections: dict[str, dict[str, Any]] = {}  # made by POST /collections, or by a product naming one
        self.retailers: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.prices_by_size: dict[str, dict[str, Any]] = {}
        self.inventory_ean: dict[str, dict[str, Any]] = {}
        self.inventory_sku: dict[str, dict[str, Any]] = {}
        self.images: dict[tuple[str, str, int], StoredImage] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.status_changes: list[tuple[str, str | None, str]] = []
        self.requests: list[RecordedRequest] = []
        self.tokens: dict[str, datetime] = {}
        self.max_in_flight = 0
        self._in_flight = 0
        self.refused: list[tuple[str, str]] = []  # (method, path) of the calls refused by `refuse_next`
        self._armed = _ArmedFaults()
        self._rejections: list[_Rejection] = []
        self._eans: set[str] = set()
        self._skus: set[str] = set()
        self._lock = threading.RLock()
        self._host = host
        self._port = port
        self._background: BackgroundServer | None = None
        self._resources = {
            "products": _Resource(lambda i: str(i.get("model")), self._validate_product, self._save_product),
            "fabrics": _Resource(lambda i: str(i.get("code")), self._validate_fabric, self._save_fabric),
            "collections": _Resource(lambda i: str(i.get("code")), self._validate_collection, self._save_collection),
            "retailers": _Resource(lambda i: str(i.get("reference")), self._validate_retailer, self._save_retailer),
            "prices": _Resource(self._price_key, self._validate_price, self._save_price),
            "prices_by_size": _Resource(self._price_key, self._validate_price_by_size, self._save_price_by_size),
            "inventory/ean": _Resource(lambda i: str(i.get("ean13")), self._validate_ean, self._save_ean),
            "inventory/sku": _Resource(lambda i: str(i.get("sku")), self._validate_sku, self._save_sku),
        }
        self._routes = Map(
            [
                Rule("/auth/token", methods=["POST"], endpoint="token"),
                Rule("/multi/<path:resource>", methods=["POST"], endpoint="multi"),
                Rule("/products", methods=["GET"], endpoint="list_products"),
                Rule("/products/<model>", methods=["GET"], endpoint="get_product"),
                Rule("/products/<model>/<fabric_code>", methods=["GET"], endpoint="get_variant"),
                Rule("/fabrics", methods=["GET"], endpoint="list_fabrics"),
                Rule("/fabrics/<code>", methods=["GET"], endpoint="get_fabric"),
                Rule("/collections", methods=["GET"], endpoint="list_collections"),
                Rule("/retailers", methods=["GET"], endpoint="list_retailers"),
                Rule("/retailers/<reference>", methods=["GET"], endpoint="get_retailer"),
                Rule("/prices", methods=["GET"], endpoint="list_prices"),
                Rule("/prices_by_size", methods=["GET"], endpoint="list_prices_by_size"),
                Rule("/inventory", methods=["GET"], endpoint="list_inventory"),
                Rule("/inventory/ean/<ean13>", methods=["GET"], endpoint="get_inventory_ean"),
                Rule("/inventory/sku/<sku>", methods=["GET"], endpoint="get_inventory_sku"),
                Rule(
                    "/<any(products, fabrics, collections, retailers, prices, prices_by_size):resource>",
                    methods=["POST"],
                    endpoint="single",
                ),
                Rule("/inventory/<any(ean, sku):kind>", methods=["POST"], endpoint="single_inventory"),
                Rule("/files/products", methods=["POST"], endpoint="upload_image"),
                Rule("/files/products/<model>/<fabric_code>/<int:index>", methods=["DELETE"], endpoint="delete_image"),
                Rule("/files/products/<model>/<fabric_code>/<int:index>", methods=["GET"], endpoint="image_file"),
                Rule("/orders", methods=["GET"], endpoint="list_orders"),
                Rule("/orders/status", methods=["POST"], endpoint="order_status"),
                Rule("/orders/<reference>", methods=["GET"], endpoint="get_order"),
            ]
        )

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> LeNewBlackSimulator:
        server = make_server(self._host, self._port, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._background = BackgroundServer(server, "lnb-sim")
        return self

    def stop(self) -> None:
        if self._background is not None:
            self._background.stop()
            self._background = None

    def __enter__(self) -> LeNewBlackSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL the client is configured with."""
        if self._background is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self._host}:{self._background.port}{BASE_PATH}"

    # --- test helpers ------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC)

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (the client must ask for a new one)."""
        with self._lock:
            expired = self.now() - timedelta(seconds=1)
            self.tokens = dict.fromkeys(self.tokens, expired)

    def fail_next(self, path_prefix: str, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """The next `times` calls whose path starts with `path_prefix` answer `status` (before auth, like a
        gateway), with a `Retry-After` header when given."""
        with self._lock:
            self._armed.failures.append(_Fault(path_prefix, status, times, retry_after))

    def refuse_next(self, path_prefix: str, times: int = 1) -> None:
        """The next `times` matching calls are closed without an answer and without being handled, so nothing is
        applied: "the write never left", as a refused connection or a proxy cutting the call leaves it."""
        with self._lock:
            self._armed.refusals.append(_Drop(path_prefix, times))

    def fail_after_apply(self, path_prefix: str, status: int = 503, times: int = 1) -> None:
        """The next `times` matching calls are processed (writes applied), then answered `status` with a gateway's
        HTML page instead of their answer: "applied, then 503"."""
        with self._lock:
            self._armed.failures_after_apply.append(_Fault(path_prefix, status, times, None))

    def drop_connection_next(self, path_prefix: str, times: int = 1) -> None:
        """The next `times` matching calls are processed (writes committed) and then the connection is closed
        without an answer: "write committed but connection dropped"."""
        with self._lock:
            self._armed.drops.append(_Drop(path_prefix, times))

    def reject_items(
        self,
        resource: str,
        predicate_or_keys: ItemPredicate | Collection[str],
        errors: ItemErrors | str,
    ) -> None:
        """Items of `resource` (e.g. "products", "inventory/ean") matching the predicate, or whose business key
        (model, code, reference, ean13, sku; `model|fabric|price list` for prices) is in the collection, fail
        with `errors`, in batches and single calls alike, until `clear_rejections()`."""
        spec = self._known(resource)
        if callable(predicate_or_keys):
            matches = predicate_or_keys
        else:
            keys = {str(key) for key in predicate_or_keys}

            def matches(item: Mapping[str, Any]) -> bool:
                return spec.key(item) in keys

        field_errors = {"": [errors]} if isinstance(errors, str) else {k: list(v) for k, v in errors.items()}
        with self._lock:
            self._rejections.append(_Rejection(resource.strip("/"), matches, field_errors))

    def clear_faults(self) -> None:
        """Forget every armed `fail_next`, `refuse_next`, `drop_connection_next` and `fail_after_apply`."""
        with self._lock:
            self._armed.clear()

    def clear_rejections(self) -> None:
        with self._lock:
            self._rejections.clear()

    def add_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Seed an order (status defaults to "invoicing"); returns the stored copy."""
        if not order.get("reference"):
            raise ValueError("an order needs a reference")
        stamp = _now_text(self.now())
        stored = {"status": "invoicing", "create_time": stamp, "update_time": stamp, "items": [], **deepcopy(order)}
        stored["reference"] = str(order["reference"])
        with self._lock:
            self.orders[stored["reference"]] = stored
        return deepcopy(stored)

    def seed(self, resource: str, items: Iterable[Mapping[str, Any]]) -> None:
        """Store items directly (validated, not recorded as requests)."""
        spec = self._known(resource)
        with self._lock:
            for item in items:
                problems = spec.validate(item)
                if problems:
                    raise ValueError(f"{resource} {spec.key(item)}: {problems}")
                spec.save(item)

    def data_calls(self) -> list[RecordedRequest]:
        """Recorded calls other than token requests."""
        with self._lock:
            return [r for r in self.requests if r.path != "/auth/token"]

    def token_calls(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/auth/token"]

    def items_sent(self, path_prefix: str = "/multi/") -> int:
        """Total items in recorded batches whose path starts with `path_prefix`."""
        with self._lock:
            return sum(r.items or 0 for r in self.requests if r.path.startswith(path_prefix))

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- WSGI ----------------------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        relative = request.path[len(BASE_PATH) :] if request.path.startswith(BASE_PATH) else None
        with self._lock:
            refuse = relative is not None and self._consume(self._armed.refusals, relative)
            if refuse:
                self.refused.append((request.method, relative or request.path))
        if refuse:
            # Nothing is handled: the body is read only to discard it (left unread, the server would parse it as the
            # next request on the kept-alive connection), then the connection is closed without an answer.
            request.get_data()
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("simulated refused connection")
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency_seconds:
                time.sleep(self.latency_seconds)
            if self.before_handling is not None and relative is not None:
                self.before_handling(request.method, relative)
            body = self._body(request)
            status, payload, headers = self._handle(request, relative, body)
            with self._lock:
                failure = relative is not None and self._consume(self._armed.failures_after_apply, relative)
            if failure:
                status, payload, headers = failure.status, self._gateway_page(failure.status), {}
        finally:
            with self._lock:
                self._in_flight -= 1
        items = len(body["requests"]) if isinstance(body, dict) and isinstance(body.get("requests"), list) else None
        with self._lock:
            self.requests.append(
                RecordedRequest(request.method, relative or request.path, dict(request.args), items, status, body)
            )
            drop = relative is not None and self._consume(self._armed.drops, relative)
        if drop:
            # The work is done; now vanish without an answer, as a dropped connection does.
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("simulated dropped connection")
        if isinstance(payload, Response):
            return payload(environ, start_response)
        response = Response(
            b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode(),
            status=status,
            mimetype="application/json",
            headers=headers,
        )
        return response(environ, start_response)

    @staticmethod
    def _body(request: Request) -> Any:
        if request.mimetype == "multipart/form-data":
            return dict(request.form)
        if not request.get_data():
            return None
        return request.get_json(silent=True, force=True)

    def _handle(self, request: Request, relative: str | None, body: Any) -> Handled:
        try:
            if relative is None:
                raise _Problem(404, f"no route for {request.path}")
            with self._lock:
                fault = self._consume(self._armed.failures, relative)
            if fault is not None:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                raise _Problem(fault.status, f"simulated HTTP {fault.status}", headers=headers)
            try:
                endpoint, arguments = self._routes.bind("sim").match(relative, method=request.method)
            except HTTPException as error:
                raise _Problem(error.code or 404, f"{request.method} {relative}: {error.name}") from None
            if endpoint not in ("token", "image_file"):
                self._authorize(request)
            handler: Callable[..., Handled] = getattr(self, f"_ep_{endpoint}")
            status, payload, headers = handler(request, body, **arguments)
            if self.normalising and endpoint in _NORMALISED_READS:
                payload = normalised(payload)
            return status, payload, headers
        except _Problem as problem:
            return problem.status, self._error_body(problem.message, problem.errors), problem.headers

    @staticmethod
    def _gateway_page(status: int) -> Response:
        line = f"{status} {HTTPStatus(status).phrase}"
        page = f"<html><head><title>{line}</title></head><body><h1>{line}</h1></body></html>"
        return Response(page, status=status, mimetype="text/html")

    def _consume[T: (_Fault, _Drop)](self, queue: list[T], relative: str) -> T | None:
        for entry in queue:
            if relative.startswith(entry.prefix) and entry.times > 0:
                entry.times -= 1
                if entry.times == 0:
                    queue.remove(entry)
                return entry
        return None

    def _error_body(self, message: str, errors: ItemErrors) -> dict[str, Any]:
        extra: dict[str, Any] = {"errors": errors} if errors else {}
        match self.error_shape:
            case "array":
                return {"message": [message], **extra}
            case "nested":
                return {"error": {"message": message, **extra}}
            case "error_string":
                return {"error": message, **extra}
            case _:
                return {"message": message, **extra}

    def _authorize(self, request: Request) -> None:
        token = request.args.get("access_token")
        header = request.headers.get("Authorization", "")
        if token is None and self.accept_bearer_header and header.lower().startswith("bearer "):
            token = header[7:].strip()
        with self._lock:
            expires_at = self.tokens.get(token or "")
        if expires_at is None or expires_at <= self.now():
            raise _Problem(401, "invalid or expired access token")

    # --- endpoints: auth -------------------------------------------------------------------------------------

    def _ep_token(self, request: Request, body: Any) -> Handled:
        if not isinstance(body, dict):
            raise _Problem(400, "expected a JSON body with client_id, client_secret and grant_type")
        if body.get("grant_type") != "client_credentials":
            raise _Problem(400, "grant_type must be client_credentials")
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            raise _Problem(401, "invalid client credentials")
        token = secrets.token_urlsafe(24)
        expires_at = self.now() + timedelta(seconds=self.token_lifetime_seconds)
        with self._lock:
            self.tokens[token] = expires_at
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "scope": "brand"}
        match self.expire_on_form:
            case "iso":
                answer["expire_on"] = expires_at.isoformat()
            case "epoch":
                answer["expire_on"] = int(expires_at.timestamp())
            case "expires_in":
                answer["expires_in"] = self.token_lifetime_seconds
            case _:
                answer["expire_on"] = _now_text(expires_at)
        return 200, answer, {}

    # --- endpoints: writes -----------------------------------------------------------------------------------

    def _resource(self, name: str) -> _Resource:
        spec = self._resources.get(name.strip("/"))
        if spec is None:
            raise _Problem(404, f"unknown resource {name!r}")
        return spec

    def _known(self, resource: str) -> _Resource:
        """The resource for a test helper: a typo in a test is an error, not a silently ignored rule."""
        spec = self._resources.get(resource.strip("/"))
        if spec is None:
            raise ValueError(f"unknown resource {resource!r}; known: {sorted(self._resources)}")
        return spec

    def _write(self, resource: str, item: Any) -> tuple[dict[str, Any] | None, ItemErrors]:
        """Validate and save one item under the lock; (saved object, no errors) or (None, errors)."""
        spec = self._resource(resource)
        if not isinstance(item, dict):
            return None, {"": ["each request must be a JSON object"]}
        with self._lock:
            for rejection in self._rejections:
                if rejection.resource == resource and rejection.matches(item):
                    return None, deepcopy(rejection.errors)
            problems = spec.validate(item)
            if problems:
                return None, problems
            return spec.save(item), {}

    def _ep_single(self, request: Request, body: Any, resource: str) -> Handled:
        saved, problems = self._write(resource, body)
        if problems:
            raise _Problem(422, "validation failed", problems)
        return 201, saved, {}

    def _ep_single_inventory(self, request: Request, body: Any, kind: str) -> Handled:
        return self._ep_single(request, body, f"inventory/{kind}")

    def _ep_multi(self, request: Request, body: Any, resource: str) -> Handled:
        resource = resource.strip("/")
        self._resource(resource)
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list):
            raise _Problem(422, 'expected a JSON body {"requests": [...]}', {"requests": ["is required"]})
        if self.max_batch_size is not None and len(requests) > self.max_batch_size:
            raise _Problem(
                422,
                f"too many requests in one batch: {len(requests)} > {self.max_batch_size}",
                {"requests": [f"at most {self.max_batch_size} items"]},
            )
        data = []
        for item in requests:
            saved, problems = self._write(resource, item)
            data.append(self._batch_entry(saved, problems))
        failures = sum(1 for entry in data if not self._entry_ok(entry))
        answer = {
            "metadata": {
                "total_requests": len(requests),
                "total_successes": len(requests) - failures,
                "total_errors": failures,
            },
            "data": self._answer_data(data),
        }
        return (self.batch_failure_status if failures else 200), answer, {}

    def _answer_data(self, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The `data` list as the switches shape it: results dropped (at the end or in the middle), reversed."""
        if self.batch_results_dropped:
            data = data[: len(data) - self.batch_results_dropped]
        if self.batch_middle_result_dropped and data:
            data = data[: len(data) // 2] + data[len(data) // 2 + 1 :]
        return data[::-1] if self.batch_results_reversed else data

    def _batch_entry(self, saved: dict[str, Any] | None, problems: ItemErrors) -> dict[str, Any]:
        errors: Any = problems
        if self.item_errors_form == "string":
            errors = "; ".join(f"{k}: {m}" if k else m for k, messages in problems.items() for m in messages)
        entry: dict[str, Any] = (
            {"success": not problems}
            if self.batch_item_form == "success"
            else {"status": "error" if problems else "success"}
        )
        entry["errors"] = errors if problems else ([] if self.item_errors_form == "map" else "")
        entry["result"] = saved if self.batch_success_echoes_key else None
        return entry

    @staticmethod
    def _entry_ok(entry: Mapping[str, Any]) -> bool:
        return entry.get("status") == "success" or entry.get("success") is True

    def _stamp(self, store: Mapping[str, dict[str, Any]], key: str, item: Mapping[str, Any]) -> dict[str, Any]:
        now = _now_text(self.now())
        previous = store.get(key)
        return {
            **deepcopy(dict(item)),
            "create_time": previous["create_time"] if previous else now,
            "update_time": now,
        }

    # products and fabrics

    def _validate_product(self, item: Mapping[str, Any]) -> ItemErrors:
        problems = _required(
            item,
            (
                "model",
                "name",
                "category_name",
                "collection_code",
                "collection_name",
                "sizing_name",
                "sizing_sizes",
                "variants",
            ),
        )
        sizes = item.get("sizing_sizes")
        sizes = sizes if isinstance(sizes, list) else []
        variants = item.get("variants")
        variants = variants if isinstance(variants, list) else []
        for position, variant in enumerate(variants):
            prefix = f"variants.{position}."
            if not isinstance(variant, dict):
                problems[f"variants.{position}"] = ["must be an object"]
                continue
            problems.update(_required(variant, ("fabric_code", "fabric_name", "reference"), prefix))
            code = variant.get("fabric_code")
            if code and code not in self.fabrics and not self.auto_create_fabrics:
                problems[f"{prefix}fabric_code"] = [f"fabric {code} does not exist"]
            for number, sku in enumerate(variant.get("skus") or []):
                size = sku.get("size_name") if isinstance(sku, dict) else None
                if not size:
                    problems[f"{prefix}skus.{number}.size_name"] = ["is required"]
                elif size not in sizes:
                    problems[f"{prefix}skus.{number}.size_name"] = [f"size {size} is not in the sizing"]
        return problems

    def _save_product(self, item: Mapping[str, Any]) -> dict[str, Any]:
        model = str(item["model"])
        old = self.products.get(model)
        for variant in old["variants"] if old else []:
            for sku in variant.get("skus") or []:
                self._eans.discard(sku.get("ean13"))
                self._skus.discard(sku.get("sku"))
        stored = self._stamp(self.products, model, item)
        for variant in stored["variants"]:
            code = variant["fabric_code"]
            if code not in self.fabrics:
                self._save_fabric({"code": code, "name": variant["fabric_name"]})
            for sku in variant.get("skus") or []:
                if sku.get("ean13"):
                    self._eans.add(sku["ean13"])
                if sku.get("sku"):
                    self._skus.add(sku["sku"])
        self.products[model] = stored
        return self._render_product(stored)

    def _render_product(self, product: Mapping[str, Any]) -> dict[str, Any]:
        rendered = deepcopy(dict(product))
        for variant in rendered.get("variants", []):
            for index in range(1, self.image_slots + 1):
                key = (rendered["model"], variant["fabric_code"], index)
                variant[f"image_{index}_url"] = self._image_url(*key) if key in self.images else None
        return rendered

    def _image_url(self, model: str, fabric_code: str, index: int) -> str:
        return f"{self.url}/files/products/{model}/{fabric_code}/{index}"

    def _validate_fabric(self, item: Mapping[str, Any]) -> ItemErrors:
        return _required(item, ("code", "name"))

    def _save_fabric(self, item: Mapping[str, Any]) -> dict[str, Any]:
        code = str(item["code"])
        self.fabrics[code] = self._stamp(self.fabrics, code, item)
        return deepcopy(self.fabrics[code])

    # retailers

    def _validate_address(self, address: Any, prefix: str) -> ItemErrors:
        if not isinstance(address, dict):
            return {prefix.rstrip("."): ["must be an object"]}
        problems = _required(address, ("reference", "company", "country"), prefix)
        country = address.get("country")
        if country and not _ISO2.match(str(country)):
            problems[f"{prefix}country"] = [f"{country} is not an ISO 3166-1 alpha-2 code"]
        return problems

    def _validate_retailer(self, item: Mapping[str, Any]) -> ItemErrors:
        problems = _required(item, ("reference", "name", "price_list_code", "store_address"))
        code = item.get("price_list_code")
        if code and code not in self.price_lists:
            problems["price_list_code"] = [f"price list {code} does not exist"]
        if item.get("store_address"):
            problems.update(self._validate_address(item["store_address"], "store_address."))
        if item.get("billing_address"):
            problems.update(self._validate_address(item["billing_address"], "billing_address."))
        for position, address in enumerate(item.get("delivery_addresses") or []):
            problems.update(self._validate_address(address, f"delivery_addresses.{position}."))
        for position, buyer in enumerate(item.get("buyers") or []):
            email = buyer.get("email") if isinstance(buyer, dict) else None
            if not email:
                problems[f"buyers.{position}.email"] = ["is required"]
            elif not _EMAIL.match(str(email)):
                problems[f"buyers.{position}.email"] = [f"{email} is not a valid email"]
            elif str(email).casefold() in {taken.casefold() for taken in self.buyer_emails_taken}:
                problems[f"buyers.{position}.email"] = [f"{email} already belongs to another retailer"]
        return problems

    def _save_retailer(self, item: Mapping[str, Any]) -> dict[str, Any]:
        reference = str(item["reference"])
        self.retailers[reference] = self._stamp(self.retailers, reference, item)
        return deepcopy(self.retailers[reference])

    # prices

    @staticmethod
    def _price_key(item: Mapping[str, Any]) -> str:
        parts = [item.get("product_model"), item.get("fabric_code"), item.get("price_list_code")]
        if item.get("size_name") is not None:
            parts.append(item.get("size_name"))
        return "|".join(str(part) for part in parts)

    def _validate_price(self, item: Mapping[str, Any]) -> ItemErrors:
        problems = _required(item, ("product_model", "fabric_code", "price_list_code", "wholesale_price"))
        code = item.get("price_list_code")
        if code and code not in self.price_lists:
            problems["price_list_code"] = [f"price list {code} does not exist"]
        for name in ("wholesale_price", "recommended_retail_price", "cost_price"):
            if item.get(name) is not None and not _is_number(item[name]):
                problems[name] = ["must be a number >= 0"]
        if (
            self.prices_require_variant
            and not problems
            and not self._variant(str(item["product_model"]), str(item["fabric_code"]))
        ):
            problems["fabric_code"] = [f"variant {item['product_model']}/{item['fabric_code']} does not exist"]
        return problems

    def _validate_price_by_size(self, item: Mapping[str, Any]) -> ItemErrors:
        problems = _required(item, ("size_name",))
        problems.update(self._validate_price(item))
        return problems

    def _save_price(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = self._price_key(item)
        self.prices[key] = self._stamp(self.prices, key, item)
        return deepcopy(self.prices[key])

    def _save_price_by_size(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = self._price_key(item)
        self.prices_by_size[key] = self._stamp(self.prices_by_size, key, item)
        return deepcopy(self.prices_by_size[key])

    def _variant(self, model: str, fabric_code: str) -> dict[str, Any] | None:
        product = self.products.get(model)
        for variant in product["variants"] if product else []:
            if isinstance(variant, dict) and variant.get("fabric_code") == fabric_code:
                return variant
        return None

    # inventory

    def _validate_stock(self, item: Mapping[str, Any], key: str, known: set[str]) -> ItemErrors:
        problems = _required(item, (key,))
        if "in_stock" not in item or item["in_stock"] is None:
            problems["in_stock"] = ["is required"]
        elif not _is_stock(item["in_stock"]):
            problems["in_stock"] = ["must be an integer >= 0"]
        if item.get("incoming_stock") is not None and not _is_stock(item["incoming_stock"]):
            problems["incoming_stock"] = ["must be an integer >= 0"]
        if self.inventory_requires_known_item and item.get(key) and item[key] not in known:
            problems[key] = [f"{key} {item[key]} does not exist"]
        return problems

    def _validate_ean(self, item: Mapping[str, Any]) -> ItemErrors:
        problems = self._validate_stock(item, "ean13", self._eans)
        if item.get("ean13") and not _EAN13.match(str(item["ean13"])):
            problems["ean13"] = [f"{item['ean13']} is not an EAN13"]
        return problems

    def _validate_sku(self, item: Mapping[str, Any]) -> ItemErrors:
        return self._validate_stock(item, "sku", self._skus)

    def _save_ean(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = str(item["ean13"])
        self.inventory_ean[key] = {"in_stock_update_time": _now_text(self.now()), **deepcopy(dict(item))}
        return deepcopy(self.inventory_ean[key])

    def _save_sku(self, item: Mapping[str, Any]) -> dict[str, Any]:
        key = str(item["sku"])
        self.inventory_sku[key] = {"in_stock_update_time": _now_text(self.now()), **deepcopy(dict(item))}
        return deepcopy(self.inventory_sku[key])

    # --- endpoints: reads ------------------------------------------------------------------------------------

    def _page(self, request: Request, rows: list[dict[str, Any]]) -> Handled:
        try:
            page = int(request.args.get("page", "1"))
        except ValueError:
            page = 0
        if page < 1:
            raise _Problem(422, "page must be an integer >= 1", {"page": ["must be an integer >= 1"]})
        size = self.page_size
        start = (page - 1) * size
        chunk = rows[start : start + size]
        headers: dict[str, str] = {}
        if self.pagination_headers:
            headers = {
                "X-Pagination-Current-Page": str(page),
                "X-Pagination-Page-Size": str(size),
                "X-Pagination-Has-More": "true" if start + size < len(rows) else "false",
                "X-Pagination-Total-Pages": str(math.ceil(len(rows) / size)),
                "X-Pagination-Total-Items": str(len(rows)),
            }
        return 200, chunk, headers

    def _one(self, store: Mapping[str, dict[str, Any]], key: str, what: str) -> Handled:
        with self._lock:
            found = store.get(key)
            if found is None:
                raise _Problem(404, f"{what} {key} not found")
            return 200, deepcopy(found), {}

    def _ep_list_products(self, request: Request, body: Any) -> Handled:
        models = {m for m in request.args.get("models", "").split(",") if m}
        collection = request.args.get("collection_code")
        with self._lock:
            rows = [
                p
                for _, p in sorted(self.products.items())
                if (not models or p["model"] in models) and (not collection or p["collection_code"] == collection)
            ]
            # Only the asked page is rendered: rendering every product for each page made a whole list quadratic.
            status, page, headers = self._page(request, rows)
            return status, [self._render_product(product) for product in page], headers

    def _ep_get_product(self, request: Request, body: Any, model: str) -> Handled:
        with self._lock:
            if model not in self.products:
                raise _Problem(404, f"product {model} not found")
            return 200, self._render_product(self.products[model]), {}

    def _ep_get_variant(self, request: Request, body: Any, model: str, fabric_code: str) -> Handled:
        with self._lock:
            if self._variant(model, fabric_code) is None:
                raise _Problem(404, f"variant {model}/{fabric_code} not found")
            product = self._render_product(self.products[model])
            variant = next(v for v in product["variants"] if v["fabric_code"] == fabric_code)
            variant["prices"] = [
                p for p in self.prices.values() if p["product_model"] == model and p["fabric_code"] == fabric_code
            ]
            return 200, variant, {}

    def _ep_list_fabrics(self, request: Request, body: Any) -> Handled:
        with self._lock:
            rows = [deepcopy(f) for _, f in sorted(self.fabrics.items())]
        return self._page(request, rows)

    def _ep_get_fabric(self, request: Request, body: Any, code: str) -> Handled:
        return self._one(self.fabrics, code, "fabric")

    def _validate_collection(self, item: Mapping[str, Any]) -> ItemErrors:
        return _required(item, ("code", "name", "status"))

    def _save_collection(self, item: Mapping[str, Any]) -> dict[str, Any]:
        code = str(item["code"])
        self.collections[code] = self._stamp(self.collections, code, item)
        return deepcopy(self.collections[code])

    def _ep_list_collections(self, request: Request, body: Any) -> Handled:
        """The collections, explicit ones and those only named by products (lenewblack-api.md §2.4)."""
        with self._lock:
            named = {
                str(p["collection_code"]): {"code": p["collection_code"], "name": p.get("collection_name")}
                for p in self.products.values()
                if p.get("collection_code")
            }
            rows = [deepcopy(c) for _, c in sorted({**named, **self.collections}.items())]
        return self._page(request, rows)

    def _ep_list_retailers(self, request: Request, body: Any) -> Handled:
        with self._lock:
            status, page, headers = self._page(request, [r for _, r in sorted(self.retailers.items())])
            return status, deepcopy(page), headers

    def _ep_get_retailer(self, request: Request, body: Any, reference: str) -> Handled:
        return self._one(self.retailers, reference, "retailer")

    def _price_rows(self, request: Request, store: Mapping[str, dict[str, Any]]) -> Handled:
        model = request.args.get("product_model")
        fabric = request.args.get("fabric_code")
        with self._lock:
            rows = [
                deepcopy(p)
                for _, p in sorted(store.items())
                if (not model or p["product_model"] == model) and (not fabric or p["fabric_code"] == fabric)
            ]
        return 200, rows, {}

    def _ep_list_prices(self, request: Request, body: Any) -> Handled:
        return self._price_rows(request, self.prices)

    def _ep_list_prices_by_size(self, request: Request, body: Any) -> Handled:
        return self._price_rows(request, self.prices_by_size)

    def _ep_list_inventory(self, request: Request, body: Any) -> Handled:
        with self._lock:
            rows = [deepcopy(r) for _, r in sorted(self.inventory_ean.items())]
            rows += [deepcopy(r) for _, r in sorted(self.inventory_sku.items())]
        return 200, rows, {}

    def _ep_get_inventory_ean(self, request: Request, body: Any, ean13: str) -> Handled:
        return self._one(self.inventory_ean, ean13, "EAN")

    def _ep_get_inventory_sku(self, request: Request, body: Any, sku: str) -> Handled:
        return self._one(self.inventory_sku, sku, "SKU")

    # --- endpoints: files --------------------------------------------------------------------------------------

    def _ep_upload_image(self, request: Request, body: Any) -> Handled:
        problems = _required(request.form, ("model", "fabric_code", "image_index"))
        upload = request.files.get("file")
        if upload is None:
            problems["file"] = ["is required"]
        index_text = request.form.get("image_index", "")
        if index_text and (not index_text.isdigit() or not 1 <= int(index_text) <= self.image_slots):
            problems["image_index"] = [f"must be an integer from 1 to {self.image_slots}"]
        if problems or upload is None:
            raise _Problem(422, "validation failed", problems)
        model, fabric_code, index = request.form["model"], request.form["fabric_code"], int(index_text)
        content = upload.read()
        with self._lock:
            if self._variant(model, fabric_code) is None:
                raise _Problem(404, f"variant {model}/{fabric_code} not found")
            image = StoredImage(
                content, hashlib.sha256(content).hexdigest(), upload.filename or "", upload.mimetype or ""
            )
            self.images[(model, fabric_code, index)] = image
        answer = {
            "model": model,
            "fabric_code": fabric_code,
            "image_index": index,
            "url": self._image_url(model, fabric_code, index),
            "sha256": image.sha256,
        }
        return 201, answer, {}

    def _ep_delete_image(self, request: Request, body: Any, model: str, fabric_code: str, index: int) -> Handled:
        with self._lock:
            if self.images.pop((model, fabric_code, index), None) is None:
                raise _Problem(404, f"no image {index} on {model}/{fabric_code}")
        return 200, {"deleted": True}, {}

    def _ep_image_file(self, request: Request, body: Any, model: str, fabric_code: str, index: int) -> Handled:
        with self._lock:
            image = self.images.get((model, fabric_code, index))
        if image is None:
            raise _Problem(404, f"no image {index} on {model}/{fabric_code}")
        return 200, Response(image.content, mimetype=image.content_type or "application/octet-stream"), {}

    # --- endpoints: orders -------------------------------------------------------------------------------------

    def _ep_list_orders(self, request: Request, body: Any) -> Handled:
        status = request.args.get("status")
        bounds = {}
        for name in ("update_time_from", "update_time_to"):
            if name in request.args:
                parsed = _parse_time(request.args[name])
                if parsed is None:
                    raise _Problem(422, f"{name} is not a date-time", {name: ["is not a date-time"]})
                bounds[name] = parsed
        with self._lock:
            rows = []
            for _, order in sorted(self.orders.items()):
                updated = _parse_time(str(order.get("update_time", "")))
                if status and order.get("status") != status:
                    continue
                if "update_time_from" in bounds and (updated is None or updated < bounds["update_time_from"]):
                    continue
                if "update_time_to" in bounds and (updated is None or updated > bounds["update_time_to"]):
                    continue
                rows.append(deepcopy(order))
        return self._page(request, rows)

    def _ep_get_order(self, request: Request, body: Any, reference: str) -> Handled:
        return self._one(self.orders, reference, "order")

    def _ep_order_status(self, request: Request, body: Any) -> Handled:
        item = body if isinstance(body, dict) else {}
        problems = _required(item, ("reference", "status"))
        if item.get("status") and item["status"] not in self.order_statuses:
            problems["status"] = [f"unknown status {item['status']}"]
        if problems:
            raise _Problem(422, "validation failed", problems)
        reference = str(item["reference"])
        with self._lock:
            order = self.orders.get(reference)
            if order is None:
                raise _Problem(404, f"order {reference} not found")
            self.status_changes.append((reference, order.get("status"), item["status"]))
            order["status"] = item["status"]
            order["update_time"] = _now_text(self.now())
            return 200, deepcopy(order), {}


# Both names are imported by callers (the local stack and the tests); they are one class.
