"""The export API answers any malformed request with a 4xx, never a 5xx: hypothesis drives ApiFunction's handler
with API Gateway events whose method, path, path parameters, query string, headers and body are hostile."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from connector import config
from sandbox.seed import build_seed
from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack
from tests.integration.conftest import NO_WAIT
from tests.properties import examples
from tests.unit.hostile import huge_text, odd_text

# Real flows and ids half of the time, so malformed queries and bodies reach the routes behind them.
segments = st.one_of(
    st.sampled_from(["stock", "orders", "prices", "customers", "products", "1001", "stock-20261127T081500Z-3f9a1c2e"]),
    st.sampled_from(["STOCK", "images", "..", "%2e%2e", "RUN#x", " ", "🙂"]),
    odd_text.filter(lambda text: "/" not in text and text.strip()),
    huge_text.map(lambda text: text.replace("/", "_")),
)
ROUTES = ["/exports/{}", "/runs/{}", "/runs/{}/apply", "/orders/{}", "/{}", "/runs/{}/{}", "/exports", "/runs"]
cursors = st.one_of(
    odd_text,
    st.recursive(
        st.none() | st.integers() | st.text(max_size=10),
        lambda inner: st.dictionaries(st.text(max_size=5), inner, max_size=3),
    ).map(lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode()),
)
queries = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "token": odd_text,
            "flow": segments,
            "limit": st.one_of(st.integers().map(str), odd_text),
            "cursor": cursors,
            "preview": st.sampled_from(["true", "1", "oui", "", "null"]),
            "full": odd_text,
        },
    ),
    st.dictionaries(odd_text, odd_text, max_size=3),
)
bodies = st.one_of(
    st.none(),
    odd_text,
    huge_text,
    st.sampled_from(["{", "[]", "null", "true", '{"preview": "maybe"}', '{"full": 1e999}', '{"force": [true]}', "{}"]),
    st.dictionaries(
        st.sampled_from(["preview", "full", "force", "run_id", "x"]), st.one_of(st.booleans(), odd_text, st.integers())
    ).map(json.dumps),
)
content_types = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "multipart/form-data"]
)


@pytest.fixture(scope="module")
def api_stack() -> Iterator[LocalStack]:
    # One small stack for every example: the state the API reads (runs, ledger) only grows, which is realistic.
    with LocalStack(build_seed(models=4, retailers=3), settings_document=NO_WAIT, orders=2) as stack:
        saved = {name: os.environ.get(name) for name in ("FLOW_INVOKER", "FLOW_FUNCTIONS")}
        from sandbox.run import available_functions

        os.environ["FLOW_INVOKER"] = "local"
        # Only stock has a function here: a request valid after all starts a small stock run, not a catalogue export.
        os.environ["FLOW_FUNCTIONS"] = json.dumps({"stock": available_functions()["stock"]})
        config.environment.cache_clear()
        try:
            yield stack
            LocalInvoker.wait()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            config.environment.cache_clear()


requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST"] * 4 + ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
        "route": st.sampled_from(ROUTES),
        "parts": st.lists(segments, min_size=2, max_size=2),
        "query": queries,
        "body": bodies,
        "content_type": content_types,
        "base64_body": st.booleans(),
    }
)
# The path parameter API Gateway names in each route (the resolver reads the values from the path itself).
PARAMETERS = {"exports": "flow", "runs": "run_id", "orders": "reference"}


def api_event(stack: LocalStack, request: dict[str, Any]) -> dict[str, Any]:
    route, parts, query, body = request["route"], request["parts"], request["query"], request["body"]
    path = route.format(*parts)
    document: dict[str, Any] = copy.deepcopy(stack.event("api_export_start"))
    name = PARAMETERS.get(route.split("/")[1])
    encode = request["base64_body"] and body is not None
    document.update(
        httpMethod=request["method"],
        path=path,
        resource=route.replace("{}", f"{{{name}}}", 1) if name else route,
        pathParameters={name: parts[0]} if name and "{}" in route else None,
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=base64.b64encode(body.encode()).decode() if encode else body,
        isBase64Encoded=encode,
    )
    document["headers"] = {**document["headers"], "Content-Type": request["content_type"]}
    document["multiValueHeaders"] = {k: [v] for k, v in document["headers"].items()}
    document["requestContext"] = {**document["requestContext"], "httpMethod": request["method"], "path": f"/dev{path}"}
    return document


def known(
    method: str,
    path: str,
    query: dict[str, str] | None = None,
    body: str | None = None,
    ctype: str = "application/json",
) -> dict[str, Any]:
    """A request found hostile once, replayed on every run."""
    route, *parts = path.split("/", 2)[1:] if path.count("/") >= 2 else (path.strip("/"), "")
    return {
        "method": method,
        "route": f"/{route}/{{}}",
        "parts": [*parts, ""][:2],
        "query": query,
        "body": body,
        "content_type": ctype,
        "base64_body": False,
    }


@given(requests)
@example(known("POST", "/exports/stock", ctype="multipart/form-data"))  # no boundary: was a 502
@example(known("POST", "/exports/stock", body="preview=true", ctype="text/plain"))
@example(known("POST", "/exports/stock", body="{"))
@example(known("GET", "/runs/" + "x" * 3000))  # a key DynamoDB refuses
@example(known("GET", "/orders/" + "é" * 1500))
@example(
    {**known("GET", "/runs/x"), "route": "/runs", "query": {"flow": "stock", "cursor": "eyJhIjogMX0="}}
)  # a forged cursor: was a 500
@examples(300)
def test_malformed_requests_get_a_4xx_never_a_5xx(api_stack: LocalStack, request: dict[str, Any]) -> None:
    document = api_event(api_stack, request)
    answer = api_stack.invoke("api", document)
    LocalInvoker.wait()  # a request that was valid after all started a run: let it end before the next example
    body = answer.get("body") or ""
    assert 200 <= answer["statusCode"] < 500, (
        document["httpMethod"],
        document["path"][:200],
        request["query"],
        body[:500],
    )
    assert "Traceback" not in body
