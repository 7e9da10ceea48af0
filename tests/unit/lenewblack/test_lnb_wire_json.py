"""JSON on the Le New Black wire (lenewblack/wire.py `encode_body`, json_text.py `read_json`; the client's reading
of an answer): the same documents as the standard library writes and reads, whichever library does the work."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connector.errors import LeNewBlackError
from connector.json_text import read_json
from connector.lenewblack.client import _response_json
from connector.lenewblack.wire import encode_body, json_default


class Season(StrEnum):
    SUMMER = "E26"


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),  # past 64 bits too, which orjson refuses
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.just(Season.SUMMER),
    st.builds(SecretStr, st.text()),
)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text() | st.integers(), inner, max_size=4),
    max_leaves=20,
)


def _standard(value: Any) -> Any:
    """What `json.dumps(…, default=json_default)` sends, read back."""
    return json.loads(json.dumps(value, default=json_default, ensure_ascii=False))


@given(documents)
def test_a_body_holds_what_the_standard_library_would_have_sent(value: Any) -> None:
    body = encode_body(value)
    body.decode("utf-8")  # UTF-8, non-ASCII kept as it is
    assert json.loads(body) == _standard(value)


def test_dates_are_sent_as_json_default_writes_them_and_secrets_revealed() -> None:
    moment = datetime(2026, 12, 1, 8, 30, 0, 120000, tzinfo=UTC)
    body = encode_body(
        {"at": moment, "on": date(2026, 12, 1), "secret": SecretStr("s3cr3t"), "price": Decimal("12.50")}
    )
    assert json.loads(body) == {"at": moment.isoformat(), "on": "2026-12-01", "secret": "s3cr3t", "price": 12.5}


def test_what_cannot_be_sent_still_raises_type_error() -> None:
    with pytest.raises(TypeError, match="cannot send object to Le New Black"):
        encode_body({"what": object()})


@given(documents)
def test_an_answer_reads_as_the_standard_library_reads_it(value: Any) -> None:
    text = json.dumps(_standard(value), ensure_ascii=False)
    assert read_json(text.encode()) == json.loads(text)


@pytest.mark.parametrize("content", [b"", b"{", b'{"a": NaN}', "\ufeff{}".encode(), '{"a": "é"}'.encode("latin-1")])
def test_what_is_not_plain_utf8_json_is_a_value_error(content: bytes) -> None:
    with pytest.raises(json.JSONDecodeError, match=r"line 1 column"):  # a ValueError, as the client catches
        read_json(content)


def _response(content: bytes, status: int = 200, content_type: str = "application/json") -> requests.Response:
    response = requests.Response()
    response._content = content
    response.status_code = status
    response.headers["Content-Type"] = content_type
    return response


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"data": [{"status": "success", "model": "ROBE-é"}]}'.encode(),
            {"data": [{"status": "success", "model": "ROBE-é"}]},
        ),
        ('{"name": "ROBE-é"}'.encode("utf-16"), {"name": "ROBE-é"}),  # another encoding: requests guesses it
        (b'{"price": NaN}', {"price": float("nan")}),  # only the standard library reads NaN
        (b'{"id": 123456789012345678901}', {"id": 123456789012345678901}),  # past 64 bits: every digit kept
    ],
    ids=["utf-8", "utf-16", "nan", "long-integer"],
)
def test_the_client_reads_every_answer_it_read_before(content: bytes, expected: Any) -> None:
    answer = _response(
        content, content_type="application/json; charset=utf-16" if b"\x00" in content else "application/json"
    )
    assert json.dumps(_response_json(answer, "POST", "/multi/products")) == json.dumps(expected)


def test_a_success_that_is_not_json_is_still_an_error_and_a_failure_keeps_its_text() -> None:
    with pytest.raises(LeNewBlackError, match="answer is not JSON"):
        _response_json(_response(b"<html>ok</html>", content_type="text/html"), "POST", "/multi/products")
    page = _response(b"<html>Bad gateway</html>", status=502, content_type="text/html")
    assert _response_json(page, "POST", "/multi/products") == "<html>Bad gateway</html>"
