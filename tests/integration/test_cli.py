"""The installed `connector` command, run as a person runs it: a subprocess, from another directory, without
PYTHONPATH. Against real endpoints, "real" is the test's own sandbox (simulators and moto on 127.0.0.1), reached
only through the settings file, the secret file and the AWS environment a deployment would give."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess  # nosec B404 - the test runs the repository's own installed command
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.state import LockStore
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.run import available_functions
from sandbox.seed import build_seed
from sandbox.serve import LocalInvoker
from sandbox.stack import LocalStack
from tests.integration.conftest import NO_WAIT
from tests.integration.test_images import fastmag_photos, held
from tests.integration.test_products import export

BIN = Path(sys.executable).parent
TIMEOUT = 300


def installed(name: str) -> Path:
    """The console script pip put beside this interpreter (`make install` does it for .venv)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is not installed: run make install (pip install --no-deps --editable .)")
    return path


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without PYTHONPATH, AWS or a secret: each test gives what it means to."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONPATH" and not key.startswith(("AWS_", "CONNECTOR_")) and not key.endswith("_TABLE")
    }
    # No AWS configuration from the machine either, and no wait for an instance metadata endpoint.
    return {
        **kept,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        **extra,
    }


def stack_environment(stack: LocalStack) -> dict[str, str]:
    """What a deployment's operator exports: the region, credentials and the stack's names (here the sandbox's
    moto endpoint stands for AWS)."""
    aws = {key: value for key, value in os.environ.items() if key.startswith("AWS_")}
    return clean_environment(**aws, **stack.names)


