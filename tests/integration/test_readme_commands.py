"""The README's configuration, sandbox and command-line examples, run as the integrator types them (the Makefile
targets, `python -m sandbox`, the installed `connector`) against the sandbox's AWS: what `make configure` writes is
what the functions read, and each `connector` example runs as written, without PYTHONPATH."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess  # nosec B404 - the test runs the repository's own Makefile and modules
import sys
from pathlib import Path

from connector import config
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.handlers import ROOT
from sandbox.seed import build_seed
from sandbox.stack import LocalStack
from tests.integration.conftest import NO_WAIT
from tests.integration.test_images import fastmag_photos
from tests.integration.test_products import export


def make(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`make -s <target> …` in the repository, with the environment the stack set (its AWS endpoint and names)."""
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=False,
    )


def test_make_configure_configure_secret_and_show_settings_set_what_the_functions_read(
    stack: LocalStack, tmp_path: Path
) -> None:
    document = stack.settings_document()
    document["stock"] = {**document.get("stock", {}), "safety_buffer": 2}
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps(document), encoding="utf-8")
    configured = make("configure", f"SETTINGS={settings_file}")
    assert configured.returncode == 0, configured.stderr

    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"stock": {"zero_guard_share": 3}}', encoding="utf-8")
    refused = make("configure", f"SETTINGS={invalid}")
    assert refused.returncode != 0
    assert "stock.zero_guard_share" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr

    password = "rotated-pw-7Hq"
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({**SANDBOX_CREDENTIALS, "fastmag_password": password}), encoding="utf-8")
    written = make("configure-secret", "SECRET=credentials", f"FILE={credentials}")
    assert written.returncode == 0, written.stderr
    assert password not in written.stdout + written.stderr

    shown = make("show-settings")
    assert shown.returncode == 0, shown.stderr
    assert password not in shown.stdout  # secrets are masked
    assert '"safety_buffer": 2' in shown.stdout

    # What a function reads now: the validated document (the refused one never reached it) and the new secret.
    settings, secret = config.load_settings()
    assert settings.stock.safety_buffer == 2
    assert settings.stock.zero_guard_share != 3
    assert secret.fastmag_password.get_secret_value() == password


def test_make_deploy_dry_run_prints_the_command_it_would_run() -> None:
    printed = make("deploy", "DRY_RUN=1", "ENV=prod", "SCHEDULES=on")
    assert printed.returncode == 0, printed.stderr
    assert "sam deploy" in printed.stdout
    assert "SchedulesEnabled=true" in printed.stdout


def test_python_m_sandbox_run_previews_a_flow_and_writes_nothing() -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment["PYTHONPATH"] = f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"
    previewed = subprocess.run(  # nosec B603
        [sys.executable, "-m", "sandbox", "run", "stock", "--preview"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )
    # The seed holds stock rows the preview must skip (bad EANs, an unknown variant): a partial run, exit 3.
    assert previewed.returncode == 3, previewed.stderr[-2000:]
    assert "stock run" in previewed.stdout
    assert "preview:" in previewed.stdout


# --- The command line section's examples, run as written (the `.venv/bin/` of this interpreter's venv) ---------

README = ROOT / "README.md"
BIN = Path(sys.executable).parent


def cli_examples(title: str) -> list[str]:
    """The command lines of the README's block under `<!-- cli examples: <title> (…) -->`."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```bash\n", text.index(f"<!-- cli examples: {title} (")) + len("```bash\n")
    return [line for line in text[start : text.index("```", start)].splitlines() if line.strip()]


def run_example(line: str, *, cwd: Path, env: dict[str, str], run_id: str | None) -> subprocess.CompletedProcess[str]:
    """One README line, its exit code checked against the `exit N` its comment announces (else 0)."""
    command, _, comment = line.partition("#")
    expected = re.search(r"exit (\d)", comment)
    words = shlex.split(command.replace("RUN_ID", run_id or "RUN_ID"))
    assert words[0].startswith(".venv/bin/"), f"a README example runs the installed command: {line}"
    executable = BIN / words[0].removeprefix(".venv/bin/")
    assert executable.exists(), f"{executable} is not installed: make install"
    answer = subprocess.run(  # nosec B603 - the README's own command, no shell
        [str(executable), *words[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert answer.returncode == (int(expected.group(1)) if expected else 0), f"{line}\n{answer.stdout}{answer.stderr}"
    assert "Traceback" not in answer.stdout + answer.stderr
    return answer


def first_run_id(stdout: str) -> str:
    match = re.search(r"^\w+ run (\S+): ", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def without_python_path(**extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("AWS_", "CONNECTOR_"))}
    return {**kept, **extra}


def test_the_readme_sandbox_examples_run_as_written_each_in_its_own_process(tmp_path: Path) -> None:
    run_id = None
    for line in cli_examples("sandbox"):
        answer = run_example(line, cwd=tmp_path, env=without_python_path(), run_id=run_id)
        run_id = run_id or first_run_id(answer.stdout)
        assert run_id in answer.stdout, line  # each later command read the first one's run from .local/
    assert (tmp_path / ".local" / "previews" / f"{run_id}.jsonl.gz").exists()


def test_the_readme_real_endpoint_examples_run_as_written(tmp_path: Path) -> None:
    with LocalStack(build_seed(models=12), settings_document=NO_WAIT) as stack:
        export(stack, "products")  # the go-live order: products before images
        (tmp_path / "settings.json").write_text(json.dumps(stack.settings_document()), encoding="utf-8")
        (tmp_path / "credentials.json").write_text(json.dumps(SANDBOX_CREDENTIALS), encoding="utf-8")
        aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        environment = without_python_path(**aws, **stack.names)
        run_id = None
        for line in cli_examples("real endpoints"):
            if line.startswith("export "):
                # What the operator exports, the test gives: the stack's names, a region and credentials.
                assert {"STATE_TABLE", "STAGING_BUCKET", "AWS_DEFAULT_REGION"} <= set(re.findall(r"(\w+)=", line))
                continue
            answer = run_example(line, cwd=tmp_path, env=environment, run_id=run_id)
            if run_id is None and " run stock " in line:
                run_id = first_run_id(answer.stdout)
        uploaded = set(stack.lnb.images)
        assert uploaded and uploaded == set(fastmag_photos(stack))
