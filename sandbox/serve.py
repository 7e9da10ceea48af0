"""`make serve`: the export API on http://127.0.0.1, against the sandbox, through the real handlers.

A thin WSGI adapter turns each HTTP request into the API Gateway REST proxy event API Gateway would send: the
route must be one of ApiFunction's events in template.yaml, the caller is checked by the real
AuthorizerFunction handler on the routes the template puts behind it (401 without a credential, 403 with a
wrong one, answered with the template's GatewayResponses), then ApiFunction's handler answers.
Runs the buttons start go to the flow handlers in a background thread (FLOW_INVOKER=local), and the
schedules tick stock and orders as EventBridge Scheduler would.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request

from connector import config
from connector.api import invoke
from connector.observability import log_to, logger
from sandbox.run import available_functions
from sandbox.stack import REGION, FakeLambdaContext, LocalStack, handler_module
from sandbox.template import Template, load_template

ACCOUNT = "123456789012"
API_ID = "localapi"
STAGE = "local"
# What API Gateway answers on its own, before any function runs, where the template sets no GatewayResponse.
GATEWAY_ANSWERS = {
    401: {"message": "Unauthorized"},
    403: {"message": "User is not authorized to access this resource with an explicit deny"},
    404: {"message": "Missing Authentication Token"},  # API Gateway's answer to a route it does not have
}
# GatewayResponses type → the status it answers.
_GATEWAY_RESPONSE_TYPES = {"UNAUTHORIZED": 401, "ACCESS_DENIED": 403, "MISSING_AUTHENTICATION_TOKEN": 404}
SCHEDULES = {"stock": 300.0, "orders": 900.0}
SERVE_LOG = Path(".local/serve-log.jsonl")


class LocalInvoker:
    """Runs a flow's real handler module in a background thread, as Lambda's asynchronous invoke would."""

    _threads: list[threading.Thread] = []  # noqa: RUF012 - one registry per process, shared by every instance

    def __init__(self, functions: dict[str, str]) -> None:
        self._functions = functions

    @property
    def flows(self) -> tuple[str, ...]:
        return tuple(self._functions)

    def invoke(self, flow: str, event: dict[str, Any]) -> None:
        folder = self._functions[flow]
        thread = threading.Thread(target=self._run, args=(folder, event), name=f"flow-{flow}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def ask(self, flow: str, event: dict[str, Any]) -> dict[str, Any]:
        """A synchronous invoke: the handler's answer, in this thread."""
        answer: dict[str, Any] = handler_module(self._functions[flow]).lambda_handler(event, FakeLambdaContext(flow))
        return answer

    # make serve's terminal: one line per run started and finished (None: say nothing, as in the tests).
    announce: TextIO | None = None

    @classmethod
    def _run(cls, folder: str, event: dict[str, Any]) -> None:
        what = f"{event.get('flow', folder)} run {event.get('run_id') or '(' + str(event.get('trigger')) + ')'}"
        cls._say(f"{what} started by {event.get('trigger', '?')}")
        try:
            result = handler_module(folder).lambda_handler(event, FakeLambdaContext(folder))
        except Exception as error:  # a failed run raises on purpose (Lambda's on-failure destination)
            logger.exception(f"{folder} run ended with an error", extra={"event": "run.invoke_failed"})
            cls._say(f"{what} failed: {error}")
        else:
            counters = result.get("counters", {})
            counts = "  ".join(f"{name} {counters.get(name, 0)}" for name in ("read", "sent", "rejected", "skipped"))
            cls._say(f"{result.get('flow')} run {result.get('run_id')} {result.get('status')}  {counts}")

    @classmethod
    def _say(cls, line: str) -> None:
        if cls.announce is not None:
            cls.announce.write(f"{datetime.now().astimezone():%H:%M:%S} {line}\n")
            cls.announce.flush()

    @classmethod
    def wait(cls, timeout: float = 120) -> None:
        """Block until every run started so far has ended (tests, shutdown)."""
        while cls._threads:
            cls._threads.pop().join(timeout)


invoke.register("local", LocalInvoker)


# --- API Gateway, simulated -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # e.g. /runs/{run_id}
    pattern: re.Pattern[str]
    authorized: bool = True  # behind the authorizer (the template's `Auth: {Authorizer: NONE}` says not)


