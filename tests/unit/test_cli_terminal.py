"""The command line's terminal side: exit codes per run status, one-line messages for what a person can fix,
a preview listing that hostile data cannot break, the task log kept off the terminal, no redraws off a TTY."""

from __future__ import annotations

import io
import json
import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from connector.cli.commands import preview_text
from connector.cli.terminal import Exit, ProgressBar, exit_code, expected_failure
from connector.errors import SettingsError
from connector.observability import log_record, log_to, logger
from connector.runs import RunStatus


def test_each_run_status_has_its_exit_code_and_skipped_ok_only_forgives_skipped() -> None:
    codes = {status: exit_code(status) for status in RunStatus}
    assert codes == {
        RunStatus.SUCCEEDED: 0,
        RunStatus.FAILED: 1,
        RunStatus.PARTIAL: 3,
        RunStatus.HELD: 4,
        RunStatus.SKIPPED: 5,
        # A run whose record another delivery owns (fenced) did not finish here: not a success.
        RunStatus.QUEUED: 1,
        RunStatus.RUNNING: 1,
    }
    forgiven = {status: exit_code(status, skipped_ok=True) for status in RunStatus}
    assert forgiven == {**codes, RunStatus.SKIPPED: Exit.SUCCEEDED}


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (SettingsError("invalid settings document: stock.zero_guard_share: not a number"), "stock.zero_guard_share"),
        (NoRegionError(), "set AWS_DEFAULT_REGION"),
        (NoCredentialsError(), "set AWS_PROFILE"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "http://127.0.0.1:9"),
        (
            ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no table"}}, "GetItem"),
            "set STATE_TABLE and STAGING_BUCKET",
        ),
        (FileNotFoundError(2, "No such file or directory", "settings.json"), "settings.json: No such file"),
    ],
)
def test_expected_failures_are_one_line_saying_what_to_do(error: Exception, says: str) -> None:
    message = expected_failure(error)
    assert message is not None and says in message and "\n" not in message


def test_a_bug_is_not_an_expected_failure() -> None:
    assert expected_failure(KeyError("counters")) is None
    assert expected_failure(TypeError("bad")) is None


def test_a_preview_lists_one_line_per_change_whatever_its_key_holds() -> None:
    lines = [
        {"summary": {"new": 1, "changed": 2, "skipped": 1}},
        {"resource": "inventory/ean", "key": "3760000100045", "change": "changed", "old": 3, "new": 7},
        {"resource": "retailers", "key": 'C1\n"quoted"\tname', "change": "changed", "payload": {"a": "x\ny"}},
        {"resource": "inventory/ean", "key": "3760000100052", "change": "new", "old": None, "new": 5},
        {"key": "ZZ\r\n9", "change": "skipped", "reason": "unknown variant:\nnot in Fastmag"},
    ]
    text = list(preview_text(lines))
    assert text[0] == "new 1  changed 2  skipped 1"
    assert text[1] == "changed  inventory/ean 3760000100045: 3 → 7"
    assert text[2] == 'changed  retailers C1\\n"quoted"\\tname: {"a":"x\\ny"}'
    assert text[3] == "new      inventory/ean 3760000100052: 5"
    assert text[4] == "skipped  ZZ\\r\\n9: unknown variant:\\nnot in Fastmag"
    assert len("\n".join(text).splitlines()) == len(lines)


def test_no_progress_is_drawn_when_stdout_is_not_a_terminal() -> None:
    out = io.StringIO()
    with ProgressBar(out, "stock", total=10) as bar:
        for done in range(1, 11):
            bar.update(done, f"read {done}")
    assert out.getvalue() == ""


def test_log_to_sends_the_task_log_and_library_warnings_to_the_stream_once_then_restores() -> None:
    before = logger.registered_handler
    stream_before = getattr(before, "stream", None)
    kept = io.StringIO()
    with log_to(kept):
        log_record("record.skipped", "3760000100589", reason="invalid EAN13 checksum", level="WARNING")
        logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=2)) after connection broken")
    lines = kept.getvalue().splitlines()
    assert len(lines) == 2  # the connector's line once (not again through the root logger), the library's once
    assert json.loads(lines[0])["event"] == "record.skipped"
    assert "WARNING urllib3.connectionpool Retrying" in lines[1]
    assert getattr(logger.registered_handler, "stream", None) is stream_before
    assert not any(isinstance(h, logging.StreamHandler) and h.stream is kept for h in logging.getLogger().handlers)

    text = io.StringIO()
    with log_to(text, text=True):
        log_record("record.sent", "3760000100045")
    assert " INFO record.sent 3760000100045" in text.getvalue() and "{" not in text.getvalue()
    after = io.StringIO()
    with log_to(after):
        log_record("record.sent", "3760000100045")
    assert json.loads(after.getvalue())["key"] == "3760000100045"  # the JSON formatter is back
