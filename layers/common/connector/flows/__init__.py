"""The flows: one registry naming each flow's module, its Lambda function folder and a sample event.

Each flow is a module with `run(ctx: FlowContext) -> None`, imported only when used (cold start). Handlers,
the CLI, the sandbox and the tests read `FLOWS`; a test checks the template's functions against it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.settings import Flow

if TYPE_CHECKING:
    from connector.flows.context import FlowContext

FlowFunction = Callable[["FlowContext"], None]


@dataclass(frozen=True)
class FlowSpec:
    module: str  # the module holding the flow's `run`
    function_dir: str  # functions/<function_dir>/app.py, its Lambda handler
    sample_event: str  # events/<sample_event>.json, an event that function receives


# In the order a brand would first run them (make run follows it).
FLOWS: dict[Flow, FlowSpec] = {
    "customers": FlowSpec("connector.flows.customers", "export_customers", "export_customers"),
    "products": FlowSpec("connector.flows.products", "export_products", "export_products"),
    "prices": FlowSpec("connector.flows.prices", "export_prices", "export_prices"),
    "images": FlowSpec("connector.flows.images", "export_images", "export_images"),
    "stock": FlowSpec("connector.flows.stock", "push_stock", "schedule_stock"),
    "orders": FlowSpec("connector.flows.orders", "import_orders", "schedule_orders"),
    "reconcile": FlowSpec("connector.flows.reconcile", "reconcile", "schedule_reconcile"),
    # Read-only: lists what will block orders or exports (after the others, so make run reports on their result).
    "readiness": FlowSpec("connector.flows.readiness", "readiness", "schedule_readiness"),
}


def load_flow(flow: str) -> FlowFunction:
    """The `run` of `flow`, its module imported now."""
    try:
        spec = FLOWS[flow]  # type: ignore[index]  # any text may ask; only a Flow is found
    except KeyError:
        raise KeyError(f"unknown flow {flow!r}; flows: {', '.join(FLOWS)}") from None
    run: FlowFunction = importlib.import_module(spec.module).run
    return run