def api_routes(template: Template) -> list[Route]:
    """ApiFunction's Api events in the template: only what would be deployed is served."""
    events = template["Resources"]["ApiFunction"]["Properties"]["Events"]
    routes = []
    for event in events.values():
        if event["Type"] != "Api":
            continue
        resource = event["Properties"]["Path"]
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
        authorized = (event["Properties"].get("Auth") or {}).get("Authorizer") != "NONE"
        routes.append(Route(event["Properties"]["Method"].upper(), resource, re.compile(f"^{regex}$"), authorized))
    return routes


def gateway_answers(template: Template) -> dict[int, dict[str, Any]]:
    """The bodies API Gateway answers with on its own: the template's GatewayResponses (their JSON template,
    with `$context.requestId` filled in per request by `Gateway`), API Gateway's defaults otherwise."""
    answers: dict[int, dict[str, Any]] = dict(GATEWAY_ANSWERS)
    responses = template["Resources"]["ConnectorApi"]["Properties"].get("GatewayResponses") or {}
    for kind, response in responses.items():
        status = _GATEWAY_RESPONSE_TYPES.get(kind)
        body = (response.get("ResponseTemplates") or {}).get("application/json")
        if status is not None and body:
            answers[status] = json.loads(body)
    return answers


def rest_event(
    method: str,
    path: str,
    *,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    query: Iterable[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
    body: str | None = None,
    principal: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), as the gateway sends it to ApiFunction."""
    pairs = list(query)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    headers = dict(headers or {})
    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": path,
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": "127",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "domainName": headers.get("Host", "127.0.0.1"),
            "apiId": API_ID,
            **({"authorizer": {"principalId": principal}} if principal else {}),
        },
        "body": body or None,
        "isBase64Encoded": False,
    }


def authorizer_event(event: dict[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer's event for a request: the same request, with the method ARN."""
    method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{event['httpMethod']}{event['path']}"
    keep = ("resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters")
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        **{name: event[name] for name in keep},
        "multiValueQueryStringParameters": event["multiValueQueryStringParameters"],
        "pathParameters": event["pathParameters"] or {},
        "stageVariables": {},
        "requestContext": {k: v for k, v in event["requestContext"].items() if k != "authorizer"},
    }


class Gateway:
    """WSGI application standing in for API Gateway: route, authorize, call ApiFunction, answer."""

    def __init__(
        self,
        routes: list[Route],
        answers: dict[int, dict[str, Any]] | None = None,
        requested: list[str] | None = None,
    ) -> None:
        self.routes = routes
        self.answers = answers if answers is not None else dict(GATEWAY_ANSWERS)
        # Every URL requested (path and query), as a stage trace would record it.
        self.requested = requested if requested is not None else []

    def _answer(self, status: int, request_id: str) -> tuple[int, dict[str, str], str]:
        body = json.dumps(self.answers.get(status, {})).replace("$context.requestId", request_id)
        return status, {"Content-Type": "application/json"}, body

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, match.groupdict()
        return None

    def handle(self, request: Request) -> tuple[int, dict[str, str], str]:
        self.requested.append(request.full_path.rstrip("?"))
        found = self._route(request.method, request.path)
        if found is None:
            return self._answer(404, str(uuid.uuid4()))
        route, parameters = found
        event = rest_event(
            request.method,
            request.path,
            resource=route.resource,
            path_parameters=parameters,
            query=parse_qsl(request.query_string.decode(), keep_blank_values=True),
            headers={**dict(request.headers.items()), "X-Forwarded-Proto": "http"},
            body=request.get_data(as_text=True),
        )
        request_id = event["requestContext"]["requestId"]
        if route.authorized:
            try:
                policy = handler_module("authorizer").lambda_handler(
                    authorizer_event(event), FakeLambdaContext("authorizer")
                )
            except Exception as error:
                return self._answer(401 if str(error) == "Unauthorized" else 500, request_id)
            if any(s["Effect"] == "Deny" for s in policy["policyDocument"]["Statement"]):
                return self._answer(403, request_id)
            # What API Gateway hands ApiFunction: the principal and the authorizer's context.
            context = policy.get("context") or {}
            event["requestContext"]["authorizer"] = {**context, "principalId": policy["principalId"]}
        answer = handler_module("api").lambda_handler(event, FakeLambdaContext("api"))
        headers = dict(answer.get("headers") or {})
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        return int(answer["statusCode"]), headers, answer.get("body") or ""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        status, headers, body = self.handle(Request(environ))
        start_response(f"{status} {_REASONS.get(status, '')}".strip(), list(headers.items()))
        yield body.encode()


