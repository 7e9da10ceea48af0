"""`python -m connector run <flow> [--preview] [--full] [--force] [--settings FILE]`; `settings --defaults|--schema`.

`settings --show` / `settings --write FILE` / `secret --write credentials|api-access FILE`: the brand-owned
configuration in AWS (names from SETTINGS_PARAMETER, CREDENTIALS_SECRET_ID, API_ACCESS_SECRET_ID).
`python -m connector check [--known-order REF] [--settings FILE]` checks the configuration, one line per check.

`python -m connector order REF [--resolve exported --fastmag-number N | --resolve resend] [--why TEXT]`
shows an order's ledger entry, or records an operator's decision on an order whose outcome is unknown.

It runs against the endpoints in the `--settings` file, the secret from CONNECTOR_SECRET /
CONNECTOR_SECRET_FILE, and the AWS state named by STATE_TABLE / STAGING_BUCKET. In a repository checkout,
`python -m sandbox run <flow>` is this same command on the bundled sandbox: it hands `main` its `sandbox`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from connector.check import run_checks
from connector.check_report import CheckStore
from connector.config import load_local_settings
from connector.errors import ConnectorError, SettingsError
from connector.events import FlowRequest
from connector.flows import FLOWS, load_flow
from connector.flows.order_book import OrderBook
from connector.ledger import LedgerEntry, LedgerStatus
from connector.run_log import Run
from connector.runner import execute
from connector.runs import RunRecord
from connector.services import Services, build_services
from connector.settings import Secret, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m connector", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one flow now")
    run.add_argument("flow", choices=sorted(FLOWS))
    run.add_argument("--preview", action="store_true", help="compute and store the would-be writes only")
    run.add_argument("--full", action="store_true", help="send everything, not only what changed")
    run.add_argument("--force", action="store_true", help="override the stock guard")
    run.add_argument("--repair", action="store_true", help="reconcile: send the differences it finds")
    run.add_argument("--settings", type=Path, help="settings document (JSON)")
    commands.add_parser("flows", help="list the flows")
    check = commands.add_parser("check", help="is this configuration right? one line per check, exit 1 on a failure")
    check.add_argument("--known-order", metavar="REF", help="an LNB order reference Fastmag holds: proves the lookup")
    check.add_argument("--settings", type=Path, help="settings document (JSON); default: the sandbox")
    settings = commands.add_parser("settings", help="print the default settings document or its JSON Schema")
    settings.add_argument("--defaults", action="store_true", help="the full default document, SQL included")
    settings.add_argument("--schema", action="store_true", help="the document's JSON Schema")
    settings.add_argument("--show", action="store_true", help="the live settings and both secrets (masked)")
    settings.add_argument(
        "--write", type=Path, metavar="FILE", help="validate FILE, then store it (SETTINGS_PARAMETER)"
    )
    secret = commands.add_parser("secret", help="validate a secret document from a file, then store it unechoed")
    secret.add_argument(
        "--write", nargs=2, metavar=("KIND", "FILE"), required=True, help="credentials|api-access FILE (- = stdin)"
    )
    order = commands.add_parser("order", help="show an order's ledger entry, or resolve an order in doubt")
    order.add_argument("reference", help="the Le New Black order reference")
    order.add_argument(
        "--resolve",
        choices=["exported", "resend"],
        help="exported: Fastmag holds it (give --fastmag-number); resend: Fastmag does not, send it again",
    )
    order.add_argument("--fastmag-number", help="the Fastmag order number found for this external reference")
    order.add_argument("--why", default="checked in Fastmag", help="recorded in the order's history")
    order.add_argument("--settings", type=Path, help="settings document (JSON)")
    return parser


def print_settings(*, defaults: bool, schema: bool) -> int:
    """`settings --defaults` or `--schema`: an integrator starts from a file, not from the source."""
    if defaults == schema:
        print("error: settings takes one of --defaults or --schema", file=sys.stderr)
        return 2
    document = Settings().model_dump(mode="json") if defaults else Settings.model_json_schema()
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def configure_command(args: argparse.Namespace) -> int:
    """`settings --show|--write FILE`, `secret --write KIND FILE`: the brand-owned configuration in AWS."""
    import boto3

    from connector import configure
    from connector.config import environment
    from connector.settings import LAST_GOOD

    env = environment()
    try:
        if args.command == "secret":
            kind, source = args.write
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            name = configure.secret_name(env, kind)
            version_id = configure.write_secret(boto3.client("secretsmanager"), name, kind, text)
            print(f"{kind} secret written to {name} (version {version_id})")
        elif args.write:
            version = configure.write_settings(
                boto3.client("ssm"), env.SETTINGS_PARAMETER, args.write.read_text(encoding="utf-8")
            )
            print(f"settings written to {env.SETTINGS_PARAMETER} version {version}, labelled {LAST_GOOD}")
        else:
            live = configure.live_configuration(boto3.client("ssm"), boto3.client("secretsmanager"), env)
            print(json.dumps(live, indent=2, ensure_ascii=False))
    except (ConnectorError, OSError) as error:
        print(f"error: {error} (nothing written)", file=sys.stderr)
        return 2
    return 0


def format_entry(entry: LedgerEntry) -> str:
    lines = [f"order {entry.reference}: {entry.status}" + (f" ({entry.reason})" if entry.reason else "")]
    if entry.fastmag_number:
        lines.append(f"  Fastmag number {entry.fastmag_number}")
    lines.append(
        f"  LNB status {entry.lnb_status or '-'}  attempt {entry.attempt}  automatic resends {entry.auto_resends}"
        + (f"  sent at {entry.sent_at}" if entry.sent_at else "")
        + ("  (a write may be in Fastmag)" if entry.write_may_exist else "")
    )
    lines += [f"  {note}" for note in entry.history]
    return "\n".join(lines)


def _order(args: argparse.Namespace, services: Services) -> int:
    ledger = services.ledger
    if args.resolve is None:
        entry = ledger.get(args.reference)
        if entry is None:
            print(f"error: no ledger entry for order {args.reference}", file=sys.stderr)
            return 1
        print(format_entry(entry))
        return 0
    entry = OrderBook.resolve(ledger, args.reference, args.resolve, args.why, args.fastmag_number)
    exported = services.settings.lenewblack.order_statuses.exported
    if entry.status == LedgerStatus.EXPORTED and entry.lnb_status != exported:
        try:
            services.lnb.set_order_status(entry.reference, exported)
        except ConnectorError as error:
            print(f"warning: Le New Black status not set to {exported} ({error}): run the command again")
        else:
            moved = ledger.transition(entry, entry.status, f"LNB status set to {exported}", lnb_status=exported)
            entry = moved or entry
    print(format_entry(entry))
    return 0


def _check(args: argparse.Namespace, services: Services) -> int:
    report = run_checks(services, known_order=args.known_order, runs=services.runs)
    print("\n".join(line.text() for line in report.lines))
    try:
        CheckStore(services.table).save(report)
    except (BotoCoreError, ClientError) as error:
        print(f"warning: the result is not stored for the status page ({error})", file=sys.stderr)
    return 0 if report.passed else 1


def print_progress(out: TextIO) -> Callable[[Run], None]:
    def show(run: Run) -> None:
        c = run.counters
        out.write(
            f"\r{run.flow}: read {c.read}  unchanged {c.unchanged}  sent {c.sent}  accepted {c.accepted}  "
            f"rejected {c.rejected}  skipped {c.skipped}"
        )
        out.flush()

    return show


def format_record(record: RunRecord) -> str:
    c = record.counters
    lines = [
        f"{record.flow} run {record.run_id}: {record.status}" + (f" ({record.message})" if record.message else ""),
        f"  read {c.read}  unchanged {c.unchanged}  sent {c.sent}  accepted {c.accepted}  "
        f"rejected {c.rejected}  skipped {c.skipped}" + (f"  ignored {c.ignored}" if c.ignored else ""),
    ]
    if record.flow == "reconcile":
        lines.append(f"  drift {c.drift} (report: previews/{record.run_id}.reconcile.jsonl.gz)")
    lines += [f"  {count} × {reason}" for reason, count in sorted(record.errors.items(), key=lambda e: -e[1])[:10]]
    if record.preview_key:
        lines.append(f"  preview: {record.preview_key}")
    return "\n".join(lines)


# Commands that need the clients and stores, but are not a flow run.
_WITH_SERVICES: dict[str, Callable[[argparse.Namespace, Services], int]] = {"order": _order, "check": _check}


# Starts a local stack for the command's duration and gives its settings and secret (the sandbox's).
Sandbox = Callable[[], AbstractContextManager[tuple[Settings, Secret]]]


def main(argv: list[str] | None = None, *, sandbox: Sandbox | None = None) -> int:
    """The command line. Without `--settings` the command runs on `sandbox`, which only the repository's
    sandbox provides (`python -m sandbox …`); the layer itself never starts one."""
    args = _parser().parse_args(argv)
    if args.command == "flows":
        print("\n".join(sorted(FLOWS)))
        return 0
    if args.command == "secret" or (args.command == "settings" and (args.show or args.write)):
        return configure_command(args)
    if args.command == "settings":
        return print_settings(defaults=args.defaults, schema=args.schema)
    try:
        with ExitStack() as resources:
            if args.settings is None and sandbox is not None:
                settings, secret = resources.enter_context(sandbox())
            elif args.settings is None:
                raise SettingsError(
                    "give --settings FILE, or run it on the bundled sandbox: python -m sandbox "
                    + " ".join(argv if argv is not None else sys.argv[1:])
                )
            else:
                settings, secret = load_local_settings(args.settings)
            services = build_services(settings, secret)
            command = _WITH_SERVICES.get(args.command)
            if command is not None:
                return command(args, services)
            options = {"preview": args.preview, "full": args.full, "force": args.force, "repair": args.repair}
            request = FlowRequest(flow=args.flow, trigger="cli", **options)
            progress = print_progress(sys.stderr)
            record = execute(load_flow(args.flow), request, services, progress)
            sys.stderr.write("\n")
    except ConnectorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_record(record))
    return 0 if record.status in {"succeeded", "partial", "held", "skipped"} else 1
