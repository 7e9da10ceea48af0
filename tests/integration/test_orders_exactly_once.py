"""Orders exactly once under writes that never left, answers lost after a commit, partial orders and a lookup
that cannot be trusted, through ImportOrdersFunction's real handler, moto and the simulators.

Steps are explicit: faults are armed before a tick, barriers (`FastmagSimulator.hold_next_write`) order
concurrent steps, and the ledger's clock is moved by hand to pass the resend settle time. Invariant of every
test: Fastmag holds exactly one complete copy of every valid order, and every valid order ends `exported`, or
`blocked` with a reason an operator can act on.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.client import BaseClient
from requests.adapters import HTTPAdapter

from connector import cli
from connector import ledger as ledger_module
from connector.ledger import LedgerStatus, OrderLedger
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.seed import build_seed, lnb_orders
from sandbox.stack import LocalStack
from tests.conftest import TaskLog

INVOICING, CLOSED, BLOCKED = "invoicing", "closed", "blocked"
SETTINGS = {
    "lenewblack": {"backoff_base_seconds": 0, "backoff_cap_seconds": 0},
    "fastmag": {"wire": {"read_timeout_seconds": 2}},
}
SETTLE = timedelta(seconds=301)  # just over the default orders.resend_settle_seconds
_ticks = itertools.count()


class Clock:
    """The ledger's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(ledger_module, "now", moved)
    return moved


@pytest.fixture(params=[1, 4], ids=["fastmag-serial", "fastmag-4"])
def small(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """Four orders waiting; every test runs with Fastmag writes serial (the default) and four at once."""
    document = {**SETTINGS, "orders": {"fastmag_concurrency": request.param}}
    with LocalStack(build_seed(models=10, retailers=6), settings_document=document, orders=4) as local:
        yield local


def tick(stack: LocalStack, **fields: Any) -> dict[str, Any]:
    """One scheduled tick, distinct from every other (its own scheduled time and execution id)."""
    n = next(_ticks)
    event = stack.event(
        "schedule_orders",
        scheduled_time=(datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=15 * n)).isoformat(),
        execution_id=f"tick-{n}",
        **fields,
    )
    result: dict[str, Any] = stack.invoke("import_orders", event)
    return result


def copies(stack: LocalStack) -> Counter[str]:
    return Counter(str(order["RefExterne"]) for order in stack.fastmag.orders())


def status(stack: LocalStack, reference: str) -> LedgerStatus:
    entry = OrderLedger(stack.table).get(reference)
    assert entry is not None
    return entry.status


def waiting(stack: LocalStack) -> list[str]:
    return sorted(r for r, order in stack.lnb.orders.items() if order["status"] == INVOICING)


def hit(stack: LocalStack, references: list[str], outcome: LedgerStatus) -> list[str]:
    """The orders a fault armed for "the next write(s)" hit, told by the status it left them in: with writes
    serial they are the first orders, in order; with concurrent writes, whichever write reached Fastmag first."""
    found = [reference for reference in references if status(stack, reference) == outcome]
    if stack.settings.orders.fastmag_concurrency == 1:
        assert found == references[: len(found)], (found, references)
    return found


