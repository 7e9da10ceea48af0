"""`connector check` through the CLI against the sandbox: passes on a right configuration, and fails each wrong
one with a one-line reason and exit 1. Its last report is stored for the status page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector import cli
from connector.check_report import CheckState, CheckStore
from connector.fastmag.queries import CUSTOMERS
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.stack import LocalStack
from tests.integration.flows import run_flow


def check(
    stack: LocalStack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *arguments: str,
    secret: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str]]:
    """Exit code and each check's line by name, as the integrator runs it: a settings file and a secret."""
    document = tmp_path / "settings.json"
    document.write_text(json.dumps(stack.settings_document()), encoding="utf-8")
    monkeypatch.setenv("CONNECTOR_SECRET", json.dumps(secret or SANDBOX_CREDENTIALS))
    capsys.readouterr()
    code = cli.main(["check", "--settings", str(document), *arguments])
    lines = capsys.readouterr().out.splitlines()
    by_name = {}
    for line in lines:
        state, rest = line.split(" ", 1)
        name, detail = rest.strip().split(": ", 1)
        by_name[name] = f"{state} {detail}"
    assert len(by_name) == len(lines), "one line per check"
    return code, by_name


def failed(lines: dict[str, str]) -> dict[str, str]:
    return {name: line for name, line in lines.items() if line.startswith("failed")}


def test_check_passes_on_the_sandbox_and_proves_the_lookup_with_a_known_order(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_flow(stack, "orders")["status"] == "succeeded"
    known = str(stack.fastmag.orders()[0]["RefExterne"])
    code, lines = check(stack, tmp_path, monkeypatch, capsys, "--known-order", known)
    assert code == 0, lines
    assert failed(lines) == {}
    assert lines["fastmag login"].startswith("ok")
    assert lines["lenewblack token"].startswith("ok")
    assert lines["orders lookup"].startswith(f"ok finds {known} as Fastmag order")
    assert "quoting auto: raw" in lines["query customers"]
    assert "decimal separator ." in lines["query prices"]
    assert lines["price list WHOLESALE-EUR"].startswith("unknown cannot be verified through the API")
    assert lines["order status exported (closed)"].startswith("unknown cannot be verified through the API")
    stored = CheckStore(stack.table).last()
    assert stored is not None and stored.passed
    assert [line.state for line in stored.lines][:2] == [CheckState.OK, CheckState.OK]


def test_a_wrong_password_fails_the_login_and_every_query_with_one_line_each(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = {**SANDBOX_CREDENTIALS, "fastmag_password": "not-the-password"}
    code, lines = check(stack, tmp_path, monkeypatch, capsys, secret=wrong)
    assert code == 1
    assert lines["fastmag login"] == "failed Fastmag refused the query: Identifiant ou mot de passe incorrect"
    assert lines["query stock"] == "failed not run: Fastmag login failed"
    assert lines["lenewblack token"].startswith("ok")
    assert "not-the-password" not in json.dumps(lines)
    stored = CheckStore(stack.table).last()
    assert stored is not None and not stored.passed


def test_a_wrong_lnb_client_secret_fails_the_token_line(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = {**SANDBOX_CREDENTIALS, "lnb_client_secret": "not-the-secret"}
    code, lines = check(stack, tmp_path, monkeypatch, capsys, secret=wrong)
    assert code == 1
    assert set(failed(lines)) == {"lenewblack token"}


def test_a_query_missing_a_required_column_fails_naming_it(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert CUSTOMERS.sql is not None
    stack.configure({"fastmag": {"queries": {"customers": CUSTOMERS.sql.replace("c.email AS email, ", "")}}})
    code, lines = check(stack, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert set(failed(lines)) == {"query customers"}
    assert "lacks column(s) ['email']" in lines["query customers"]


def test_a_lookup_that_cannot_find_a_known_order_fails(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_flow(stack, "orders")
    known = str(stack.fastmag.orders()[0]["RefExterne"])
    # A lookup reading the wrong column: it runs and has its columns, but never finds what was written.
    broken = (
        "SELECT o.Commande AS external_reference, o.Commande AS fastmag_number FROM commandes o "
        "WHERE o.RefExterne IN ({references})"
    )
    stack.configure({"fastmag": {"queries": {"orders_by_reference": broken}}})
    code, lines = check(stack, tmp_path, monkeypatch, capsys, "--known-order", known)
    assert code == 1
    assert set(failed(lines)) == {"orders lookup"}
    assert lines["orders lookup"].startswith(f"failed does not find {known}")


def test_a_price_list_the_last_prices_run_was_refused_over_fails(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.configure({"tariff_price_lists": {"GROS": "WHOLESALE-EUR", "PVC": "RETAIL-EUR", "SOLDES": "SALE-EUR"}})
    run_flow(stack, "products")
    assert run_flow(stack, "prices")["status"] == "partial"
    code, lines = check(stack, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert set(failed(lines)) == {"price list SALE-EUR"}
    assert "price list SALE-EUR does not exist in Le New Black" in lines["price list SALE-EUR"]
    assert "no refusal naming it in the last prices run" in lines["price list WHOLESALE-EUR"]
