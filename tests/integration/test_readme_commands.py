"""The README's configuration and sandbox commands, run as the integrator types them (the Makefile targets and
`python -m sandbox`) against the sandbox's AWS: what `make configure` writes is what the functions read."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - the test runs the repository's own Makefile and modules
import sys
from pathlib import Path

from connector import config
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.handlers import ROOT
from sandbox.stack import LocalStack


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
