"""The status page's schedules (read from Scheduler, as the sandbox created them from the template) and the last
configuration check, through ApiFunction's real handler."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3
import pytest

from connector import cli
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.stack import LocalStack
from tests.integration.test_api import call, event


def status_page(stack: LocalStack, language: str = "en-GB,en;q=0.9") -> str:
    status, body, _ = call(stack, event(stack, "api_status", headers={"Accept-Language": language}))
    assert status == 200, body
    return str(body)


def test_a_browser_preferring_french_reads_the_page_in_french(api: LocalStack) -> None:
    page = status_page(api, "fr-FR,fr;q=0.9,en;q=0.8")
    assert '<html lang="fr">' in page
    assert "<h2>Planifications</h2>" in page
    assert schedule_row(page, "connector-orders")[2:4] == ["désactivée", "rate(15 minutes)"]
    assert '<html lang="en">' in status_page(api, "fr;q=0.4, en-US;q=0.8")


def schedule_row(page: str, name: str) -> list[str]:
    row = re.search(rf'<tr id="schedule-{re.escape(name)}">(.*?)</tr>', page)
    assert row is not None, name
    return re.findall(r"<td[^>]*>(.*?)</td>", row[1])


def test_the_schedules_deploy_disabled_and_the_page_says_so(api: LocalStack) -> None:
    page = status_page(api)
    assert "<h2>Schedules</h2>" in page
    assert [schedule_row(page, s["Name"]) for s in api.schedules] == [
        ["stock", "connector-stock", "disabled", "rate(5 minutes)", "none while disabled"],
        ["stock", "connector-stock-full", "disabled", "cron(30 2 * * ? *)", "none while disabled"],
        ["orders", "connector-orders", "disabled", "rate(15 minutes)", "none while disabled"],
        ["readiness", "connector-readiness", "disabled", "cron(0 6 * * ? *)", "none while disabled"],
        ["reconcile", "connector-reconcile", "disabled", "cron(0 4 ? * SUN *)", "none while disabled"],
    ]
    assert "Configuration check: never run" in page


def test_an_enabled_schedule_shows_its_next_run_in_its_time_zone(api: LocalStack) -> None:
    paris = ZoneInfo("Europe/Paris")
    for schedule in api.schedules:
        api.set_schedule_state(schedule["Name"], "ENABLED")
    page = status_page(api)
    assert schedule_row(page, "connector-stock")[2:] == [
        "enabled",
        "rate(5 minutes)",
        "within 5 min (no tick seen yet)",
    ]
    nightly = datetime.now(paris).replace(hour=2, minute=30, second=0, microsecond=0)
    if nightly <= datetime.now(paris):
        nightly = (nightly + timedelta(days=1)).replace(hour=2, minute=30)
    assert f"{nightly:%d/%m/%Y} 02:30" in schedule_row(page, "connector-stock-full")[4]
    assert schedule_row(page, "connector-stock-full")[4].endswith("(Europe/Paris)")

    # A tick of the orders schedule: the next one is a whole number of 15 minutes after it.
    tick = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    arn = "arn:aws:scheduler:eu-west-3:123456789012:schedule/default/connector-orders"
    ran = api.invoke("import_orders", api.event("schedule_orders", schedule=arn, scheduled_time=tick.isoformat()))
    assert ran["schedule"] == "connector-orders"
    following = (tick + timedelta(minutes=15)).astimezone(paris)
    cell = schedule_row(status_page(api), "connector-orders")[4]
    assert f"{following:%d/%m/%Y %H:%M} {following.tzname()} (Europe/Paris)" in cell
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d/\d\d/\d{4} \d\d:\d\d CES?T \(Europe/Paris\)", cell)


def test_a_schedule_that_cannot_be_read_is_unknown_and_the_page_still_answers(api: LocalStack) -> None:
    boto3.client("scheduler").delete_schedule(Name="connector-stock-full", GroupName="default")
    page = status_page(api)
    row = schedule_row(page, "connector-stock-full")
    assert row[2] == "unknown"
    assert row[4].startswith("unknown (cannot be read: ") and "does not exist" in row[4]
    assert schedule_row(page, "connector-orders")[2] == "disabled"


def test_the_page_shows_the_last_configuration_check_and_its_failed_lines(
    api: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "settings.json"
    document.write_text(json.dumps(api.settings_document()), encoding="utf-8")
    wrong = {**SANDBOX_CREDENTIALS, "fastmag_password": "<b>not-the-password</b>"}
    monkeypatch.setenv("CONNECTOR_SECRET", json.dumps(wrong))
    assert cli.main(["check", "--settings", str(document)]) == 1
    printed = capsys.readouterr().out.splitlines()
    failed_lines = [line for line in printed if line.startswith("failed")]

    page = status_page(api)
    section = re.search(r'<section id="check">(.*?)</section>', page)
    assert section is not None
    ok = sum(line.startswith("ok") for line in printed)
    assert f"{ok} ok, {len(failed_lines)} failed</span>" in section[1]
    # In the brand's timezone (Europe/Paris by default), the UTC value on hover.
    day = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d/\d\d/\d{4} \d\d:\d\d CES?T"
    assert re.search(rf'Configuration check \(<time datetime="[^"]+" title="[^"]+ UTC">{day}</time>\)', section[1])
    assert section[1].count("<li>") == len(failed_lines) > 0
    assert "failed  fastmag login: Fastmag refused the query" in section[1]
    assert "not-the-password" not in page
