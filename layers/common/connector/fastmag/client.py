"""HTTP client of the Fastmag EDI: EDIQUERY reads, EDIWEBSRV writes, product photos (fastmag-api.md §1).

Reads are idempotent, so transport errors and 502/503/504 are retried with a bounded backoff (urllib3
`Retry` on the session). Writes are never retried at the HTTP level: Fastmag may commit a write whose
answer never arrives, so every doubtful write raises FastmagOutcomeUnknown and the caller looks the
order up by its external reference before sending anything again (§3.4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from connector.errors import FastmagError, FastmagOutcomeUnknown, FastmagTransportError
from connector.fastmag.wire import WriteResult, decode, parse_write_response, read_tsv, to_charset
from connector.observability import logger, mask_url, remote_call
from connector.settings import FastmagSettings

RETRY_STATUSES = frozenset({502, 503, 504})
BACKOFF_FACTOR_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8")


class _Retry(Retry):
    """urllib3's Retry whose waits go through an injectable `sleeper` (tests pass a recorder)."""

    def __init__(self, *args: Any, sleeper: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sleeper = sleeper

    def new(self, **kw: Any) -> Self:
        # urllib3 copies the policy on every attempt and would drop the sleeper otherwise.
        retry = super().new(**kw)
        retry.sleeper = self.sleeper
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        honour = response is not None and self.respect_retry_after_header
        delay = self.get_retry_after(response) if honour and response is not None else None
        if delay is None:
            delay = self.get_backoff_time()
        if delay > 0:
            self.sleeper(delay)


def _refused(result: WriteResult) -> FastmagError:
    return FastmagError(f"Fastmag refused the write: {result.message}", remote_message=result.message)


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
            max_retries=_Retry(
                total=self._wire.read_retries,
                status_forcelist=RETRY_STATUSES,
                allowed_methods=frozenset({"GET", "POST"}),  # EDIQUERY only SELECTs: safe to resend
                backoff_factor=BACKOFF_FACTOR_SECONDS,
                backoff_max=BACKOFF_MAX_SECONDS,
                retry_after_max=BACKOFF_MAX_SECONDS,
                raise_on_status=False,
                sleeper=sleep,
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

    def query(self, sql: str, *, required_columns: Iterable[str] = ()) -> list[dict[str, str]]:
        """Rows of one SELECT, keyed by the SQL aliases; values are text (parse with `wire.parse_*`).

        `required_columns` makes an answer lacking those headers an error rather than an empty result.
        """
        # GOFM sends `data` in lower case beside capitalised credentials; the doc's `Data` is for writes.
        body, replaced = self._form("data", sql)
        if replaced:
            logger.warning("fastmag.query characters replaced", extra={"replaced": "".join(replaced)})
        method = self._wire.query_method
        path = self._wire.query_path
        url = self._base + path
        with remote_call("fastmag", method, path) as outcome:
            if method == "GET":
                response = self._send_read(method, f"{url}?{body}")
            else:
                response = self._send_read(method, url, data=body, headers=_FORM)
            outcome["http_status"] = response.status_code
            content = response.content
            if content.lstrip()[:3].upper() != b"KO|" and response.status_code >= 400:
                raise FastmagTransportError(f"EDIQUERY answered HTTP {response.status_code}")
            rows = read_tsv(
                content,
                charset=self._wire.charset,
                quoting=self._wire.quoting,
                required_columns=required_columns,
            )
            outcome["rows"] = len(rows)
        return rows

    def _send_read(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, url, timeout=self._timeout, **kwargs)
        except requests.RequestException as error:
            # The message may hold a GET query string with MotPasse: mask it and drop the chain.
            raise FastmagTransportError(
                f"Fastmag unreachable: {type(error).__name__}: {mask_url(str(error))}"
            ) from None

    def write(self, transactions: Sequence[str]) -> WriteResult:
        """Send transaction lines (already escaped, e.g. from `build_order_transaction`). Never retried.

        `transactions_per_call = "many"`: one POST, `Data` = the lines joined by CRLF (an order's header
        and lines travel together, so Fastmag sees them as one unit).
        `"one"`: one POST per line, in order, stopping at the first refusal. The first `OK|n` gives the
        number (for an order, the header's). If the first line is refused nothing was written
        (FastmagError); a refusal or doubt after a line was accepted leaves a partial order in Fastmag,
        reported as FastmagOutcomeUnknown so the caller looks it up instead of resending.

        Raises FastmagError (`KO|…`, remote_message set) or FastmagOutcomeUnknown (timeout, cut
        connection, an answer that is neither OK nor KO).
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
                raise FastmagError(f"Fastmag refused the write: {result.message}", remote_message=result.message)
            return result
        number: str | None = None
        replaced: list[str] = []
        for position, line in enumerate(lines):
            result = self._post_write(line)
            if not result.ok:
                if position == 0:
                    raise _refused(result)
                raise FastmagOutcomeUnknown(
                    f"Fastmag refused line {position + 1} of {len(lines)} after accepting the first: {result.message}",
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
            response = self._send_read(method, url, **kwargs)
            outcome["http_status"] = response.status_code
            if response.status_code == 404:
                return None
            content = response.content
            if content.lstrip()[:3].upper() == b"KO|":
                message = decode(content, self._wire.charset).strip()[3:]
                raise FastmagError(f"Fastmag refused the photo: {message}", remote_message=message)
            if response.status_code >= 400:
                raise FastmagTransportError(f"photo answered HTTP {response.status_code}")
            if not content:
                return None
            if not content.startswith(_IMAGE_MAGIC):
                raise FastmagError(f"photo {reference}/{colour}/{index} is not an image")
            outcome["bytes"] = len(content)
            return content
