"""`python -m connector run <flow> [--preview] [--full] [--force] [--settings FILE]`; `settings --defaults|--schema`.

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

from connector.config import load_local_settings
from connector.errors import ConnectorError
from connector.events import FlowRequest
from connector.flows import FLOWS, load_flow
from connector.flows.orders import OrderBook
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
    run.add_argument("--settings", type=Path, help="settings document (JSON)")
    commands.add_parser("flows", help="list the flows")
    settings = commands.add_parser("settings", help="print the default settings document or its JSON Schema")
    settings.add_argument("--defaults", action="store_true", help="the full default document, SQL included")
    settings.add_argument("--schema", action="store_true", help="the document's JSON Schema")
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
        f"rejected {c.rejected}  skipped {c.skipped}",
    ]
    lines += [f"  {count} × {reason}" for reason, count in sorted(record.errors.items(), key=lambda e: -e[1])[:10]]
    if record.preview_key:
        lines.append(f"  preview: {record.preview_key}")
    return "\n".join(lines)


# Starts a local stack for the command's duration and gives its settings and secret (the sandbox's).
Sandbox = Callable[[], AbstractContextManager[tuple[Settings, Secret]]]


def main(argv: list[str] | None = None, *, sandbox: Sandbox | None = None) -> int:
    """The command line. Without `--settings` the command runs on `sandbox`, which only the repository's
    sandbox provides (`python -m sandbox …`); the layer itself never starts one."""
    args = _parser().parse_args(argv)
    if args.command == "flows":
        print("\n".join(sorted(FLOWS)))
        return 0
    if args.command == "settings":
        return print_settings(defaults=args.defaults, schema=args.schema)
    try:
        with ExitStack() as resources:
            if args.settings is None and sandbox is not None:
                settings, secret = resources.enter_context(sandbox())
            elif args.settings is None:
                print(
                    "error: give --settings FILE, or run it on the bundled sandbox: python -m sandbox "
                    + " ".join(argv if argv is not None else sys.argv[1:]),
                    file=sys.stderr,
                )
                return 2
            else:
                settings, secret = load_local_settings(args.settings)
            services = build_services(settings, secret)
            if args.command == "order":
                return _order(args, services)
            request = FlowRequest(flow=args.flow, trigger="cli", preview=args.preview, full=args.full, force=args.force)
            progress = print_progress(sys.stderr)
            record = execute(load_flow(args.flow), request, services, progress)
            sys.stderr.write("\n")
    except ConnectorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_record(record))
    return 0 if record.status in {"succeeded", "partial", "held", "skipped"} else 1
