"""Orders flow through ImportOrdersFunction's real handler: exactly once into Fastmag, or blocked with a reason."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from connector.ean import make_ean13
from connector.ledger import LedgerEntry, LedgerStatus, OrderLedger
from connector.runner import RunFailed
from sandbox.seed import lnb_orders
from sandbox.stack import LocalStack
from tests.conftest import TaskLog

INVOICING, CLOSED, BLOCKED = "invoicing", "closed", "blocked"


@pytest.fixture(params=[1, 4], ids=["fastmag-serial", "fastmag-4"])
def writes_at(request: pytest.FixtureRequest, stack: LocalStack) -> int:
    """Fastmag writes serial (the default) and four at once: each order still arrives once."""
    concurrency: int = request.param
    stack.configure({"orders": {"fastmag_concurrency": concurrency}})
    return concurrency


def pull(stack: LocalStack, **fields: Any) -> dict[str, Any]:
    """One scheduled tick; each call is a new tick (no scheduled time: its own run id) unless the test names one."""
    event = stack.event("schedule_orders", **{"execution_id": None, "scheduled_time": None, **fields})
    result: dict[str, Any] = stack.invoke("import_orders", event)
    return result


def fastmag_copies(stack: LocalStack) -> Counter[str]:
    return Counter(str(order["RefExterne"]) for order in stack.fastmag.orders())


def seeded_references(stack: LocalStack) -> set[str]:
    return {reference for reference, order in stack.lnb.orders.items() if order["status"] == INVOICING}


def ledger(stack: LocalStack) -> OrderLedger:
    return OrderLedger(stack.table)


@pytest.mark.usefixtures("writes_at")
def test_invoicing_orders_arrive_once_with_customer_lines_and_quantities(stack: LocalStack) -> None:
    references = seeded_references(stack)
    assert len(references) >= 5
    result = pull(stack)
    assert result["status"] == "succeeded"
    assert result["counters"]["accepted"] == len(references)
    by_reference = {str(order["RefExterne"]): order for order in stack.fastmag.orders()}
    assert set(by_reference) == references
    eans = {v.gencod: v for v in stack.seed.variants}
    for reference in references:
        lnb = stack.lnb.orders[reference]
        fastmag = by_reference[reference]
        assert str(fastmag["Client"]) == lnb["retailer_reference"]
        assert [
            (line["Reference"], line["Couleur"], line["Taille"], line["Quantite"]) for line in fastmag["lines"]
        ] == [
            (eans[i["ean13"]].barcode, eans[i["ean13"]].couleur, eans[i["ean13"]].taille, i["quantity"])
            for i in lnb["items"]
        ]
        assert lnb["status"] == CLOSED
        entry = ledger(stack).get(reference)
        assert entry is not None and entry.status == LedgerStatus.EXPORTED
        assert entry.fastmag_number == str(fastmag["Commande"])
        assert entry.lnb_status == CLOSED

    stack.fastmag.requests.clear()
    again = pull(stack)
    assert again["counters"]["sent"] == 0
    assert fastmag_copies(stack) == Counter(dict.fromkeys(references, 1))


def test_comment_with_accents_pipe_and_line_break_arrives_intact(stack: LocalStack) -> None:
    comment = "Livraison à l'entrepôt | quai n°3\r\nAppeler Mme Dupré avant"
    reference = sorted(seeded_references(stack))[0]
    stack.lnb.orders[reference]["comment"] = comment
    pull(stack)
    (stored,) = [o for o in stack.fastmag.orders() if str(o["RefExterne"]) == reference]
    assert stored["Commentaire"] == comment
    wire = [r for r in stack.fastmag.requests if r.endpoint == "write"]
    assert any("{PIPE}" in r.params.get("data", "") and "{CR}{LF}" in r.params.get("data", "") for r in wire)


def _die_after_fastmag_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function dies after Fastmag's OK but before the ledger records the export (once)."""
    original = OrderLedger.transition
    died: list[bool] = []

    def transition(
        self: OrderLedger, entry: LedgerEntry, status: LedgerStatus, note: str, **kwargs: Any
    ) -> LedgerEntry | None:
        if status == LedgerStatus.EXPORTED and not died:
            died.append(True)
            raise RuntimeError("Lambda timed out")
        return original(self, entry, status, note, **kwargs)

    monkeypatch.setattr(OrderLedger, "transition", transition)


FAULTS: dict[str, Callable[[LocalStack, pytest.MonkeyPatch], None]] = {
    "fastmag drops the connection after committing": lambda s, _: s.fastmag.drop_after_commit(times=2),
    "function dies after fastmag ok": lambda _, m: _die_after_fastmag_ok(m),
    "lnb status move fails": lambda s, _: s.lnb.fail_next("/orders/status", 500, times=3),
    "lnb 429 and 5xx while listing": lambda s, _: (
        s.lnb.fail_next("/orders", 429, times=2, retry_after=0),
        s.lnb.fail_next("/orders", 503, times=1),
    ),
}