def connector(
    *arguments: str, cwd: Path, env: dict[str, str], program: str = "connector"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603 - a fixed executable and arguments
        [str(installed(program)), *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_one_line_error(answer: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert answer.returncode == code, answer.stdout + answer.stderr
    assert "Traceback" not in answer.stdout + answer.stderr
    errors = [line for line in answer.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, answer.stderr
    assert message in errors[0], errors[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A settings file and a secret file in the working directory; the settings are the defaults."""
    (tmp_path / "settings.json").write_text("{}", encoding="utf-8")
    (tmp_path / "credentials.json").write_text(json.dumps(SANDBOX_CREDENTIALS), encoding="utf-8")
    return tmp_path


def files_for(stack: LocalStack, folder: Path, **overrides: Any) -> list[str]:
    document = {**stack.settings_document(), **overrides}
    (folder / "settings.json").write_text(json.dumps(document), encoding="utf-8")
    (folder / "credentials.json").write_text(json.dumps(SANDBOX_CREDENTIALS), encoding="utf-8")
    return ["--settings", "settings.json", "--secret", "credentials.json"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_help_lists_every_command_and_the_exit_codes(tmp_path: Path) -> None:
    answer = connector("--help", cwd=tmp_path, env=clean_environment())
    assert answer.returncode == 0, answer.stderr
    for command in ("run", "apply", "runs", "show", "preview", "images", "check", "order", "settings", "secret"):
        assert re.search(rf"^\s+{command}\s", answer.stdout, re.MULTILINE), command
    assert "3  partial" in answer.stdout and "4  held" in answer.stdout and "--skipped-ok makes it 0" in answer.stdout
    run_help = connector("run", "--help", cwd=tmp_path, env=clean_environment())
    for option in ("--preview", "--full", "--force", "--settings", "--secret", "--log-file", "--verbose", "--debug"):
        assert option in run_help.stdout


@pytest.mark.parametrize(
    ("arrange", "arguments", "message"),
    [
        ({}, ["run", "stock"], "python -m sandbox run stock"),
        ({}, ["run", "stock", "--settings", "missing.json", "--secret", "credentials.json"], "missing.json"),
        ({"settings.json": "{not json"}, ["run", "stock", "--settings", "settings.json"], "not JSON"),
        (
            {"settings.json": '{"stock": {"zero_guard_share": "most"}}'},
            ["run", "stock", "--settings", "settings.json", "--secret", "credentials.json"],
            "stock.zero_guard_share",
        ),
        ({}, ["run", "stock", "--settings", "settings.json"], "no secret given: pass --secret FILE"),
        ({}, ["check", "--settings", "settings.json", "--secret", "nowhere.json"], "cannot read the secret file"),
        (
            {"credentials.json": "[]"},
            ["order", "1001", "--settings", "settings.json", "--secret", "credentials.json"],
            "credentials",
        ),
        ({}, ["runs", "--settings", "settings.json", "--secret", "credentials.json"], "no AWS region"),
    ],
)
def test_each_configuration_mistake_is_one_line_exit_2_and_no_traceback(
    files: Path, arrange: dict[str, str], arguments: list[str], message: str
) -> None:
    for name, text in arrange.items():
        (files / name).write_text(text, encoding="utf-8")
    answer = connector(*arguments, cwd=files, env=clean_environment())
    assert_one_line_error(answer, 2, message)
    assert answer.stdout == ""


def test_no_aws_credentials_and_an_unreachable_aws_are_one_line_errors(files: Path) -> None:
    arguments = ["runs", "stock", "--settings", "settings.json", "--secret", "credentials.json"]
    no_credentials = connector(*arguments, cwd=files, env=clean_environment(AWS_DEFAULT_REGION="eu-west-3"))
    assert_one_line_error(no_credentials, 2, "no AWS credentials: set AWS_PROFILE")
    unreachable = clean_environment(
        AWS_DEFAULT_REGION="eu-west-3",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}",
    )
    answer = connector(*arguments, cwd=files, env=unreachable)
    assert_one_line_error(answer, 2, "AWS could not be reached")
    debug = connector(*arguments, "--debug", cwd=files, env=unreachable)
    assert debug.returncode == 2 and "Traceback" in debug.stderr  # --debug shows where


def test_an_unreachable_fastmag_and_a_refused_login_fail_the_run_with_what_to_check(
    stack: LocalStack, tmp_path: Path
) -> None:
    environment = stack_environment(stack)
    unreachable = files_for(stack, tmp_path, fastmag={"base_url": f"http://127.0.0.1:{closed_port()}"})
    answer = connector("run", "stock", *unreachable, cwd=tmp_path, env=environment)
    assert_one_line_error(answer, 1, "check fastmag.base_url")
    assert "stock run" in answer.stdout and ": failed" in answer.stdout

    arguments = files_for(stack, tmp_path)
    wrong = {**SANDBOX_CREDENTIALS, "fastmag_password": "not-the-password"}
    (tmp_path / "credentials.json").write_text(json.dumps(wrong), encoding="utf-8")
    refused = connector("run", "stock", *arguments, cwd=tmp_path, env=environment)
    assert_one_line_error(refused, 1, "fastmag_user / fastmag_password")

    wrong = {**SANDBOX_CREDENTIALS, "lnb_client_secret": "not-the-secret"}
    (tmp_path / "credentials.json").write_text(json.dumps(wrong), encoding="utf-8")
    refused = connector("run", "stock", *arguments, cwd=tmp_path, env=environment)
    # The stock flow counts each batch's refused token as its items' rejection: partial, and the login named.
    assert_one_line_error(refused, 3, "check lnb_client_id and lnb_client_secret")
    assert "Le New Black refused the login" in refused.stderr


def record_lines(log: Path, run_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line.get("run_id") == run_id and str(line.get("event")).startswith("record.")]


def run_id_of(stdout: str) -> str:
    match = re.search(r"^\w+ run (\S+): ", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def test_a_full_stock_push_is_quiet_partial_then_held_then_skipped(stack: LocalStack, tmp_path: Path) -> None:
    environment = stack_environment(stack)
    arguments = files_for(stack, tmp_path)

    # The seed's stock holds rows that are skipped (bad EANs, an unknown variant): partial, exit 3.
    full = connector("run", "stock", "--full", *arguments, cwd=tmp_path, env=environment)
    assert full.returncode == 3, full.stdout + full.stderr
    assert len((full.stdout + full.stderr).splitlines()) < 30
    run_id = run_id_of(full.stdout)
    record = stack.run_record(run_id)
    logged = record_lines(tmp_path / ".local" / "task-log.jsonl", run_id)
    # One task-log line per record: every item read was sent or skipped, and logged once.
    assert len(logged) == record["counters"]["read"] > 1000
    assert len({line["key"] for line in logged}) == len(logged)

    stack.fastmag.execute(
        "UPDATE stock SET stock = 0 WHERE barcode IN (SELECT barcode FROM produitsfiches ORDER BY barcode LIMIT 75)"
    )
    held_run = connector("run", "stock", *arguments, cwd=tmp_path, env=environment)
    assert held_run.returncode == 4, held_run.stdout + held_run.stderr
    assert "held" in held_run.stdout

    # Another stock run holds the flow's lock: this one is skipped (5), which cron may take as normal.
    assert LockStore(stack.table).acquire("stock", "another", run_id="stock-other", now=time.time(), lease_seconds=600)
    skipped = connector("run", "stock", *arguments, cwd=tmp_path, env=environment)
    assert skipped.returncode == 5, skipped.stdout + skipped.stderr
    assert "another stock run" in skipped.stdout
    tolerated = connector("run", "stock", "--skipped-ok", *arguments, cwd=tmp_path, env=environment)
    assert tolerated.returncode == 0, tolerated.stdout + tolerated.stderr

    listed = connector("runs", "stock", "--status", "skipped", *arguments, cwd=tmp_path, env=environment)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2
    shown = connector("show", run_id, "--items", *arguments, cwd=tmp_path, env=environment)
    assert shown.returncode == 0
    assert "× invalid EAN13 checksum" in shown.stdout


def test_verbose_puts_the_task_log_on_stderr_in_the_format_asked(stack: LocalStack, tmp_path: Path) -> None:
    arguments = files_for(stack, tmp_path)
    answer = connector(
        "run", "prices", "--verbose", "--log-format", "text", *arguments, cwd=tmp_path, env=stack_environment(stack)
    )
    # No products were exported to this LNB yet: each price is rejected (partial), one text line per record.
    assert answer.returncode == 3, answer.stderr[-2000:]
    assert not (tmp_path / ".local" / "task-log.jsonl").exists()
    rejected = re.findall(r"^\S+ \S+ WARNING record\.rejected ", answer.stderr, re.MULTILINE)
    assert len(rejected) == stack.run_record(run_id_of(answer.stdout))["counters"]["rejected"] > 0
    assert "prices run" in answer.stdout and "record.rejected" not in answer.stdout


@pytest.fixture
def small() -> Iterator[LocalStack]:
    with LocalStack(build_seed(models=12), settings_document=NO_WAIT) as local:
        export(local, "products")
        yield local


def test_images_upload_puts_the_staged_files_in_their_slots(small: LocalStack, tmp_path: Path) -> None:
    environment = stack_environment(small)
    arguments = files_for(small, tmp_path)
    staged = connector("run", "images", *arguments, cwd=tmp_path, env=environment)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert held(small) == {}  # staged only: in AWS the upload half starts from S3 events

    uploaded = connector("images", "upload", "--all", *arguments, cwd=tmp_path, env=environment)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    expected = fastmag_photos(small)
    assert held(small) == expected
    assert f"images upload: {len(expected)} files  sent {len(expected)}" in uploaded.stdout

    (slot, *_) = sorted(expected)
    model, fabric, index = slot
    listing = small.s3.list_objects_v2(Bucket=small.names["STAGING_BUCKET"], Prefix=f"images/{model}/{fabric}/{index}.")
    [key] = [item["Key"] for item in listing["Contents"]]
    again = connector("images", "upload", key, *arguments, cwd=tmp_path, env=environment)
    assert again.returncode == 0 and "1 files  sent 1" in again.stdout
    unknown = connector("images", "upload", "images/NOPE/X/1.jpg", *arguments, cwd=tmp_path, env=environment)
    assert_one_line_error(unknown, 2, "not staged")


def test_a_sandbox_preview_is_read_by_a_later_process(tmp_path: Path) -> None:
    environment = clean_environment()
    previewed = connector("run", "stock", "--preview", cwd=tmp_path, env=environment, program="connector-sandbox")
    assert previewed.returncode == 3, previewed.stdout + previewed.stderr  # the seed's skipped rows: partial
    run_id = run_id_of(previewed.stdout)
    assert f"python -m sandbox preview {run_id}" in previewed.stdout
    assert ".local/previews/" in previewed.stderr  # where the preview is kept
    assert (tmp_path / ".local" / "previews" / f"{run_id}.jsonl.gz").exists()

    read = connector("preview", run_id, cwd=tmp_path, env=environment, program="connector-sandbox")
    assert read.returncode == 0, read.stderr
    lines = read.stdout.splitlines()
    assert lines[0].startswith(f"preview {run_id} of stock (partial")
    assert re.match(r"new \d+\s+changed 0", lines[1])
    assert any(re.match(r"new\s+inventory/ean \d{13}: \d+$", line) for line in lines)
    assert any(line.startswith("skipped") and "invalid EAN13 checksum" in line for line in lines)
    listed = connector("runs", cwd=tmp_path, env=environment, program="connector-sandbox")
    assert run_id in listed.stdout and "preview" in listed.stdout


def test_a_full_sandbox_stock_run_prints_a_summary_and_logs_one_line_per_record(tmp_path: Path) -> None:
    answer = connector("run", "stock", "--full", cwd=tmp_path, env=clean_environment(), program="connector-sandbox")
    assert answer.returncode == 3, answer.stdout + answer.stderr  # the seed's rows to skip: partial
    assert len((answer.stdout + answer.stderr).splitlines()) < 30
    counts = re.search(r"read (\d+)", answer.stdout)
    assert counts, answer.stdout
    read = int(counts.group(1))
    logged = record_lines(tmp_path / ".local" / "task-log.jsonl", run_id_of(answer.stdout))
    assert len(logged) == read > 1000


def test_make_serve_says_one_line_per_run_started_and_finished(stack: LocalStack) -> None:
    said = io.StringIO()
    LocalInvoker.announce = said
    try:
        invoker = LocalInvoker(available_functions())
        invoker.invoke("customers", {"flow": "customers", "trigger": "button", "run_id": "customers-serve-1"})
        LocalInvoker.wait()
    finally:
        LocalInvoker.announce = None
    lines = said.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith("customers run customers-serve-1 started by button")
    assert re.search(r"customers run customers-serve-1 succeeded  read 40  sent 40  rejected 0  skipped 0$", lines[1])