def refuse_write_connections(monkeypatch: pytest.MonkeyPatch, stack: LocalStack, times: int) -> None:
    """The next `times` writes meet a refused connection (a real one: a port nobody listens on)."""
    closed = f"http://127.0.0.1:{_closed_port()}"
    original = HTTPAdapter.send
    left = [times]

    def send(self: HTTPAdapter, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if left[0] > 0 and url.lower().endswith("/ediwebsrv.ips") and url.startswith(stack.fastmag.url):
            left[0] -= 1
            request.url = closed + url[len(stack.fastmag.url) :]
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", send)


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_write_never_left_goes_back_at_once_and_503_after_the_body_waits_for_lookup_or_settle(
    small: LocalStack, clock: Clock, monkeypatch: pytest.MonkeyPatch, task_log: TaskLog
) -> None:
    references = waiting(small)
    # Tick 1: the first write never leaves, the second is stored then answered by a 503 page, the rest OK.
    refuse_write_connections(monkeypatch, small, times=1)
    small.fastmag.faults.fail_after_commit = 1
    tick(small)
    (first,) = hit(small, references, LedgerStatus.VALIDATED)
    (second,) = hit(small, [r for r in references if r != first], LedgerStatus.SENT)
    rest = [r for r in references if r not in {first, second}]
    assert status(small, first) == LedgerStatus.VALIDATED
    entry = OrderLedger(small.table).get(first)
    assert entry is not None and entry.attempt == 1 and not entry.write_may_exist
    assert status(small, second) == LedgerStatus.SENT
    assert copies(small) == Counter(dict.fromkeys([second, *rest], 1))
    assert [line["key"] for line in task_log.events("order.unknown")] == [second]

    tick(small)
    assert status(small, first) == LedgerStatus.EXPORTED  # sent again at once: it never left
    assert status(small, second) == LedgerStatus.EXPORTED  # found by the lookup: not written again

    # A new order whose write is answered 503 before Fastmag stored anything.
    lost = str(9501)
    small.lnb.add_order({**lnb_orders(small.seed, count=1, start_reference=9501)[0]})
    small.fastmag.faults.fail_next_write = 1
    tick(small)
    assert status(small, lost) == LedgerStatus.SENT

    tick(small)  # within the settle time a miss proves nothing: it waits (and is not skipped for ever)
    assert status(small, lost) == LedgerStatus.SENT and copies(small)[lost] == 0
    clock.advance(SETTLE)
    tick(small)
    assert status(small, lost) == LedgerStatus.EXPORTED
    entry = OrderLedger(small.table).get(lost)
    assert entry is not None and entry.auto_resends == 1
    assert copies(small) == Counter(dict.fromkeys([first, second, lost, *rest], 1))
    assert waiting(small) == []


def test_a_sent_order_that_then_fails_validation_waits_sent_and_goes_through_once_fixed(
    small: LocalStack, clock: Clock
) -> None:
    references = waiting(small)
    small.fastmag.faults.fail_next_write = 1  # the first write stores nothing and answers 503
    tick(small)
    (target,) = hit(small, references, LedgerStatus.SENT)
    retailer = small.lnb.orders[target]["retailer_reference"]
    small.lnb.orders[target]["retailer_reference"] = "777777"  # now fails validation
    for _ in range(2):
        tick(small)
        clock.advance(SETTLE)
        assert status(small, target) == LedgerStatus.SENT  # validation never downgrades `sent`
        assert copies(small)[target] == 0
    small.lnb.orders[target]["retailer_reference"] = retailer
    tick(small)
    assert status(small, target) == LedgerStatus.EXPORTED
    assert copies(small)[target] == 1
    assert small.lnb.orders[target]["status"] == CLOSED


def test_one_transaction_per_call_refused_after_the_header_is_blocked_as_partial_never_exported(
    clock: Clock, task_log: TaskLog
) -> None:
    settings = {**SETTINGS, "fastmag": {"wire": {"read_timeout_seconds": 2, "transactions_per_call": "one"}}}
    with LocalStack(build_seed(models=10, retailers=6), settings_document=settings, orders=0) as stack:
        template = lnb_orders(stack.seed, count=1, start_reference=9601)[0]
        good = stack.seed.good_variants()[:3]
        item = template["items"][0]
        items = [{**item, "ean13": v.gencod, "sku": f"{v.barcode}-{v.couleur}-{v.taille}"} for v in good]
        stack.lnb.add_order({**template, "items": items})
        reference = str(template["reference"])
        stack.fastmag.faults.ko_after_lines = 1  # header and first line accepted, the second refused
        tick(stack)
        entry = OrderLedger(stack.table).get(reference)
        assert entry is not None and entry.status == LedgerStatus.BLOCKED
        assert entry.reason == "partial order in Fastmag: 1 of 3 lines"
        assert entry.lines_accepted == 1
        assert [line["key"] for line in task_log.events("order.stuck")] == [reference]
        stack.fastmag.faults.ko_after_lines = None
        for _ in range(2):
            clock.advance(SETTLE)
            tick(stack)
        assert status(stack, reference) == LedgerStatus.BLOCKED  # the lookup sees 1 line of 3: still partial
        assert copies(stack) == Counter({reference: 1})


def test_settings_refuse_one_transaction_per_call_without_line_count() -> None:
    from connector.settings import Settings

    with pytest.raises(ValueError, match="line_count"):
        Settings.model_validate(
            {
                "fastmag": {
                    "wire": {"transactions_per_call": "one"},
                    "queries": {
                        "orders_by_reference": "SELECT RefExterne AS external_reference, Commande AS fastmag_number "
                        "FROM commandes WHERE RefExterne IN ({references})"
                    },
                }
            }
        )


BLIND_LOOKUP = (
    "SELECT o.RefExterne AS external_reference, o.Commande AS fastmag_number FROM commandes o "
    "WHERE o.RefExterne IN ({references}) AND 1 = 0"
)


def test_a_lookup_that_never_finds_anything_never_writes_twice_and_blocks_what_it_cannot_confirm(
    small: LocalStack, clock: Clock, task_log: TaskLog
) -> None:
    small.configure({"fastmag": {"queries": {"orders_by_reference": BLIND_LOOKUP}}})
    references = waiting(small)
    small.fastmag.faults.drop_after_commit = 1  # the first write is stored, its answer lost
    small.fastmag.faults.fail_after_commit = 1  # the second is stored, answered 503
    tick(small)
    first, second = hit(small, references, LedgerStatus.SENT)
    rest = [r for r in references if r not in {first, second}]
    assert task_log.events("orders.lookup_broken")[0]["level"] == "ERROR"
    for _ in range(3):
        clock.advance(SETTLE)
        tick(small)
    for reference in (first, second):
        entry = OrderLedger(small.table).get(reference)
        assert entry is not None and entry.status == LedgerStatus.BLOCKED
        assert entry.reason is not None and f"check Fastmag for external reference {reference}" in entry.reason
    assert {line["key"] for line in task_log.events("order.stuck")} == {first, second}
    assert all(status(small, reference) == LedgerStatus.EXPORTED for reference in rest)
    assert copies(small) == Counter(dict.fromkeys([first, second, *rest], 1))

    # The operator checks Fastmag and resolves both: one was there, the other is said to be there too.
    numbers = {str(o["RefExterne"]): str(o["Commande"]) for o in small.fastmag.orders()}
    for reference in (first, second):
        assert resolve(small, reference, "--resolve", "exported", "--fastmag-number", numbers[reference]) == 0
        assert status(small, reference) == LedgerStatus.EXPORTED
        assert small.lnb.orders[reference]["status"] == CLOSED


def resolve(stack: LocalStack, *arguments: str) -> int:
    """The operator's command, with the stack's settings file and its secret in the environment."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("CONNECTOR_SECRET", json.dumps(SANDBOX_CREDENTIALS))
        return cli.main(["order", *arguments, "--settings", str(_settings_file(stack))])


def _settings_file(stack: LocalStack) -> Path:
    path = Path(stack.names["STATE_TABLE"] + ".json")
    target = Path(__file__).resolve().parents[1] / "artifacts" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(stack.settings_document()), encoding="utf-8")
    return target


def test_resolve_resend_sends_a_stuck_order_once_more(
    small: LocalStack, clock: Clock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET", json.dumps(SANDBOX_CREDENTIALS))
    small.configure({"orders": {"max_auto_resends": 0}})
    references = waiting(small)
    small.fastmag.faults.fail_next_write = 1  # stored nothing, answered 503
    tick(small)
    (target,) = hit(small, references, LedgerStatus.SENT)
    clock.advance(SETTLE)
    tick(small)
    assert status(small, target) == LedgerStatus.BLOCKED  # no automatic resend allowed
    assert resolve(small, target) == 0
    assert "a write may be in Fastmag" in capsys.readouterr().out
    assert resolve(small, target, "--resolve", "resend", "--why", "not in Fastmag on 2026-11-30") == 0
    entry = OrderLedger(small.table).get(target)
    assert entry is not None and entry.status == LedgerStatus.VALIDATED
    assert "not in Fastmag on 2026-11-30" in entry.history[-1]
    tick(small)
    assert status(small, target) == LedgerStatus.EXPORTED
    assert copies(small)[target] == 1
    assert resolve(small, target, "--resolve", "resend") == 2  # an exported order is never sent again


def test_two_runs_interleaved_by_a_barrier_write_an_order_once(small: LocalStack, clock: Clock) -> None:
    """A run holds its first write at the simulator; a second run (its lease taken over) goes through the same
    orders meanwhile. The ledger's compare-and-set alone keeps every order to one copy."""
    from connector.events import FlowRequest
    from connector.flows import orders
    from connector.flows.context import FlowContext
    from connector.run_log import Run
    from connector.services import services_for
    from connector.settings import parse_secret

    services = services_for(small.settings, parse_secret(SANDBOX_CREDENTIALS))
    hold = small.fastmag.hold_next_write()

    def run(run_id: str) -> None:
        context = FlowContext(services, Run(FlowRequest(flow="orders", trigger="schedule"), run_id, services.runs))
        orders.run(context)

    first = threading.Thread(target=run, args=("run-a",))
    first.start()
    hold.wait_reached()  # run A claimed an order and its write sits in Fastmag, not yet stored
    run("run-b")  # run B writes every other order, and skips the one A holds: it is `sent`
    hold.release_and_wait()  # stored before the next run looks it up
    first.join()
    assert copies(small) == Counter(dict.fromkeys(waiting(small) + list(copies(small)), 1))
    clock.advance(SETTLE)
    run("run-c")
    assert all(status(small, reference) == LedgerStatus.EXPORTED for reference in copies(small))
    assert waiting(small) == []


def test_an_orders_preview_writes_nothing_not_even_the_ledger(small: LocalStack) -> None:
    good = small.lnb.orders[waiting(small)[0]]
    small.lnb.add_order({**good, "reference": 9701, "retailer_reference": "777777"})  # would be blocked
    tick(small, preview=True)
    items = small.table.scan(FilterExpression="begins_with(pk, :order)", ExpressionAttributeValues={":order": "ORDER"})
    assert items["Items"] == []
    assert copies(small) == Counter()


def test_a_blocked_order_that_left_the_lnb_statuses_is_abandoned_with_its_status(small: LocalStack) -> None:
    good = small.lnb.orders[waiting(small)[0]]
    small.lnb.add_order({**good, "reference": 9801, "retailer_reference": "777777"})
    tick(small)
    assert status(small, "9801") == LedgerStatus.BLOCKED
    small.lnb.orders["9801"]["status"] = CLOSED  # someone dealt with it in Le New Black
    tick(small)
    entry = OrderLedger(small.table).get("9801")
    assert entry is not None and entry.status == LedgerStatus.ABANDONED
    assert entry.reason == f"no longer waiting in Le New Black (status {CLOSED})"
    assert all(e.reference != "9801" for e in OrderLedger(small.table).with_status(LedgerStatus.BLOCKED))


def page_ledger_queries(monkeypatch: pytest.MonkeyPatch, limit: int) -> list[dict[str, Any]]:
    """Every ledger query by status answers at most `limit` items a page (as DynamoDB does past 1 MB); the queries
    made, as sent."""
    sent: list[dict[str, Any]] = []
    original = BaseClient._make_api_call

    def call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        values = params.get("ExpressionAttributeValues", {})
        if operation == "Query" and str(values.get(":status", "")).startswith("LEDGER#"):
            params = {**params, "Limit": limit}
            sent.append(params)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return sent


def test_blocked_orders_are_re_read_across_lnb_and_ledger_pages_and_a_fixed_one_goes_through_once(
    small: LocalStack, monkeypatch: pytest.MonkeyPatch, task_log: TaskLog
) -> None:
    small.lnb.page_size = 2
    queries = page_ledger_queries(monkeypatch, limit=2)
    template = lnb_orders(small.seed, count=1, start_reference=9900)[0]
    blocked = [str(9900 + n) for n in range(7)]
    for reference in blocked:
        small.lnb.add_order({**template, "reference": reference, "retailer_reference": "777777"})
    tick(small)
    assert {reference: small.lnb.orders[reference]["status"] for reference in blocked} == dict.fromkeys(
        blocked, BLOCKED
    )
    assert {reference: status(small, reference) for reference in blocked} == dict.fromkeys(
        blocked, LedgerStatus.BLOCKED
    )

    fixed = blocked[-1]  # on the last page of the LNB list
    small.lnb.orders[fixed]["retailer_reference"] = template["retailer_reference"]
    queries.clear()
    small.lnb.clear_requests()
    second = tick(small)
    # Every blocked order was validated again (and stays blocked, with its reason); the fixed one went through once.
    again = [line for line in task_log.events("order.blocked") if line["run_id"] == second["run_id"]]
    assert sorted(line["key"] for line in again) == blocked[:-1]
    assert {reference: status(small, reference) for reference in blocked[:-1]} == dict.fromkeys(
        blocked[:-1], LedgerStatus.BLOCKED
    )
    assert status(small, fixed) == LedgerStatus.EXPORTED
    assert small.lnb.orders[fixed]["status"] == CLOSED
    # Both lists were read page after page: 7 ledger entries by 2, 7 LNB orders by 2.
    blocked_queries = [q for q in queries if q["ExpressionAttributeValues"][":status"] == "LEDGER#blocked"]
    assert len(blocked_queries) == 4 and all("ExclusiveStartKey" in q for q in blocked_queries[1:])
    pages = [r.query["page"] for r in small.lnb.requests if r.path == "/orders" and r.query["status"] == BLOCKED]
    assert pages == ["1", "2", "3", "4"]
    tick(small)
    assert copies(small)[fixed] == 1
    assert not set(blocked[:-1]) & set(copies(small))


def test_a_clean_run_makes_at_most_four_ledger_calls_an_order(
    small: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARCHITECTURE §10: every DynamoDB call on an order's entry counted as sent (one BatchGetItem opens the waiting
    orders' entries; a new order's entry is created by its claim), then exported, LNB status recorded."""
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if "ORDER#" in json.dumps(params, default=str):
            calls[operation] += 1
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    references = waiting(small)
    tick(small)
    assert copies(small) == Counter(dict.fromkeys(references, 1))
    assert calls["BatchGetItem"] == 1, calls
    assert sum(calls.values()) <= 4 * len(references), calls
