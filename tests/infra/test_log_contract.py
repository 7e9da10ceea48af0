"""The log field contract (ARCHITECTURE §7): every field a saved Logs Insights query (or a dashboard log
widget) names is emitted by the handlers. The flows run through their real handlers on the sandbox and the
test reads the JSON lines they log, as CloudWatch would hold them."""

from __future__ import annotations

import json
import re

import pytest

from sandbox.run import available_functions
from sandbox.seed import lnb_orders
from sandbox.stack import LocalStack
from sandbox.template import ROOT, load_template, resources_of_type
from tests.conftest import TaskLog

# Fields Logs Insights itself adds to every line.
SYSTEM_FIELDS = {"@timestamp", "@message", "@logStream", "@log", "@ingestionTime"}
KEYWORDS = {
    "fields", "filter", "stats", "sort", "limit", "display", "dedup", "parse",
    "by", "as", "and", "or", "not", "in", "like", "desc", "asc",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_IDENTIFIER = re.compile(r"(?<![\w.@])@?[A-Za-z_][A-Za-z0-9_.]*(?=\s*(\()?)")


def query_fields(query: str) -> set[str]:
    """The log fields a Logs Insights query reads: identifiers that are no keyword, function, alias or literal."""
    query = re.sub(r"^\s*SOURCE\s+'[^']*'\s*\|", "", query)
    text = _STRING.sub(" ", query)
    aliases = set(re.findall(r"\bas\s+([A-Za-z_][A-Za-z0-9_]*)", text))
    found = set()
    for match in _IDENTIFIER.finditer(text):
        name, is_call = match.group(0), match.group(1)
        if is_call or name.lower() in KEYWORDS or name in aliases:
            continue
        found.add(name)
    return found


def template_queries() -> dict[str, str]:
    """Every saved query, and every log widget query of the dashboard, by name."""
    template = load_template()
    queries = {
        q["Properties"]["Name"]: q["Properties"]["QueryString"]
        for q in resources_of_type(template, "AWS::Logs::QueryDefinition").values()
    }
    for name, dashboard in resources_of_type(template, "AWS::CloudWatch::Dashboard").items():
        body = dashboard["Properties"]["DashboardBody"]
        text = body["Fn::Sub"] if isinstance(body, dict) else body
        document = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
        for widget in document["widgets"]:
            if widget["type"] == "log":
                queries[f"{name}: {widget['properties']['title']}"] = widget["properties"]["query"]
    return queries


def test_the_parser_finds_fields_and_ignores_the_rest() -> None:
    query = (
        'filter event = "order.blocked" and ispresent(reason)\n'
        "| stats latest(reason) as why, count(*) as n, pct(duration_ms, 95) by key, bin(5m)\n| sort n desc"
    )
    assert query_fields(query) == {"event", "reason", "duration_ms", "key"}
    assert query_fields("SOURCE 'group' | fields @timestamp, flow") == {"@timestamp", "flow"}


@pytest.fixture(scope="module")
def emitted() -> set[str]:
    """Field names of every line the handlers log over one pass of every flow and the API."""
    log = TaskLog()
    from connector.observability import logger

    previous = logger.registered_handler.setStream(log.stream)
    try:
        with LocalStack(
            settings_document={"lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0}}
        ) as stack:
            # An order that blocks, so the blocked-orders query has lines to read.
            stack.lnb.add_order(
                {**lnb_orders(stack.seed, count=1, start_reference=9003)[0], "retailer_reference": "777777"}
            )
            for flow, folder in available_functions().items():
                stack.invoke(folder, {"flow": flow, "trigger": "cli"})
            # A blocked order is re-validated every run; from the second run on its line carries its LNB status.
            stack.invoke("import_orders", {"flow": "orders", "trigger": "cli"})
            stack.lnb.reject_items("inventory/ean", [next(iter(stack.lnb.inventory_ean))], {"in_stock": ["invalid"]})
            stack.fastmag.execute("UPDATE stock SET stock = stock + 3 WHERE codemag = 'CENTRAL'")
            stack.invoke("push_stock", {"flow": "stock", "trigger": "cli"})
    finally:
        logger.registered_handler.setStream(previous)
    fields: set[str] = set()
    for line in log.lines:
        fields |= set(line)
    assert {"record.sent", "order.blocked", "run.finished", "remote.call"} <= {line.get("event") for line in log.lines}
    return fields


@pytest.mark.parametrize("name", sorted(template_queries()))
def test_every_field_a_saved_query_uses_is_emitted(name: str, emitted: set[str]) -> None:
    fields = query_fields(template_queries()[name])
    assert fields, name
    missing = {field for field in fields - SYSTEM_FIELDS if field not in emitted}
    assert not missing, f"{name} reads {sorted(missing)}, which no handler logs"


@pytest.mark.parametrize("name", sorted(template_queries()))
def test_every_event_a_saved_query_filters_on_is_logged(name: str, emitted: set[str]) -> None:
    events = re.findall(r'event\s*=\s*"([^"]+)"', template_queries()[name])
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "layers/common/connector").rglob("*.py"))
    for event in events:
        assert f'"{event}"' in source, f"{name} filters on {event}, which no code logs"
