"""HTTP client of the Fastmag EDI: EDIQUERY reads, EDIWEBSRV writes, product photos (fastmag-api.md §1).

Reads are idempotent, so what the retry table (connector/retry.py) says about Fastmag is retried with a
bounded exponential backoff (`fastmag.wire.backoff_*`, through the shared paced urllib3 `Retry` of
connector/http.py). Writes are never retried at the HTTP level: Fastmag may commit a write whose answer never
arrives, so a failed write says which of two things happened. FastmagNotSent: the body never left (no connection
was made), nothing can be in Fastmag. FastmagOutcomeUnknown: the body may have arrived (read timeout, cut
connection, an HTML or 5xx page, an answer neither OK nor KO), and the caller looks the order up by its external
reference before sending anything again (§3.4).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlencode

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from connector.errors import (
    FastmagError,
    FastmagNotSent,
    FastmagOutcomeUnknown,
    FastmagPartialWrite,
    FastmagTransportError,
)
from connector.fastmag.queries import Query
from connector.fastmag.sql import keyset_page
from connector.fastmag.wire import Table, WriteResult, decode, parse_write_response, read_table, to_charset
from connector.http import paced_retry
from connector.observability import logger, mask_url, remote_call
from connector.settings import FastmagSettings

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8")


@contextmanager
def _naming(contract: Query | None) -> Iterator[None]:
    """An unreadable or refused answer names the setting that holds the query's SQL."""
    try:
        yield
    except FastmagError as error:
        if contract is None:
            raise
        raise FastmagError(f"fastmag.queries.{contract.name}: {error}", remote_message=error.remote_message) from error


