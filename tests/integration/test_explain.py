"""One key explained (`GET /keys/{key}`, through ApiFunction's real handler, which asks the readiness function):
a stock value LNB holds that Fastmag no longer gives, with the guard's reason; an order's ledger and LNB status;
a retailer changed in LNB, field by field; unknown keys. Then the command line's `explain`, `history` and
`show --items`, each in a process of its own."""

from __future__ import annotations

import os
import re
import subprocess  # nosec B404 - the test runs the repository's own modules
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sandbox.handlers import ROOT
from sandbox.seed import lnb_orders
from sandbox.stack import LocalStack
from tests.integration.test_api import call, event
from tests.integration.test_cli import (
    TIMEOUT,
    assert_one_line_error,
    clean_environment,
    files_for,
    record_lines,
    run_id_of,
    stack_environment,
)
from tests.integration.test_products import export
from tests.integration.test_stock import lnb_stock, push, set_stock, variant_of


def explain(stack: LocalStack, key: str, *, html: bool = False, **query: str) -> tuple[int, Any]:
    headers = {"Accept": "text/html"} if html else {"Accept": "application/json"}
    document = event(stack, "api_order", path=f"/keys/{quote(key, safe='')}", params={"key": key}, headers=headers)
    document["queryStringParameters"] = query or None
    document["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} or None
    status, body, _ = call(stack, document)
    return status, body


def test_an_ean_lnb_holds_otherwise_shows_both_values_and_that_the_guard_held_the_push(api: LocalStack) -> None:
    push(api)
    zeroed = {
        str(row[0]) for row in api.fastmag.execute("SELECT barcode FROM produitsfiches ORDER BY barcode LIMIT 75")
    }
    ean, held_quantity = next(
        (ean, quantity)
        for ean, quantity in lnb_stock(api).items()
        if quantity > 0 and variant_of(api, ean)[0] in zeroed
    )
    api.fastmag.execute(
        "UPDATE stock SET stock = 0 WHERE barcode IN (SELECT barcode FROM produitsfiches ORDER BY barcode LIMIT 75)"
    )
    held = push(api)
    assert held["status"] == "held"

    status, body = explain(api, ean)
    assert status == 200, body
    assert body["kind"] == "ean"
    fastmag, lnb = body["sections"]["fastmag"], body["sections"]["le new black"]
    assert fastmag["available to sell now"] == 0
    assert fastmag["stores counted"] == ["CENTRAL", "WEB"]
    assert all(store["real"] == 0 for store in fastmag["per store"].values())
    assert lnb["value held now"] == lnb["last value pushed"] == held_quantity
    assert f"Le New Black holds {held_quantity}; Fastmag gives 0 now" in body["findings"]
    (reason,) = [finding for finding in body["findings"] if "was held" in finding]
    assert held["run_id"] in reason and "stock push held" in reason
    assert body["history_url"].endswith(f"/keys/{ean}/history")

    status, page = explain(api, ean, html=True)
    assert status == 200
    assert f"Le New Black holds {held_quantity}; Fastmag gives 0 now" in page
    assert 'id="events" data-url=' in page and f"/keys/{ean}/history" in page


def test_a_stock_value_lnb_changed_after_the_push_is_said_so(api: LocalStack) -> None:
    push(api)
    ean, pushed = next((ean, quantity) for ean, quantity in lnb_stock(api).items() if quantity > 3)
    api.lnb.inventory_ean[ean]["in_stock"] = 3  # an order placed in LNB since the push
    status, body = explain(api, ean, kind="ean")
    assert status == 200, body
    assert body["sections"]["le new black"]["last value pushed"] == pushed
    changed_since = f"the connector last pushed {pushed}: Le New Black changed it since"
    assert any(finding.startswith(changed_since) for finding in body["findings"])

    set_stock(api, ean, pushed + 7)  # and Fastmag changed too: the next tick sends it
    status, body = explain(api, ean, kind="ean")
    assert body["sections"]["fastmag"]["available to sell now"] == pushed + 7
    assert body["sections"]["le new black"]["value held now"] == 3
    assert f"Le New Black holds 3; Fastmag gives {pushed + 7} now" in body["findings"]
    assert "the change is not pushed yet: the next stock run sends it" in body["findings"]


def test_an_order_shows_its_ledger_its_lnb_status_and_what_fastmag_finds(api: LocalStack) -> None:
    api.lnb.add_order({**lnb_orders(api.seed, count=1, start_reference=9003)[0], "retailer_reference": "777777"})
    api.invoke("import_orders", {"flow": "orders", "trigger": "cli"})

    status, body = explain(api, "9003")
    assert status == 200, body
    assert body["kind"] == "order"
    assert body["sections"]["ledger"]["status"] == "blocked"
    assert body["sections"]["le new black"]["status"] == api.lnb.orders["9003"]["status"]
    assert body["sections"]["fastmag lookup"] == {"found": False}
    assert any(finding.startswith("ledger: blocked (") for finding in body["findings"])

    exported = next(ref for ref, order in api.lnb.orders.items() if ref != "9003")
    status, body = explain(api, exported, kind="order")
    assert status == 200, body
    number = body["sections"]["ledger"]["fastmag_number"]
    assert body["sections"]["fastmag lookup"] == {"found": True, "fastmag number": number}


def test_a_retailer_changed_in_lnb_shows_the_field_with_both_values(api: LocalStack) -> None:
    export(api, "customers")
    reference, retailer = next(iter(sorted(api.lnb.retailers.items())))
    connector_name = retailer["name"]
    retailer["name"] = "Renamed in LNB"
    status, body = explain(api, reference)
    assert status == 200, body
    assert body["kind"] == "retailer"
    assert {"field": "name", "connector": connector_name, "lnb": "Renamed in LNB"} in body["differences"]
    assert body["sections"]["connector payload"]["reference"] == reference
    assert any("Le New Black differs on name" in finding for finding in body["findings"])

    status, page = explain(api, reference, html=True)
    assert '<table id="differences">' in page
    assert "Renamed in LNB" in page and "<td>name</td>" in page


def test_a_model_is_compared_with_the_product_lnb_holds(api: LocalStack) -> None:
    export(api, "products")
    model = next(iter(sorted(api.lnb.products)))
    status, body = explain(api, model, kind="model")
    assert status == 200, body
    assert body["differences"] == []
    assert "Le New Black holds the product as the connector would send it" in body["findings"]


def test_unknown_keys_answer_404_with_what_was_looked_for(api: LocalStack) -> None:
    for key in ("NOPE-404", "4006381333931"):  # the second: a valid EAN13 Fastmag does not have
        status, body = explain(api, key)
        assert status == 404, body
        assert key in body["message"]
    status, body = explain(api, "NOPE-404")
    assert "no EAN13, SKU, order, retailer or model has this key" in body["message"]
    status, body = explain(api, "NOPE-404", kind="order")
    assert status == 404 and "neither in the ledger nor in Le New Black" in body["message"]
    status, body = explain(api, "NOPE-404", kind="socks")
    assert status == 422


# --- The command line: `explain`, `history`, `show --items`, each its own process ---------------------------------


def command(module: str, *arguments: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m connector|sandbox …` in a process of its own, on this checkout's code: the installed console
    scripts are an editable install of one checkout, which need not be this one."""
    checkout = {"PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}
    return subprocess.run(  # nosec B603 - this interpreter and fixed arguments
        [sys.executable, "-m", module, *arguments],
        cwd=cwd,
        env={**env, **checkout},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_the_cli_explains_a_held_ean_and_an_unknown_key_against_real_endpoints(
    stack: LocalStack, tmp_path: Path
) -> None:
    push(stack)
    ean = next(ean for ean, quantity in lnb_stock(stack).items() if quantity > 0)
    stack.fastmag.execute("UPDATE stock SET stock = 0")
    held = push(stack)
    assert held["status"] == "held"
    environment, arguments = stack_environment(stack), files_for(stack, tmp_path)

    answer = command("connector", "explain", ean, *arguments, cwd=tmp_path, env=environment)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout.startswith(f"ean {ean}\n")
    assert f"Le New Black holds {lnb_stock(stack)[ean]}; Fastmag gives 0 now" in answer.stdout
    assert f"the last stock run {held['run_id']} was held: stock push held" in answer.stdout
    assert re.search(r"^  available to sell now: 0$", answer.stdout, re.MULTILINE)
    assert re.search(rf"^  \S+  stock  record\.sent  sent  null → {lnb_stock(stack)[ean]}", answer.stdout, re.M)

    unknown = command("connector", "explain", "NOPE-404", *arguments, cwd=tmp_path, env=environment)
    assert_one_line_error(unknown, 1, "NOPE-404: no EAN13, SKU, order, retailer or model has this key")
    bad_kind = command("connector", "explain", ean, "--kind", "socks", *arguments, cwd=tmp_path, env=environment)
    assert bad_kind.returncode == 2 and "invalid choice: 'socks'" in bad_kind.stderr


def test_the_sandbox_history_and_show_items_read_the_task_log_a_previous_process_kept(tmp_path: Path) -> None:
    environment = clean_environment()
    helped = command("connector", "--help", cwd=tmp_path, env=environment)
    assert re.search(r"^\s+explain\s", helped.stdout, re.M) and re.search(r"^\s+history\s", helped.stdout, re.M)
    ran = command("sandbox", "run", "stock", cwd=tmp_path, env=environment)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    run_id = run_id_of(ran.stdout)
    skipped = record_lines(tmp_path / ".local" / "task-log.jsonl", run_id)
    bad = next(line for line in skipped if line["event"] == "record.skipped" and "checksum" in line["reason"])

    shown = command("sandbox", "show", run_id, "--items", cwd=tmp_path, env=environment)
    assert shown.returncode == 0, shown.stderr
    assert f"  skipped {bad['key']}: invalid EAN13 checksum" in shown.stdout.splitlines()
    assert "× invalid EAN13 checksum" in shown.stdout  # the record's reasons, then each item

    history = command("sandbox", "history", bad["key"], "--since", "1", cwd=tmp_path, env=environment)
    assert history.returncode == 0, history.stderr
    (line,) = history.stdout.splitlines()
    assert f"stock  record.skipped  skipped  invalid EAN13 checksum  (run {run_id})" in line
    none = command("sandbox", "history", "NEVER-SEEN", cwd=tmp_path, env=environment)
    assert none.stdout.strip() == "no event for NEVER-SEEN in the last 7 days"
    too_far = command("sandbox", "history", "NEVER-SEEN", "--since", "400", cwd=tmp_path, env=environment)
    assert_one_line_error(too_far, 2, "--since takes a number of days from 1 to 30")
