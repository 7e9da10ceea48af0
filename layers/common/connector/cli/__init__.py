"""`connector`: run a flow, read its runs and previews, apply a preview, upload staged images, check the
configuration, resolve an order, explain a key and read its history, and write the brand-owned settings and
secrets.

Against real endpoints every command that talks to Fastmag, Le New Black or the stack's AWS state takes
`--settings FILE` and a secret (`--secret FILE`, or CONNECTOR_SECRET_FILE / CONNECTOR_SECRET); the AWS state is
named by STATE_TABLE and STAGING_BUCKET, with the usual AWS region and credentials. The bundled sandbox is a
separate entry in a repository checkout: `python -m sandbox …` (or `connector-sandbox …`) takes the same commands.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from connector.cli import commands, key_commands
from connector.cli.terminal import EXIT_CODES_HELP, Exit, TaskLogOptions, expected_failure, task_log
from connector.config import load_local_settings
from connector.errors import SettingsError
from connector.flows import FLOWS
from connector.runs import RunStatus
from connector.services import build_services
from connector.settings import Secret, Settings

COMMANDS = {**commands.COMMANDS, "explain": key_commands.explain, "history": key_commands.key_history}

# Starts a local stack for the command's duration and gives its settings and secret (the sandbox's).
Sandbox = Callable[[], AbstractContextManager[tuple[Settings, Secret]]]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Options every command takes, after its name (`connector run stock --verbose`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    logs = argparse.ArgumentParser(add_help=False)
    logs.add_argument(
        "--log-file",
        type=Path,
        default=Path(".local/task-log.jsonl"),
        help="where the task log goes, appended (default: .local/task-log.jsonl)",
    )
    logs.add_argument("--log-format", choices=["json", "text"], default="json", help="task log lines (default: json)")
    logs.add_argument("--verbose", action="store_true", help="the task log on stderr instead of the file")
    remote = argparse.ArgumentParser(add_help=False, parents=[common, logs])
    remote.add_argument("--settings", type=Path, metavar="FILE", help="settings document (JSON)")
    remote.add_argument("--secret", type=Path, metavar="FILE", help="the credentials secret (JSON)")
    outcome = argparse.ArgumentParser(add_help=False)
    outcome.add_argument("--skipped-ok", action="store_true", help="exit 0, not 5, when another run was in progress")

    parser.set_defaults(prog=prog)  # the commands' hints name the entry the person typed
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[remote, outcome], help="run one flow now")
    run.add_argument("flow", choices=sorted(FLOWS))
    run.add_argument("--preview", action="store_true", help="compute and store the would-be writes only")
    run.add_argument("--full", action="store_true", help="send everything, not only what changed")
    run.add_argument("--force", action="store_true", help="override the stock guard")
    run.add_argument("--repair", action="store_true", help="reconcile: send the differences it finds")
    apply = sub.add_parser("apply", parents=[remote, outcome], help="send exactly what a preview stored")
    apply.add_argument("run_id", metavar="RUN_ID")
    runs = sub.add_parser("runs", parents=[remote], help="the latest runs, newest first")
    runs.add_argument("flow", nargs="?", choices=sorted(FLOWS))
    runs.add_argument("--status", choices=[status.value for status in RunStatus])
    runs.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    show = sub.add_parser("show", parents=[remote], help="one run's record")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--items", action="store_true", help="its rejected, skipped and warned records")
    preview = sub.add_parser("preview", parents=[remote], help="a preview's changes, old → new (paged)")
    preview.add_argument("run_id", metavar="RUN_ID")
    images = sub.add_parser("images", help="staged image files")
    images_sub = images.add_subparsers(dest="images_command", required=True, metavar="ACTION")
    upload = images_sub.add_parser(
        "upload", parents=[remote], help="put staged files (images/…) in their Le New Black slots now"
    )
    which = upload.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every file under images/")
    which.add_argument("keys", nargs="*", default=[], metavar="KEY", help="images/<model>/<fabric>/<n>.<ext>")
    check = sub.add_parser(
        "check", parents=[remote], help="is this configuration right? one line per check, exit 1 on a failure"
    )
    check.add_argument("--known-order", metavar="REF", help="an LNB order reference Fastmag holds: proves the lookup")
    key_commands.add_commands(sub, remote)
    _configuration_commands(sub, common, remote)
    return parser


def _configuration_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    remote: argparse.ArgumentParser,
) -> None:
    """`order`, `flows`, `settings` and `secret`."""
    order = sub.add_parser("order", parents=[remote], help="show an order's ledger entry, or resolve an order in doubt")
    order.add_argument("reference", help="the Le New Black order reference")
    order.add_argument(
        "--resolve",
        choices=["exported", "resend"],
        help="exported: Fastmag holds it (give --fastmag-number); resend: Fastmag does not, send it again",
    )
    order.add_argument("--fastmag-number", help="the Fastmag order number found for this external reference")
    order.add_argument("--why", default="checked in Fastmag", help="recorded in the order's history")
    sub.add_parser("flows", parents=[common], help="list the flows")
    settings = sub.add_parser(
        "settings", parents=[common], help="the default settings document, its JSON Schema, or the live one"
    )
    settings.add_argument("--defaults", action="store_true", help="the full default document, SQL included")
    settings.add_argument("--schema", action="store_true", help="the document's JSON Schema")
    settings.add_argument("--show", action="store_true", help="the live settings and both secrets (masked)")
    settings.add_argument(
        "--write", type=Path, metavar="FILE", help="validate FILE, then store it (SETTINGS_PARAMETER)"
    )
    secret = sub.add_parser(
        "secret", parents=[common], help="validate a secret document from a file, then store it unechoed"
    )
    secret_action = secret.add_mutually_exclusive_group(required=True)
    secret_action.add_argument(
        "--write", nargs=2, metavar=("KIND", "FILE"), help="credentials|api-access FILE (- = stdin)"
    )
    secret_action.add_argument(
        "--generate",
        nargs=2,
        metavar=("KIND", "FILE"),
        help="api-access FILE: write a fresh document (a token, a link code per flow, a signing key) to a new FILE",
    )


def main(argv: list[str] | None = None, *, sandbox: Sandbox | None = None, prog: str = "connector") -> int:
    """The command line. Without `--settings` a command runs on `sandbox`, which only the repository's sandbox
    provides (`python -m sandbox …`); the layer itself never starts one, and never falls back to it."""
    arguments = sys.argv[1:] if argv is None else argv
    args = _parser(prog).parse_args(arguments)
    try:
        return _dispatch(args, arguments, sandbox)
    except KeyboardInterrupt:
        # The flow's lock is released on the way out; its run record is closed as lost when its lease expires.
        print("error: interrupted: a run it started shows as failed (lost) once its lease expires", file=sys.stderr)
        return Exit.INTERRUPTED
    except Exception as error:
        message = expected_failure(error)
        if message is None:
            raise  # not an expected failure: a bug, whose traceback is the report
        if args.debug:
            traceback.print_exc()
        print(f"error: {message}", file=sys.stderr)
        return Exit.USAGE


def _dispatch(args: argparse.Namespace, arguments: list[str], sandbox: Sandbox | None) -> int:
    if args.command == "flows":
        print("\n".join(sorted(FLOWS)))
        return Exit.SUCCEEDED
    if args.command == "secret" or (args.command == "settings" and (args.show or args.write)):
        return commands.configure(args)
    if args.command == "settings":
        return commands.print_settings(defaults=args.defaults, schema=args.schema)
    out = sys.stdout
    with ExitStack() as resources:
        # The task log goes to its file (or stderr) before anything can log, the sandbox's start included.
        resources.enter_context(task_log(TaskLogOptions(args.log_file, args.log_format, args.verbose)))
        if args.settings is None and sandbox is not None:
            settings, secret = resources.enter_context(sandbox())
        elif args.settings is None:
            raise SettingsError(
                "give --settings FILE and --secret FILE (start from: connector settings --defaults), "
                "or run it on the bundled sandbox: python -m sandbox " + " ".join(arguments)
            )
        else:
            settings, secret = load_local_settings(args.settings, args.secret)
        services = build_services(settings, secret)
        return COMMANDS[args.command](args, services, out)