@pytest.mark.usefixtures("writes_at")
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_matrix_one_copy_per_order_and_every_order_ends_exported(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    references = seeded_references(stack)
    FAULTS[fault](stack, monkeypatch)
    for _ in range(2):  # each fault is met by a first run, then recovered by the next one
        with contextlib.suppress(RunFailed):
            pull(stack)
    assert fastmag_copies(stack) == Counter(dict.fromkeys(references, 1))
    assert all(stack.lnb.orders[reference]["status"] == CLOSED for reference in references)
    assert all(ledger(stack).get(r).status == LedgerStatus.EXPORTED for r in references)  # type: ignore[union-attr]


def _add_order(stack: LocalStack, reference: int, **changes: Any) -> str:
    template = lnb_orders(stack.seed, count=1, start_reference=reference)[0]
    stack.lnb.add_order({**template, **changes})
    return str(reference)


def test_blocked_orders_each_have_their_reason_and_go_through_once_fixed(stack: LocalStack, task_log: TaskLog) -> None:
    good_item = lnb_orders(stack.seed, count=1)[0]["items"][0]
    no_ean = _add_order(stack, 9001, items=[{**good_item, "ean13": None}])
    unknown_ean = _add_order(stack, 9002, items=[{**good_item, "ean13": make_ean13("200000000001")}])
    stranger = _add_order(stack, 9003, retailer_reference="777777")
    result = pull(stack)
    assert result["status"] == "partial"
    reasons = {line["key"]: line["reason"] for line in task_log.events("order.blocked")}
    product = f'{good_item["reference"]} / {good_item["color"]} / {good_item["size"]}, "{good_item["name"]}"'
    assert reasons[no_ean] == f"line 1 ({product}) has no EAN13"  # the line as support finds it in LNB
    assert "is not a Fastmag variant" in reasons[unknown_ean]
    assert reasons[stranger] == "retailer reference 777777 is not a Fastmag customer"
    for reference in (no_ean, unknown_ean, stranger):
        assert stack.lnb.orders[reference]["status"] == BLOCKED
        entry = ledger(stack).get(reference)
        assert entry is not None and entry.status == LedgerStatus.BLOCKED and entry.reason == reasons[reference]
    assert reasons[stranger] in stack.run_record(result["run_id"])["errors"]
    assert not {no_ean, unknown_ean, stranger} & set(fastmag_copies(stack))

    customer = stack.seed.customers[0]
    stack.fastmag.execute(
        "INSERT INTO clients (Client, email, Nom, Prenom, Societe, Pays, TarifVente) VALUES (777777, ?, ?, ?, ?, ?, ?)",
        (customer.email, "Nouveau", "Client", "Boutique Nouvelle", "FRANCE", "GROS"),
    )
    pull(stack)
    assert fastmag_copies(stack)[stranger] == 1
    assert stack.lnb.orders[stranger]["status"] == CLOSED
    assert stack.lnb.orders[no_ean]["status"] == BLOCKED


def test_missing_ean_lines_can_be_skipped_by_setting(stack: LocalStack, task_log: TaskLog) -> None:
    stack.configure({"orders": {"missing_ean": "skip_line"}})
    items = lnb_orders(stack.seed, count=1)[0]["items"]
    reference = _add_order(stack, 9101, items=[*items, {**items[0], "ean13": ""}])
    result = pull(stack)
    (stored,) = [o for o in stack.fastmag.orders() if str(o["RefExterne"]) == reference]
    assert len(stored["lines"]) == len(items)
    assert any(line["key"] == reference for line in task_log.events("order.line_skipped"))
    # The order was written: its missing line is a warning, not an error.
    assert result["status"] == "succeeded"
    assert result["counters"]["warnings"] == 1


def test_fastmag_refusal_keeps_the_order_pending_and_raises_an_alarm_after_n_runs(
    stack: LocalStack, task_log: TaskLog
) -> None:
    references = seeded_references(stack)
    stack.configure({"orders": {"alarm_after_failed_runs": 2}})
    for _ in range(2):
        stack.fastmag.faults.ko_next_write = "Article inconnu"
        stack.fastmag.faults.fail_next = 0
        pull(stack)
    (failing,) = task_log.events("order.failing")
    assert failing["level"] == "ERROR" and "Article inconnu" in failing["reason"]
    entry = ledger(stack).get(failing["key"])
    assert entry is not None and entry.status == LedgerStatus.PENDING and entry.failed_runs == 2
    assert stack.lnb.orders[failing["key"]]["status"] == INVOICING
    pull(stack)
    assert fastmag_copies(stack) == Counter(dict.fromkeys(references, 1))


@pytest.mark.usefixtures("writes_at")
def test_overlapping_runs_never_export_an_order_twice(stack: LocalStack) -> None:
    references = seeded_references(stack)
    stack.fastmag.faults.latency_seconds = 0.05
    results: list[dict[str, Any]] = []

    def run(tick: str) -> None:
        results.append(pull(stack, execution_id=tick))

    threads = [threading.Thread(target=run, args=(f"tick-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert sorted(r["status"] for r in results).count("skipped") == 2
    assert fastmag_copies(stack) == Counter(dict.fromkeys(references, 1))


def test_preview_shows_transactions_and_sends_or_moves_nothing(stack: LocalStack) -> None:
    result = pull(stack, preview=True)
    assert stack.fastmag.orders() == []
    assert all(order["status"] == INVOICING for order in stack.lnb.orders.values())
    lines = stack.preview_lines(result["run_id"])
    transactions = [line for line in lines if "transaction" in line]
    assert {line["key"] for line in transactions} == seeded_references(stack)
    assert all(line["transaction"][0].startswith("COMMANDE|ENTETE|") for line in transactions)
