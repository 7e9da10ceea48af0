"""What each function's role allows, decided by evaluating its resolved statements (tests/infra/iam_eval.py) for
sample requests, as IAM would: the state table by key prefix, the snapshots by flow, the two secrets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.iam_eval import (
    TABLE_ARN,
    Request,
    Resolver,
    batch_write,
    decide,
    index_query,
    item,
    read_secret,
    role_statements,
    s3_object,
    scan,
    table_query,
)

FLOW_FUNCTIONS = {
    "PushStockFunction": "stock",
    "ImportOrdersFunction": "orders",
    "ExportCustomersFunction": "customers",
    "ExportProductsFunction": "products",
    "ExportPricesFunction": "prices",
    "ExportImagesFunction": "images",
}
# state.SnapshotStore keys of each flow's snapshots (snapshots/<name>.json.gz), and beside each synchronised one
# the values LNB accepted (previews.SentValues: snapshots/<name>.sent.json.gz).
SNAPSHOTS = {
    "stock": ["snapshots/stock-all.json.gz"],
    "orders": [],
    "customers": ["snapshots/customers.json.gz", "snapshots/customers.sent.json.gz"],
    "products": [
        "snapshots/products.json.gz",
        "snapshots/products.sent.json.gz",
        "snapshots/products-fabrics.json.gz",
        "snapshots/products-fabrics.sent.json.gz",
    ],
    "prices": ["snapshots/prices.json.gz", "snapshots/prices.sent.json.gz"],
    "images": ["snapshots/images.json.gz", "snapshots/images-colours.json.gz", "snapshots/images.sent.json.gz"],
}
CREDENTIALS = "connector/brand/credentials"
API_ACCESS = "connector/brand/api-access"


@pytest.fixture(scope="module")
def statements_of(template: dict[str, Any], resources: dict[str, dict[str, Any]]) -> Any:
    resolver = Resolver(template)

    def statements(function: str) -> list[dict[str, Any]]:
        return role_statements(resources, f"{function}Role", resolver)

    return statements


def _other(flow: str) -> str:
    return "prices" if flow != "prices" else "stock"


def _flow_expectations(flow: str) -> list[tuple[Request, bool]]:
    other = _other(flow)
    orders = flow == "orders"
    return [
        # Its runs and its own lock.
        (item("GetItem", "RUN#x"), True),
        (item("PutItem", "RUN#x"), True),
        (item("UpdateItem", "RUN#x"), True),
        (item("DeleteItem", "RUN#x"), False),
        (item("PutItem", f"LOCK#{flow}"), True),
        (item("UpdateItem", f"LOCK#{flow}"), True),
        (item("DeleteItem", f"LOCK#{flow}"), True),
        (item("PutItem", f"LOCK#{other}"), False),
        (item("DeleteItem", f"LOCK#{other}"), False),
        # The order ledger: read and updated by the orders flow only, never written whole nor deleted.
        (item("GetItem", "ORDER#x"), orders),
        # The waiting orders' entries opened in one BatchGetItem, their leading keys checked like GetItem's.
        (Request("dynamodb:BatchGetItem", TABLE_ARN, {"dynamodb:LeadingKeys": ["ORDER#x", "ORDER#y"]}), orders),
        (Request("dynamodb:BatchGetItem", TABLE_ARN, {"dynamodb:LeadingKeys": ["ORDER#x", "RUN#y"]}), False),
        (Request("dynamodb:BatchGetItem", TABLE_ARN), False),
        (item("UpdateItem", "ORDER#x"), orders),
        (item("PutItem", "ORDER#x"), False),
        (item("DeleteItem", "ORDER#x"), False),
        (item("UpdateItem", "ORDERS#LOOKUP"), orders),
        (item("GetItem", "CHECK#last"), False),
        # No request without a leading key, no batch.
        (scan(), False),
        (Request("dynamodb:Query", TABLE_ARN), False),
        # Reading an images run sums its files' uploads, in the run's own partition.
        (table_query("RUN#x"), flow == "images"),
        (table_query("ORDER#x"), False),
        (batch_write("RUN#x"), False),
        (Request("dynamodb:DeleteTable", TABLE_ARN), False),
        # The index: its own runs; the ledger by status for orders only.
        (index_query(f"FLOW#{flow}"), True),
        (index_query(f"FLOW#{other}"), False),
        (index_query("LEDGER#blocked"), orders),
        (Request("dynamodb:Query", f"{TABLE_ARN}/index/by_flow"), False),
        # Snapshots: its own only; previews.
        *[(s3_object(action, key), True) for key in SNAPSHOTS[flow] for action in ("GetObject", "PutObject")],
        *[(s3_object("PutObject", key), False) for key in SNAPSHOTS[other]],
        (s3_object("PutObject", "previews/run-1.jsonl.gz"), True),
        (s3_object("DeleteObject", "previews/run-1.jsonl.gz"), False),
        (s3_object("PutObject", "images/M/F/1.jpg"), flow == "images"),
        (s3_object("PutObject", "uploaded/M/F/1/abc"), False),
        # The flows log in to Fastmag and Le New Black; the button tokens are not theirs.
        (read_secret(CREDENTIALS), True),
        (read_secret(API_ACCESS), False),
    ]


def _id(request: Request) -> str:
    keys = request.context.get("dynamodb:LeadingKeys")
    return ",".join(keys) if keys else request.resource.rsplit(":", 1)[-1]


FLOW_CASES = [
    pytest.param(function, request, allowed, id=f"{function}-{request.action}-{_id(request)}")
    for function, flow in FLOW_FUNCTIONS.items()
    for request, allowed in _flow_expectations(flow)
]


@pytest.mark.parametrize(("function", "request_", "allowed"), FLOW_CASES)
def test_flow_functions_reach_their_runs_lock_and_snapshots_only(
    statements_of: Any, function: str, request_: Request, allowed: bool
) -> None:
    assert decide(statements_of(function), request_) is allowed


API_CASES = [
    (item("GetItem", "RUN#x"), True),
    (item("PutItem", "RUN#x"), True),
    (item("UpdateItem", "RUN#x"), True),
    (item("DeleteItem", "RUN#x"), False),
    (item("GetItem", "ORDER#x"), True),
    (item("PutItem", "ORDER#x"), False),
    (item("UpdateItem", "ORDER#x"), False),
    (item("DeleteItem", "ORDER#x"), False),
    (item("GetItem", "CHECK#last"), True),
    (item("PutItem", "CHECK#last"), False),
    (item("PutItem", "LOCK#stock"), False),
    (item("DeleteItem", "LOCK#stock"), False),
    (scan(), False),
    (batch_write("RUN#x"), False),
    (index_query("FLOW#stock"), True),
    (index_query("LEDGER#blocked"), True),
    (Request("dynamodb:Query", f"{TABLE_ARN}/index/by_flow"), False),
    (table_query("ORDER#x"), False),
    (table_query("RUN#x"), True),
    (s3_object("GetObject", "previews/run-1.jsonl.gz"), True),
    (s3_object("GetObject", "snapshots/stock-all.json.gz"), False),
    (read_secret(CREDENTIALS), False),
]


@pytest.mark.parametrize(("request_", "allowed"), [pytest.param(r, a, id=f"{r.action}-{_id(r)}") for r, a in API_CASES])
def test_the_api_reads_the_ledger_and_writes_runs_only(statements_of: Any, request_: Request, allowed: bool) -> None:
    assert decide(statements_of("ApiFunction"), request_) is allowed


UPLOAD_CASES = [
    # Its outcome on the export run that staged the file, by UpdateItem only.
    (item("UpdateItem", "RUN#x"), True),
    (item("GetItem", "RUN#x"), False),
    (item("PutItem", "RUN#x"), False),
    (item("DeleteItem", "RUN#x"), False),
    (item("UpdateItem", "ORDER#x"), False),
    (item("DeleteItem", "ORDER#x"), False),
    (item("UpdateItem", "LOCK#images"), False),
    (scan(), False),
    (table_query("RUN#x"), False),
    (index_query("FLOW#images"), False),
    # The file (GetObject is also the permission of a HEAD), the exported colours, its upload markers.
    (s3_object("GetObject", "images/M/F/1.jpg"), True),
    (s3_object("PutObject", "images/M/F/1.jpg"), False),
    (s3_object("GetObject", "snapshots/images-colours.json.gz"), True),
    (s3_object("GetObject", "snapshots/images.json.gz"), False),
    (s3_object("PutObject", "uploaded/M/F/1/abc"), True),
    (read_secret(CREDENTIALS), True),
    (read_secret(API_ACCESS), False),
]


@pytest.mark.parametrize(
    ("request_", "allowed"), [pytest.param(r, a, id=f"{r.action}-{_id(r)}") for r, a in UPLOAD_CASES]
)
def test_the_upload_function_records_outcomes_on_runs_only(
    statements_of: Any, request_: Request, allowed: bool
) -> None:
    assert decide(statements_of("UploadImagesFunction"), request_) is allowed


@pytest.mark.parametrize(
    "request_",
    [
        item("GetItem", "RUN#x"),
        item("GetItem", "ORDER#x"),
        scan(),
        index_query("FLOW#stock"),
        s3_object("GetObject", "previews/run-1.jsonl.gz"),
        read_secret(CREDENTIALS),
    ],
    ids=_id,
)
def test_the_authorizer_touches_neither_the_table_nor_the_credentials(statements_of: Any, request_: Request) -> None:
    statements = statements_of("AuthorizerFunction")
    assert decide(statements, request_) is False
    assert decide(statements, read_secret(API_ACCESS)) is True


# --- the evaluator itself: each rule it implements changes a decision -----------------------------------------


TABLE_STATEMENT = {
    "Effect": "Allow",
    "Action": ["dynamodb:GetItem", "dynamodb:Scan"],
    "Resource": TABLE_ARN,
    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["RUN#*"]}},
}


def test_without_null_a_request_with_no_leading_key_passes_for_all_values() -> None:
    assert decide([TABLE_STATEMENT], scan()) is True  # why the template adds "Null": false
    guarded = {
        **TABLE_STATEMENT,
        "Condition": {**TABLE_STATEMENT["Condition"], "Null": {"dynamodb:LeadingKeys": "false"}},
    }
    assert decide([guarded], scan()) is False
    assert decide([guarded], item("GetItem", "RUN#1")) is True
    assert decide([guarded], item("GetItem", "ORDER#1")) is False


def test_an_explicit_deny_wins_and_actions_match_case_insensitively_with_wildcards() -> None:
    allow = {"Effect": "Allow", "Action": "DynamoDB:Get*", "Resource": f"{TABLE_ARN}*"}
    deny = {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN}
    assert decide([allow], item("GetItem", "RUN#1")) is True
    assert decide([allow, deny], item("GetItem", "RUN#1")) is False
    assert decide([allow], item("PutItem", "RUN#1")) is False
    assert decide([allow], Request("dynamodb:GetItem", TABLE_ARN.replace("state", "other"))) is False


def test_string_like_needs_the_key_and_unknown_operators_are_refused() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "*",
        "Condition": {"StringLike": {"s3:prefix": ["images/*"]}},
    }
    assert decide([statement], Request("s3:GetObject", "arn:aws:s3:::b/k", {"s3:prefix": ["images/a"]})) is True
    assert decide([statement], Request("s3:GetObject", "arn:aws:s3:::b/k")) is False
    odd = {**statement, "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}
    with pytest.raises(NotImplementedError):
        decide([odd], Request("s3:GetObject", "arn:aws:s3:::b/k"))


READINESS_CASES = [
    # Its runs and lock, like every flow.
    (item("PutItem", "RUN#x"), True),
    (item("DeleteItem", "LOCK#readiness"), True),
    (item("DeleteItem", "LOCK#stock"), False),
    # The ledger and the other flows' runs: read only.
    (item("GetItem", "ORDER#x"), True),
    (item("UpdateItem", "ORDER#x"), False),
    (item("PutItem", "ORDER#x"), False),
    (item("DeleteItem", "ORDER#x"), False),
    (index_query("LEDGER#sent"), True),
    (index_query("FLOW#prices"), True),
    # It explains keys for the export API: the last stock runs and the stock snapshot, read only.
    (index_query("FLOW#stock"), True),
    (index_query("FLOW#orders"), False),
    (scan(), False),
    # Its reports; no snapshot written, only the stock one read.
    (s3_object("PutObject", "readiness/run-1.jsonl.gz"), True),
    (s3_object("PutObject", "snapshots/stock-all.json.gz"), False),
    (s3_object("GetObject", "snapshots/stock-ean13.json.gz"), True),
    (s3_object("GetObject", "snapshots/prices.json.gz"), False),
    (read_secret(CREDENTIALS), True),
    (read_secret(API_ACCESS), False),
]


@pytest.mark.parametrize(
    ("request_", "allowed"), READINESS_CASES, ids=[f"{r.action}-{_id(r)}" for r, _ in READINESS_CASES]
)
def test_the_readiness_report_reads_the_ledger_and_writes_only_its_runs_and_reports(
    statements_of: Any, request_: Request, allowed: bool
) -> None:
    assert decide(statements_of("ReadinessFunction"), request_) is allowed


RECONCILE_CASES = [
    # A repair takes the lock of each flow it writes for, and saves their snapshots.
    (item("PutItem", "LOCK#stock"), True),
    (item("DeleteItem", "LOCK#prices"), True),
    (item("PutItem", "LOCK#orders"), False),
    (s3_object("PutObject", "snapshots/stock-all.json.gz"), True),
    (s3_object("PutObject", "snapshots/prices.sent.json.gz"), True),
    (s3_object("PutObject", "snapshots/images.json.gz"), False),
    # Never the order ledger, never a scan.
    (item("GetItem", "ORDER#x"), False),
    (item("DeleteItem", "ORDER#x"), False),
    (index_query("LEDGER#sent"), False),
    (scan(), False),
    (read_secret(API_ACCESS), False),
]


@pytest.mark.parametrize(
    ("request_", "allowed"), RECONCILE_CASES, ids=[f"{r.action}-{_id(r)}" for r, _ in RECONCILE_CASES]
)
def test_reconcile_reaches_the_locks_and_snapshots_it_repairs_and_never_the_ledger(
    statements_of: Any, request_: Request, allowed: bool
) -> None:
    assert decide(statements_of("ReconcileFunction"), request_) is allowed
