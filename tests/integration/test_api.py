"""The export API through ApiFunction's and AuthorizerFunction's real handlers, with events from events/.

Runs started by the API go to the flow handlers in a thread (FLOW_INVOKER=local), as Lambda's asynchronous
invoke would; `LocalInvoker.wait()` lets a test see how they ended.
"""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

import pytest
import requests

from connector.runs import RunRecord, RunStatus, RunStore
from sandbox.credentials import SANDBOX_API_TOKEN, SANDBOX_LINK_CODES
from sandbox.run import available_functions
from sandbox.seed import lnb_orders
from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack
from sandbox.template import load_template
from tests.conftest import TaskLog

TOKEN = SANDBOX_API_TOKEN


def event(
    stack: LocalStack,
    name: str,
    *,
    path: str | None = None,
    params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A sample API event with its path, query, body or headers changed consistently."""
    document = copy.deepcopy(stack.event(name))
    if path is not None:
        document["path"] = path
        document["requestContext"]["path"] = f"/dev{path}"
        document["pathParameters"] = params
    if query is not None:
        document["queryStringParameters"] = query or None
        document["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    if body is not None:
        document["body"] = body if isinstance(body, str) else json.dumps(body)
    if headers is not None:
        document["headers"] = {**document["headers"], **headers}
        document["multiValueHeaders"] = {k: [v] for k, v in document["headers"].items()}
    return document


def call(stack: LocalStack, document: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    answer = stack.invoke("api", document)
    headers = answer.get("headers") or {}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers[name] = values[0]
    body = answer.get("body") or ""
    if headers.get("Content-Type", "").startswith("application/json"):
        body = json.loads(body)
    return answer["statusCode"], body, headers


def start(stack: LocalStack, flow: str = "stock", **choice: bool) -> str:
    status, body, _ = call(
        stack, event(stack, "api_export_start", path=f"/exports/{flow}", params={"flow": flow}, body=choice)
    )
    assert status == 202, body
    return str(body["run_id"])


def run_of(stack: LocalStack, run_id: str) -> dict[str, Any]:
    status, body, _ = call(stack, event(stack, "api_run", path=f"/runs/{run_id}", params={"run_id": run_id}))
    assert status == 200, body
    return dict(body)


def apply(stack: LocalStack, run_id: str) -> tuple[int, Any]:
    status, body, _ = call(
        stack, event(stack, "api_run_apply", path=f"/runs/{run_id}/apply", params={"run_id": run_id})
    )
    return status, body


# --- Pages ------------------------------------------------------------------------------------------------------


def test_status_page_shows_recent_runs_and_a_button_per_flow(api: LocalStack) -> None:
    finished = api.invoke("push_stock", {"flow": "stock", "trigger": "cli"})
    status, body, headers = call(api, event(api, "api_status"))
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    for flow in available_functions():
        assert f'id="export-{flow}" href="/dev/exports/{flow}"' in body
    assert f'href="/dev/runs/{finished["run_id"]}"' in body
    assert TOKEN not in body
    assert f'<span class="{finished["status"]}" data-status="{finished["status"]}">' in body
    assert f'<td class="n">{finished["counters"]["accepted"]}</td>' in body


def test_openapi_document_describes_every_route_of_the_template(api: LocalStack) -> None:
    status, body, _ = call(api, event(api, "api_openapi"))
    assert status == 200
    document = json.loads(body) if isinstance(body, str) else body
    events = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    declared = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events} - {("/openapi.json", "get")}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == declared
    export = document["paths"]["/exports/{flow}"]["post"]
    assert "ExportRequest" in json.dumps(export["requestBody"])


def test_confirm_page_offers_preview_and_full_and_starts_nothing(api: LocalStack) -> None:
    status, body, _ = call(api, event(api, "api_export_confirm"))
    assert status == 200
    assert 'id="preview"' in body
    assert 'id="full"' in body
    assert 'data-target="/dev/exports/stock"' in body  # where Confirm posts, with a confirm ticket (no code)
    assert SANDBOX_LINK_CODES["stock"] not in body
    assert RunStore(api.table).list("stock")[0] == []
    assert api.lnb.data_calls() == []


# --- Starting runs ----------------------------------------------------------------------------------------------


def test_export_queues_a_run_answers_202_and_the_flow_runs(api: LocalStack) -> None:
    status, body, headers = call(api, event(api, "api_export_start"))
    assert status == 202
    run_id = body["run_id"]
    assert body["status"] == "queued"
    assert body["status_url"] == f"https://{api.event('api_export_start')['headers']['Host']}/dev/runs/{run_id}"
    assert headers["Location"] == body["status_url"]
    LocalInvoker.wait()
    record = run_of(api, run_id)
    assert record["trigger"] == "button"
    assert record["status"] in {"succeeded", "partial"}
    assert record["queued_at"] <= record["started_at"] <= record["finished_at"]
    assert record["counters"]["accepted"] == len(api.lnb.inventory_ean) > 0


def test_preview_run_links_its_stored_preview_and_sends_nothing(api: LocalStack) -> None:
    run_id = start(api, preview=True)
    LocalInvoker.wait()
    record = run_of(api, run_id)
    assert record["preview"] is True
    assert api.lnb.data_calls() == []
    answer = requests.get(record["preview_url"], timeout=10)
    assert answer.status_code == 200
    lines = [json.loads(line) for line in gzip.decompress(answer.content).decode().splitlines()]
    assert lines == api.preview_lines(run_id)
    assert lines[0]["summary"]["new"] == sum(1 for line in lines if line.get("change") == "new") > 0


def test_a_running_run_shows_its_counters_and_refreshes_its_page(api: LocalStack) -> None:
    RunStore(api.table).put(
        RunRecord.model_validate(
            {
                "run_id": "stock-running",
                "flow": "stock",
                "trigger": "button",
                "status": "running",
                "counters": {"read": 40, "sent": 12},
                "errors": {"invalid EAN13 checksum": 2},
                "started_at": "2026-11-27T08:00:00.000+00:00",
            }
        )
    )
    record = run_of(api, "stock-running")
    assert record["counters"]["read"] == 40
    assert record["errors"] == {"invalid EAN13 checksum": 2}
    status, page, _ = call(
        api,
        event(
            api,
            "api_run",
            path="/runs/stock-running",
            params={"run_id": "stock-running"},
            headers={"Accept": "text/html"},
        ),
    )
    assert status == 200
    assert 'http-equiv="refresh"' in page
    assert '<td id="counter-sent" class="n">12</td>' in page


# --- Apply ------------------------------------------------------------------------------------------------------


def test_apply_sends_exactly_the_preview(api: LocalStack) -> None:
    preview_id = start(api, preview=True)
    LocalInvoker.wait()
    planned = {line["key"]: line["payload"] for line in api.preview_lines(preview_id)[1:] if "payload" in line}
    status, body = apply(api, preview_id)
    assert status == 202, body
    LocalInvoker.wait()
    record = run_of(api, body["run_id"])
    assert record["trigger"] == "apply"
    assert record["applied_from"] == preview_id
    assert record["counters"]["accepted"] == len(planned)
    assert {
        ean: {"ean13": ean, "in_stock": int(row["in_stock"])} for ean, row in api.lnb.inventory_ean.items()
    } == planned


def test_apply_of_a_flow_with_two_resources_sends_both(api: LocalStack) -> None:
    """Products sends fabrics, then products: each is checked against its own snapshot, and both go out."""
    start(api, "products")  # both snapshots now exist, each with its own version
    LocalInvoker.wait()
    api.fastmag.execute("UPDATE produitsfiches SET designation = designation || ' (nouvelle)'")
    api.fastmag.execute(
        "UPDATE produitsfiches SET matiere = 'chanvre recyclé' WHERE barcode = (SELECT MIN(barcode) FROM produits)"
    )
    preview_id = start(api, "products", preview=True)
    LocalInvoker.wait()
    planned = {line["resource"] for line in api.preview_lines(preview_id)[1:] if "payload" in line}
    assert planned == {"fabrics", "products"}
    status, body = apply(api, preview_id)
    assert status == 202, body
    LocalInvoker.wait()
    record = run_of(api, body["run_id"])
    assert record["status"] in {"succeeded", "partial"}, record
    assert all(product["name"].endswith(" (nouvelle)") for product in api.lnb.products.values())


def test_apply_is_refused_when_the_data_changed_since_the_preview(api: LocalStack) -> None:
    preview_id = start(api, preview=True)
    LocalInvoker.wait()
    changed = next(line["key"] for line in api.preview_lines(preview_id)[1:] if "payload" in line)
    api.fastmag.execute(
        "UPDATE stock SET stock = stock + 5 WHERE codemag = 'CENTRAL' AND "
        "(barcode, couleur, taille) IN (SELECT barcode, couleur, taille FROM produits WHERE gencod = ?)",
        (changed,),
    )
    status, body = apply(api, preview_id)
    assert status == 202
    LocalInvoker.wait()
    record = run_of(api, body["run_id"])
    assert record["status"] == "failed"
    assert record["message"] == f"the data changed since preview {preview_id}: run a new preview"
    assert api.lnb.data_calls() == []


def test_apply_is_refused_at_once_when_a_run_sent_data_after_the_preview(api: LocalStack) -> None:
    preview_id = start(api, preview=True)
    LocalInvoker.wait()
    api.invoke("push_stock", {"flow": "stock", "trigger": "cli"})
    status, body = apply(api, preview_id)
    assert status == 409
    assert body["message"].startswith(f"the data changed since preview {preview_id}")
    assert body["message"].endswith("run a new preview")


def test_apply_needs_a_finished_preview(api: LocalStack) -> None:
    normal = api.invoke("push_stock", {"flow": "stock", "trigger": "cli"})
    status, body = apply(api, normal["run_id"])
    assert status == 409
    assert body["message"] == f"run {normal['run_id']} is not a preview"
    status, body = apply(api, "stock-unknown")
    assert status == 404
    assert body["message"] == "no run stock-unknown"


# --- Listing, orders ------------------------------------------------------------------------------------------


def test_runs_are_listed_newest_first_and_paginated(api: LocalStack) -> None:
    store = RunStore(api.table)
    for minute in range(3):
        store.put(
            RunRecord(
                run_id=f"stock-run-{minute}",
                flow="stock",
                trigger="schedule",
                status=RunStatus.SUCCEEDED,
                queued_at=f"2026-11-27T08:0{minute}:00.000+00:00",
            )
        )
    status, first, _ = call(api, event(api, "api_runs", query={"flow": "stock", "limit": "2"}))
    assert status == 200
    assert [r["run_id"] for r in first["runs"]] == ["stock-run-2", "stock-run-1"]
    status, second, _ = call(
        api, event(api, "api_runs", query={"flow": "stock", "limit": "2", "cursor": first["next"]})
    )
    assert [r["run_id"] for r in second["runs"]] == ["stock-run-0"]
    assert second["next"] is None
    status, every, _ = call(api, event(api, "api_runs", query={}))
    assert status == 200
    assert [r["run_id"] for r in every["runs"]][:3] == ["stock-run-2", "stock-run-1", "stock-run-0"]


def test_order_ledger_entry_says_why_an_order_is_blocked(api: LocalStack, task_log: TaskLog) -> None:
    api.lnb.add_order({**lnb_orders(api.seed, count=1, start_reference=9003)[0], "retailer_reference": "777777"})
    api.invoke("import_orders", {"flow": "orders", "trigger": "cli"})
    blocked = task_log.events("order.blocked")
    exported = task_log.events("order.exported")
    assert blocked
    assert exported
    reference = blocked[0]["key"]
    assert reference == "9003"
    status, body, _ = call(api, event(api, "api_order", path=f"/orders/{reference}", params={"reference": reference}))
    assert status == 200
    assert body["status"] == "blocked"
    assert body["reason"] == blocked[0]["reason"]
    assert any("blocked" in note for note in body["history"])
    done = exported[0]["key"]
    status, body, _ = call(api, event(api, "api_order", path=f"/orders/{done}", params={"reference": done}))
    assert body["status"] == "exported"
    assert body["fastmag_number"] == exported[0]["fastmag_number"]


# --- Error statuses -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path_template"),
    [("api_export_confirm", "/exports/{flow}"), ("api_export_start", "/exports/{flow}")],
)
def test_unknown_flow_is_404_with_the_list_of_flows(api: LocalStack, name: str, path_template: str) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}  # a link code names its flow: a script's token asks for any
    socks = event(api, name, path="/exports/socks", params={"flow": "socks"}, query={}, headers=bearer)
    status, body, _ = call(api, socks)
    assert status == 404
    assert body["flows"] == list(available_functions())
    assert body["message"].startswith("unknown flow 'socks'")
    status, body, _ = call(api, event(api, "api_runs", query={"flow": "socks"}))
    assert status == 404
    assert RunStore(api.table).list("socks")[0] == []


def test_unknown_run_and_order_are_404(api: LocalStack) -> None:
    status, body, _ = call(api, event(api, "api_run", path="/runs/nope", params={"run_id": "nope"}))
    assert (status, body["message"]) == (404, "no run nope")
    status, body, _ = call(api, event(api, "api_order", path="/orders/9999", params={"reference": "9999"}))
    assert status == 404
    assert "9999" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preview": "maybe"}, "body.preview"),
        ({"preview": True, "surprise": 1}, "body.surprise"),
        ("{not json", "body"),
    ],
)
def test_bad_body_is_422_naming_the_field_and_nothing_runs(api: LocalStack, body: Any, field: str) -> None:
    status, answer, _ = call(api, event(api, "api_export_start", body=body))
    assert status == 422
    assert field in [f["field"] for f in answer["fields"]]
    assert field in answer["message"]
    LocalInvoker.wait()
    assert RunStore(api.table).list("stock")[0] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [({"flow": "stock", "limit": "0"}, "query.limit"), ({"flow": "stock", "cursor": "%%"}, "query.cursor")],
)
def test_bad_query_is_422_naming_the_parameter(api: LocalStack, query: dict[str, str], field: str) -> None:
    status, answer, _ = call(api, event(api, "api_runs", query=query))
    assert status == 422
    assert [f["field"] for f in answer["fields"]] == [field]
