"""Every flow through its real handler, and what Le New Black / Fastmag hold because of it: shared by the
matrices of tests (faults, leaks, hostile rows) that run all flows the same way."""

from __future__ import annotations

import uuid
from typing import Any

from connector.flows import FLOWS as REGISTRY
from connector.runner import RunFailed
from sandbox.run import available_functions
from sandbox.stack import LocalStack

# Read-only flows leave nothing on the other side to compare, send no batch to fault: their own tests cover them
# (test_readiness.py), and the leak check runs them too.
READ_ONLY = ("readiness",)
# Flows whose function exists in this checkout (images lands separately; the matrices skip it until then).
# Reconcile moves no data of its own (it repairs only when asked): test_reconcile.py covers it, not the matrices.
FLOWS = [flow for flow in available_functions() if flow not in READ_ONLY and flow != "reconcile"]
MISSING = [flow for flow in REGISTRY if flow not in available_functions()]
# Fields the simulator stamps on each write: not part of what the connector sent.
_STAMPS = ("create_time", "update_time")


def run_flow(stack: LocalStack, flow: str, **fields: Any) -> dict[str, Any]:
    """One run of `flow` through its handler (images: then its S3 uploads); a failed run's record, not a raise."""
    run_id = f"{flow}-{uuid.uuid4().hex[:12]}"
    event = stack.event(
        REGISTRY[flow].sample_event, **{"run_id": run_id, "execution_id": None, "preview": False, **fields}
    )
    try:
        result: dict[str, Any] = stack.invoke(REGISTRY[flow].function_dir, event)
    except RunFailed:
        result = {**stack.run_record(run_id), "raised": True}
    if flow == "images":
        result["uploads"] = deliver_uploads(stack)
    return result


def deliver_uploads(stack: LocalStack) -> list[dict[str, Any]]:
    """Each staged file's S3 event through ImageUploadQueue to the upload code, delivered again as the queue does
    (up to its maxReceiveCount); one whose deliveries all failed ends in the dead letter queue: answered as failed."""
    return stack.deliver_s3_events()


def outcome(result: dict[str, Any]) -> str:
    """A run's status, as the matrices print it; images adds the worst outcome of its uploads."""
    status = str(result["status"])
    events = {answer.get("event") for answer in result.get("uploads", [])}
    if "record.failed" in events:
        return f"{status}+upload-failed"
    if events & {"record.rejected", "record.skipped"} and status == "succeeded":
        return "partial"
    return status


def _plain(store: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: {k: v for k, v in item.items() if k not in _STAMPS} for key, item in store.items()}


def target_state(stack: LocalStack, flow: str) -> Any:
    """What the flow is responsible for on the other side, comparable between two stacks."""
    lnb = stack.lnb
    match flow:
        case "customers":
            return _plain(lnb.retailers)
        case "products":
            return _plain(lnb.products), _plain(lnb.fabrics)
        case "prices":
            return _plain(lnb.prices), _plain(lnb.prices_by_size)
        case "images":
            return {key: image.sha256 for key, image in lnb.images.items()}
        case "stock":
            return {ean: int(row["in_stock"]) for ean, row in lnb.inventory_ean.items()}
        case "orders":
            fastmag = sorted((o["RefExterne"], len(o["lines"])) for o in stack.fastmag.orders())
            return fastmag, {ref: order["status"] for ref, order in lnb.orders.items()}
    raise ValueError(flow)
