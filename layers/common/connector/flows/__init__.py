"""The flows, each a module with `run(ctx: FlowContext) -> None`, imported only when used (cold start)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.runner import FlowFunction

FLOW_MODULES: dict[str, str] = {
    "customers": "connector.flows.customers",
    "products": "connector.flows.products",
    "prices": "connector.flows.prices",
    "images": "connector.flows.images",
    "stock": "connector.flows.stock",
    "orders": "connector.flows.orders",
}


def flow_function(flow: str) -> FlowFunction:
    try:
        module = FLOW_MODULES[flow]
    except KeyError:
        raise KeyError(f"unknown flow {flow!r}; flows: {', '.join(FLOW_MODULES)}") from None
    run: FlowFunction = importlib.import_module(module).run
    return run