_REASONS = {200: "OK", 202: "Accepted", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}


@contextmanager
def local_api(stack: LocalStack, port: int = 0, requested: list[str] | None = None) -> Iterator[str]:
    """Serve the API for `stack` on 127.0.0.1; yields its base URL. Flow runs go to LocalInvoker. Every URL
    requested is appended to `requested` when given."""
    previous = {name: os.environ.get(name) for name in ("FLOW_INVOKER", "FLOW_FUNCTIONS")}
    os.environ["FLOW_INVOKER"] = "local"
    os.environ["FLOW_FUNCTIONS"] = json.dumps(available_functions())
    config.environment.cache_clear()
    template = load_template()
    gateway = Gateway(api_routes(template), gateway_answers(template), requested)
    server: BaseWSGIServer = make_server("127.0.0.1", port, gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="local-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        LocalInvoker.wait()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        config.environment.cache_clear()


def _schedules(stop: threading.Event, names: dict[str, str]) -> None:
    """Tick each scheduled flow at its default rate, as EventBridge Scheduler would (first tick after one period),
    under its schedule's name (`names`: flow → name), so the status page's next run follows the ticks."""
    invoker = LocalInvoker(available_functions())
    next_tick = {flow: period for flow, period in SCHEDULES.items() if flow in invoker.flows}
    elapsed = 0.0
    while next_tick and not stop.wait(min(next_tick.values()) - elapsed):
        elapsed = min(next_tick.values())
        for flow, when in list(next_tick.items()):
            if when <= elapsed:
                tick = datetime.now(UTC).replace(microsecond=0).isoformat()
                event = {"flow": flow, "trigger": "schedule", "schedule": names[flow], "scheduled_time": tick}
                invoker.invoke(flow, {**event, "execution_id": str(uuid.uuid4()), "attempt": 1})
                next_tick[flow] = when + SCHEDULES[flow]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8700")))
    parser.add_argument("--no-schedules", action="store_true", help="runs start only from the buttons")
    parser.add_argument("--log-file", type=Path, default=SERVE_LOG, help=f"the record log (default {SERVE_LOG})")
    options = parser.parse_args(argv)
    # One line per HTTP request of moto and of this server would drown the URLs printed below.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    out = sys.stdout
    options.log_file.parent.mkdir(parents=True, exist_ok=True)
    with options.log_file.open("w", encoding="utf-8") as record_log, log_to(record_log), redirect_stdout(record_log):
        return _serve(options, out)


def _serve(options: argparse.Namespace, out: TextIO) -> int:
    """The URLs, then one line per run started and finished on `out`; the record log is the log file."""
    print("starting the sandbox: Fastmag and Le New Black simulators, moto …", file=out, flush=True)
    LocalInvoker.announce = out
    stop = threading.Event()
    with LocalStack() as stack, local_api(stack, options.port) as url:
        access = stack.api_access_document()
        token = access["api_tokens"][0]
        code = next(link["code"] for link in access["link_codes"] if link["flow"] == "stock")
        if not options.no_schedules:
            # The rate schedules tick here: enabled, so the status page says what happens.
            ticking = {s["flow"]: s["Name"] for s in stack.schedules if s["ScheduleExpression"].startswith("rate(")}
            for name in ticking.values():
                stack.set_schedule_state(name, "ENABLED")
            threading.Thread(target=_schedules, args=(stop, ticking), name="schedules", daemon=True).start()
        print(f"\nstock button: {url}/exports/stock?code={code}", file=out)
        print("status page:  after Confirm, the run page links to it (the session lasts its minutes)", file=out)
        print(f"API:          curl -H 'Authorization: Bearer {token}' {url}/runs", file=out)
        print(f"record log:   {options.log_file} (one JSON line per record)", file=out)
        print("Ctrl-C stops. Runs, one line as each starts and ends:", file=out, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstopping …", file=out)
        finally:
            stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
