"""`make deploy`'s command (a dry run): samconfig's overrides kept, SchedulesEnabled only when SCHEDULES= is given."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from sandbox.template import ROOT
from tools.deploy_command import deploy_command, samconfig_overrides


def make_dry_run(*variables: str) -> list[str]:
    completed = subprocess.run(
        ["make", "-s", "--no-print-directory", "deploy", "DRY_RUN=1", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return shlex.split(completed.stdout.strip().splitlines()[-1])


def overrides(command: list[str]) -> dict[str, str]:
    if "--parameter-overrides" not in command:
        return {}
    items = command[command.index("--parameter-overrides") + 1 :]
    return dict(item.split("=", 1) for item in items)


def test_without_schedules_the_stack_keeps_its_value_and_samconfig_is_kept() -> None:
    command = make_dry_run("ENV=prod")
    assert command[1:4] == ["deploy", "--config-env", "prod"]
    assert overrides(command) == {"Stage": "prod", "LogRetentionDays": "365"}
    assert "SchedulesEnabled" not in " ".join(command)


@pytest.mark.parametrize(("given", "value"), [("on", "true"), ("off", "false")])
def test_schedules_on_or_off_is_passed_beside_samconfigs_overrides(given: str, value: str) -> None:
    command = make_dry_run("ENV=prod", f"SCHEDULES={given}", "ALARM_EMAIL=ops@brand.example")
    assert overrides(command) == {
        "Stage": "prod",
        "LogRetentionDays": "365",
        "SchedulesEnabled": value,
        "AlarmEmail": "ops@brand.example",
    }


def test_stack_names_the_stack_and_its_artifacts() -> None:
    command = make_dry_run("STACK=brand-x")
    assert command[command.index("--stack-name") + 1] == "brand-x"
    assert command[command.index("--s3-prefix") + 1] == "brand-x"
    assert overrides(command) == {"Stage": "dev"}


def test_params_override_samconfig_and_keep_quoted_values() -> None:
    command = make_dry_run("ENV=prod", "PARAMS=LogRetentionDays=731 PushStockRate='rate(2 minutes)'")
    assert overrides(command) == {"Stage": "prod", "LogRetentionDays": "731", "PushStockRate": "rate(2 minutes)"}


def test_a_wrong_schedules_value_or_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="on or off"):
        deploy_command(env="dev", schedules="yes")
    with pytest.raises(SystemExit, match="no environment"):
        deploy_command(env="staging")
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text("[dev.deploy.parameters]\nparameter_overrides = \"Stage=dev AlarmEmail='a b@c.d'\"\n")
    assert samconfig_overrides(samconfig, "dev") == {"Stage": "dev", "AlarmEmail": "a b@c.d"}


def test_make_configure_names_what_the_template_names() -> None:
    """The Makefile's default names of the brand-owned configuration are the template's, for the same stack."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    for make_name, template_name in (
        ("/$(CONFIG_STACK)/brand/settings", '"/${AWS::StackName}/brand/settings"'),
        ("$(CONFIG_STACK)/brand/credentials", '"${AWS::StackName}/brand/credentials"'),
        ("$(CONFIG_STACK)/brand/api-access", '"${AWS::StackName}/brand/api-access"'),
    ):
        assert make_name in makefile
        assert template_name in template