def _refused(result: WriteResult) -> FastmagError:
    return FastmagError(f"Fastmag refused the write: {result.message}", remote_message=result.message)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (requests keeps urllib3's error in args, urllib3 its reason), and their causes."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [current.__cause__, current.__context__]
        if isinstance(current, MaxRetryError):
            pending.append(current.reason)


# OpenSSL reasons that only a handshake gives (before any request byte is sent).
_HANDSHAKE_REASONS = ("HANDSHAKE", "WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE")


def body_never_left(error: requests.RequestException) -> bool:
    """True when the write provably never reached Fastmag: no connection was made.

    urllib3 raises NewConnectionError (refused, unreachable, DNS failure: NameResolutionError) and
    ConnectTimeoutError only while connecting; a certificate or handshake failure happens before the request
    is written. A read timeout, a cut connection (ProtocolError) or any other TLS error may follow the body.
    """
    for cause in _causes(error):
        if isinstance(cause, NewConnectionError | ConnectTimeoutError | ssl.SSLCertVerificationError):
            return True
        if isinstance(cause, ssl.SSLError) and any(r in str(cause.reason or "") for r in _HANDSHAKE_REASONS):
            return True
    return isinstance(error, requests.exceptions.ConnectTimeout)


@dataclass(frozen=True)
class QueryAnswer:
    rows: list[dict[str, str]]
    body: bytes


class FastmagClient:
    """One Fastmag enseigne/magasin with its EDI user. Not thread-safe if the session is not."""

    def __init__(
        self,
        settings: FastmagSettings,
        user: str,
        password: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._wire = settings.wire
        self._user = user
        self._password = password
        self._base = settings.base_url.rstrip("/")
        self._timeout = (self._wire.connect_timeout_seconds, self._wire.read_timeout_seconds)
        self._session = session or requests.Session()
        self._session.verify = self._wire.verify_tls
        reads = HTTPAdapter(
            max_retries=paced_retry(
                "fastmag",
                retries=self._wire.read_retries,
                backoff_base_seconds=self._wire.backoff_base_seconds,
                backoff_cap_seconds=self._wire.backoff_cap_seconds,
                jitter="none",
                # urllib3 sends the first retry at once: a zero wait is no sleep.
                pause=lambda seconds: sleep(seconds) if seconds > 0 else None,
                allowed_methods=frozenset({"GET", "POST"}),  # EDIQUERY only SELECTs: safe to resend
            )
        )
        writes = HTTPAdapter(max_retries=Retry(total=0, read=False, redirect=False, raise_on_status=False))
        # Mounted on Fastmag's hosts only: an injected session may also serve other APIs.
        for prefix in {self._base + "/", settings.photos.cdn_base_url.rstrip("/") + "/"}:
            self._session.mount(prefix, reads)
        # requests picks the longest matching prefix, so the write page never gets the retrying adapter.
        self._session.mount(self._base + self._wire.write_path, writes)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _credentials(self) -> list[tuple[str, str]]:
        names = ["Enseigne", "Magasin", self._wire.user_parameter, "MotPasse"]
        values = [self._settings.enseigne, self._settings.magasin, self._user, self._password]
        return list(zip(self._names(names), values, strict=True))

    def _names(self, names: Iterable[str]) -> list[str]:
        return [name.lower() if self._wire.parameter_case == "lower" else name for name in names]

    def _form(self, data_name: str, data: str) -> tuple[str, tuple[str, ...]]:
        """The url-encoded parameters in the wire charset, and the characters it could not carry."""
        encoded = to_charset(data, self._wire.charset)
        params = [*self._credentials(), (self._names([data_name])[0], encoded.text)]
        return urlencode(params, encoding=self._wire.charset), encoded.replaced

    def query(
        self, sql: str, *, contract: Query | None = None, required_columns: Iterable[str] = ()
    ) -> list[dict[str, str]]:
        """Rows of one SELECT, keyed by the SQL aliases; values are text (parse with `wire.parse_*`).

        A configured query passes its `contract` (`fastmag/queries.py`): an answer lacking one of its required
        aliases is an error naming the query, rather than an empty result; so is a refusal. `required_columns`
        does the same for SQL that is not a setting.
        """
        return self.answer(sql, contract=contract, required_columns=required_columns).rows

    def pages(self, sql: str, *, contract: Query) -> Iterator[list[dict[str, str]]]:
        """The rows of a configured read, one page at a time: with `fastmag.page_rows` set and a query that has a
        `page_key`, by keyset (each page after the previous page's last key, `sql.keyset_page`), else in one answer.

        The read is whole only when the generator is exhausted: a page that fails raises out of it (after the
        retries of every read), and the caller must then treat what it got as incomplete. A full page asks for
        the next; a short or empty one ends the read.
        """
        rows_per_page = self._settings.page_rows
        key = contract.page_key
        if rows_per_page is None or not key:  # as `one_answer` says
            yield self.query(sql, contract=contract)
            return
        after: tuple[str, ...] | None = None
        # The first and last key of every page (a few dozen): keyset pages never repeat one. A server that ignores
        # the condition, orders otherwise, or a key that does not come back as it is stored (a character the
        # charset lacks comes back as `?`, and resuming after it starts again further back) would repeat one:
        # the read fails rather than loop or count a row twice.
        ends: set[tuple[str, ...]] = set()
        while True:
            page = self.query(keyset_page(self._settings.page_sql, sql, key, after, rows_per_page), contract=contract)
            if page:
                first = tuple(page[0].get(alias) or "" for alias in key)
                last = tuple(page[-1].get(alias) or "" for alias in key)
                if first in ends or last in ends:
                    raise FastmagError(
                        f"fastmag.queries.{contract.name}: a page repeats the key {first if first in ends else last}"
                        " already read: the server does not compare or order the page key as `fastmag.page_sql`"
                        " asks, or a key does not come back as Fastmag stores it (a character the charset lacks)"
                    )
                ends.update((first, last))
                after = last
            full = len(page) >= rows_per_page
            yield page
            # Let go before the next page is read: the caller maps a page and drops it, so only one is held.
            del page
            if not full:
                return

    def answer(self, sql: str, *, contract: Query | None = None, required_columns: Iterable[str] = ()) -> QueryAnswer:
        """`query`, with the answer's body kept beside its rows (`connector check` reports its shape)."""
        table, content = self._read(sql, contract, required_columns)
        return QueryAnswer(table.rows(), content)

    def table(self, sql: str, *, contract: Query) -> Table:
        """`query`'s answer before its rows are made (`wire.Table`): for a flow that reads a few columns of every
        record first, and makes the rows later."""
        return self._read(sql, contract, ())[0]

    def one_answer(self, contract: Query) -> bool:
        """Whether `pages` reads this query in one answer (no `fastmag.page_rows`, or a query without a page key)."""
        return self._settings.page_rows is None or not contract.page_key

    def _read(self, sql: str, contract: Query | None, required_columns: Iterable[str]) -> tuple[Table, bytes]:
        if contract is not None:
            required_columns = (*required_columns, *contract.required)
        # GOFM sends `data` in lower case beside capitalised credentials; the doc's `Data` is for writes.
        body, replaced = self._form("data", sql)
        if replaced:
            logger.warning("fastmag.query characters replaced", extra={"replaced": "".join(replaced)})
        method = self._wire.query_method
        path = self._wire.query_path
        url = self._base + path
        with remote_call("fastmag", method, path) as outcome:
            if method == "GET":
                status, content = self._send_read(method, f"{url}?{body}")
            else:
                status, content = self._send_read(method, url, data=body, headers=_FORM)
            outcome["http_status"] = status
            if content.lstrip()[:3].upper() != b"KO|" and status >= 400:
                raise FastmagTransportError(f"EDIQUERY answered HTTP {status}")
            with _naming(contract):
                table = read_table(
                    content,
                    charset=self._wire.charset,
                    quoting=self._wire.quoting,
                    required_columns=required_columns,
                )
            outcome["rows"] = len(table.records)
        return table, content

    def _send_read(self, method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
        """The answer's HTTP status and body. The body is read in one call (urllib3's `read`) where requests reads
        it 10 KB at a time: 13 ms of CPU instead of 50 for a 20 MB catalogue, before anything can be sent to LNB."""
        try:
            with self._session.request(method, url, timeout=self._timeout, stream=True, **kwargs) as response:
                return response.status_code, response.raw.read(decode_content=True)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            # The message may hold a GET query string with MotPasse: mask it and drop the chain.
            raise FastmagTransportError(
                f"Fastmag unreachable: {type(error).__name__}: {mask_url(str(error))}"
            ) from None

    def write(self, transactions: Sequence[str]) -> WriteResult:
        """Send transaction lines (already escaped, e.g. from `build_order_transaction`). Never retried.

        `transactions_per_call = "many"`: one POST, `Data` = the lines joined by CRLF (an order's header
        and lines travel together, so Fastmag sees them as one unit).
        `"one"`: one POST per line, in order, stopping at the first failure. The first `OK|n` gives the
        number (for an order, the header's). If the first line fails, it is reported as in "many"; after a
        line was accepted, a refusal or a line that never left raises FastmagPartialWrite (the accepted lines
        counted), and a doubt raises FastmagOutcomeUnknown with `accepted_lines` set.

        Raises FastmagError (`KO|…`, remote_message set), FastmagNotSent (the body never left) or
        FastmagOutcomeUnknown (read timeout, cut connection, an answer that is neither OK nor KO).
        """
        lines = list(transactions)
        if not lines:
            raise ValueError("nothing to write")
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError("a transaction line may not contain a line break; escape it first")
        if self._wire.transactions_per_call == "many":
            result = self._post_write("\r\n".join(lines))
            if not result.ok:
                raise _refused(result)
            return result
        number: str | None = None
        replaced: list[str] = []
        total = len(lines)
        for position, line in enumerate(lines):
            try:
                result = self._post_write(line)
            except FastmagOutcomeUnknown as error:
                if position == 0:
                    raise
                raise FastmagOutcomeUnknown(
                    f"line {position + 1} of {total}, after {position} accepted: {error}",
                    remote_message=error.remote_message,
                    accepted_lines=position,
                ) from None
            except FastmagNotSent as error:
                if position == 0:
                    raise
                raise FastmagPartialWrite(
                    f"line {position + 1} of {total} never left after {position} were accepted: {error}",
                    accepted=position,
                    total=total,
                ) from None
            if not result.ok:
                if position == 0:
                    raise _refused(result)
                raise FastmagPartialWrite(
                    f"Fastmag refused line {position + 1} of {total} after accepting {position}: {result.message}",
                    accepted=position,
                    total=total,
                    remote_message=result.message,
                )
            number = number or result.number
            replaced.extend(result.replaced)
        return WriteResult(ok=True, number=number, replaced=tuple(replaced))

    def _post_write(self, data: str) -> WriteResult:
        body, replaced = self._form("Data", data)
        if replaced:
            logger.warning("fastmag.write characters replaced", extra={"replaced": "".join(replaced)})
        path = self._wire.write_path
        with remote_call("fastmag", "POST", path) as outcome:
            try:
                response = self._session.post(self._base + path, data=body, headers=_FORM, timeout=self._timeout)
            except requests.RequestException as error:
                if body_never_left(error):
                    raise FastmagNotSent(
                        f"EDIWEBSRV could not be reached, nothing was sent: {type(error).__name__}"
                    ) from None
                raise FastmagOutcomeUnknown(
                    f"EDIWEBSRV call failed, the write may have been committed: {type(error).__name__}"
                ) from None
            outcome["http_status"] = response.status_code
            result = parse_write_response(decode(response.content, self._wire.charset))
        return WriteResult(ok=result.ok, number=result.number, message=result.message, replaced=replaced)

    def photo(self, reference: str, colour: str, index: int) -> bytes | None:
        """The photo bytes, or None when Fastmag has no photo at that number (probe 1.. until None)."""
        photos = self._settings.photos
        if photos.source == "cdn":
            segments = [
                "photos",
                photos.cdn_account,
                photos.cdn_size,
                reference.lower(),
                colour.lower() or "_",
                str(index),
                "photo.jpg",
            ]
            path = "/" + "/".join(quote(segment, safe="") for segment in segments)
            url, method, kwargs = photos.cdn_base_url.rstrip("/") + path, "GET", dict[str, Any]()
        else:
            path = photos.endpoint_path
            params = [
                *self._credentials(),
                (photos.endpoint_product_parameter, reference),
                (photos.endpoint_colour_parameter, colour),
                (photos.endpoint_index_parameter, str(index)),
            ]
            body = urlencode(params, encoding=self._wire.charset, errors="replace")
            url, method = self._base + path, "POST"
            kwargs = {"data": body, "headers": _FORM}
        with remote_call("fastmag", method, path) as outcome:
            status, content = self._send_read(method, url, **kwargs)
            outcome["http_status"] = status
            if status == 404:
                return None
            if content.lstrip()[:3].upper() == b"KO|":
                message = decode(content, self._wire.charset).strip()[3:]
                raise FastmagError(f"Fastmag refused the photo: {message}", remote_message=message)
            if status >= 400:
                raise FastmagTransportError(f"photo answered HTTP {status}")
            if not content:
                return None
            if not content.startswith(_IMAGE_MAGIC):
                raise FastmagError(f"photo {reference}/{colour}/{index} is not an image")
            outcome["bytes"] = len(content)
            return content
