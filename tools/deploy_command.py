"""The `sam deploy` command of `make deploy`, built from samconfig.toml and what the command line gives.

`sam deploy --parameter-overrides` replaces samconfig's `parameter_overrides` as a whole, so the overrides are
samconfig's for the environment plus the given ones, in one list: nothing set in samconfig is lost. A parameter
not passed keeps the value the stack has (SAM sends UsePreviousValue), which is why SchedulesEnabled is passed
only when SCHEDULES=on|off is given: an upgrade never switches production's schedules off.

    python tools/deploy_command.py [--env dev] [--stack NAME] [--schedules on|off] [--alarm-email ADDRESS]
                                   [--parameter Key=Value ...] [--sam PATH] [--run]

Prints the command (a dry run), or runs it with --run. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEDULES = {"on": "true", "off": "false"}


def samconfig_overrides(samconfig: Path, env: str) -> dict[str, str]:
    """`parameter_overrides` of `[<env>.deploy.parameters]` as Key → Value (SAM's "K=V K2='v 2'" syntax)."""
    config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    if env not in config:
        raise SystemExit(f"error: samconfig.toml has no environment {env!r} (known: {', '.join(config)})")
    raw = config[env].get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    items = raw if isinstance(raw, list) else shlex.split(raw)
    overrides = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator:
            raise SystemExit(f"error: samconfig.toml [{env}.deploy.parameters] parameter_overrides: {item!r}")
        overrides[key] = value
    return overrides


def deploy_command(
    *,
    env: str,
    stack: str | None = None,
    schedules: str | None = None,
    alarm_email: str | None = None,
    parameters: list[str] | None = None,
    sam: str = "sam",
    samconfig: Path = ROOT / "samconfig.toml",
) -> list[str]:
    overrides = samconfig_overrides(samconfig, env)
    if schedules:
        if schedules not in SCHEDULES:
            raise SystemExit(f"error: SCHEDULES={schedules}: give on or off")
        overrides["SchedulesEnabled"] = SCHEDULES[schedules]
    if alarm_email is not None and alarm_email != "":
        overrides["AlarmEmail"] = alarm_email
    for item in parameters or []:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise SystemExit(f"error: parameter {item!r}: write Key=Value")
        overrides[key] = value
    command = [sam, "deploy", "--config-env", env]
    if stack:
        # s3_prefix follows the stack so two stacks' artifacts stay apart, as samconfig does for dev and prod.
        command += ["--stack-name", stack, "--s3-prefix", stack]
    if overrides:
        command += ["--parameter-overrides", *(f"{key}={value}" for key, value in overrides.items())]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--stack", default="")
    parser.add_argument("--schedules", default="", help="on|off; empty keeps the stack's value")
    parser.add_argument("--alarm-email", default="")
    parser.add_argument("--parameter", action="append", default=[], help="Key=Value, repeatable")
    parser.add_argument("--sam", default="sam")
    parser.add_argument("--run", action="store_true", help="run the command instead of printing it")
    args = parser.parse_args(argv)
    command = deploy_command(
        env=args.env or "dev",
        stack=args.stack or None,
        schedules=args.schedules or None,
        alarm_email=args.alarm_email,
        parameters=[p for item in args.parameter for p in shlex.split(item)],
        sam=args.sam,
    )
    if not args.run:
        print(shlex.join(command))
        return 0
    return subprocess.run(command, check=False).returncode  # noqa: S603 - the SAM CLI with our arguments


if __name__ == "__main__":
    sys.exit(main())
