"""The commands: each reads its arguments and the services, writes its summary to `out`, returns an exit code."""

from __future__ import annotations

import argparse
import json
import pydoc
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from connector.check import run_checks
from connector.check_report import CheckStore
from connector.cli.terminal import Exit, ProgressBar, exit_code
from connector.errors import (
    ConnectorError,
    FastmagError,
    FastmagTransportError,
    LeNewBlackAuthError,
    LeNewBlackError,
)
from connector.events import FlowRequest
from connector.flows import FLOWS, load_flow
from connector.flows.context import FlowContext
from connector.flows.image_files import PREFIX as IMAGES_PREFIX
from connector.flows.image_upload import upload_file
from connector.flows.order_book import OrderBook
from connector.ledger import LedgerEntry, LedgerStatus
from connector.lenewblack.client import AUTH_PATH as LNB_AUTH_PATH
from connector.observability import bind_run
from connector.previews import apply_refusal
from connector.run_log import Run
from connector.runner import execute
from connector.runs import RunRecord
from connector.services import Services
from connector.settings import Settings
from connector.task_log import MAX_PAGE, Outcome, TaskLogMissing, entry_filter, page_of

# --- settings and secrets (no services: they write the brand-owned configuration in AWS) ------------------------


def print_settings(*, defaults: bool, schema: bool) -> int:
    """`settings --defaults` or `--schema`: an integrator starts from a file, not from the source."""
    if defaults == schema:
        print("error: settings takes one of --defaults, --schema, --show or --write FILE", file=sys.stderr)
        return Exit.USAGE
    document = Settings().model_dump(mode="json") if defaults else Settings.model_json_schema()
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return Exit.SUCCEEDED


def configure(args: argparse.Namespace) -> int:
    """`settings --show|--write FILE`, `secret --write KIND FILE`: the brand-owned configuration in AWS;
    `secret --generate api-access FILE`: a fresh api-access document in a new local file."""
    import boto3

    from connector import configure as configuration
    from connector.config import environment
    from connector.settings import LAST_GOOD

    env = environment()
    try:
        if args.command == "secret" and args.generate:
            kind, target = args.generate
            configuration.generate_secret(kind, Path(target), tuple(FLOWS))
            print(
                f"{kind} document written to {target} (readable by you only); store it with "
                f"`secret --write {kind} {target}`, then set each Fastmag button to "
                "<ApiUrl>/exports/<flow>?code=<that flow's link code>"
            )
        elif args.command == "secret":
            kind, source = args.write
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            name = configuration.secret_name(env, kind)
            version_id = configuration.write_secret(boto3.client("secretsmanager"), name, kind, text)
            print(f"{kind} secret written to {name} (version {version_id})")
        elif args.write:
            version = configuration.write_settings(
                boto3.client("ssm"), env.SETTINGS_PARAMETER, args.write.read_text(encoding="utf-8")
            )
            print(f"settings written to {env.SETTINGS_PARAMETER} version {version}, labelled {LAST_GOOD}")
        else:
            live = configuration.live_configuration(boto3.client("ssm"), boto3.client("secretsmanager"), env)
            print(json.dumps(live, indent=2, ensure_ascii=False))
    except (ConnectorError, OSError) as error:
        print(f"error: {error} (nothing written)", file=sys.stderr)
        return Exit.USAGE
    return Exit.SUCCEEDED


# --- runs ---------------------------------------------------------------------------------------------------------


def format_record(record: RunRecord, prog: str = "connector") -> str:
    c = record.counters
    lines = [
        f"{record.flow} run {record.run_id}: {record.status}" + (f" ({record.message})" if record.message else ""),
        f"  read {c.read}  unchanged {c.unchanged}  sent {c.sent}  accepted {c.accepted}  "
        f"rejected {c.rejected}  skipped {c.skipped}" + (f"  ignored {c.ignored}" if c.ignored else ""),
    ]
    if record.flow == "reconcile":
        lines.append(f"  drift {c.drift} (report: previews/{record.run_id}.reconcile.jsonl.gz)")
    lines += [f"  {count} × {reason}" for reason, count in sorted(record.errors.items(), key=lambda e: -e[1])[:10]]
    if len(record.errors) > 10:
        lines.append(f"  … {len(record.errors) - 10} more reasons: {prog} show {record.run_id} --items")
    lines += [f"  {check}: {count}" for check, count in (record.checks or {}).items()]
    if record.preview_key:
        lines.append(f"  preview: {record.preview_key} (read it: {prog} preview {record.run_id})")
    return "\n".join(lines)


def _failure_hint(error: BaseException, services: Services) -> str:
    """What to do about the error that failed a run, for the failures a person can fix."""
    match error:
        case LeNewBlackAuthError() if "could not be reached" in str(error):
            return f"check lenewblack.base_url ({services.settings.lenewblack.base_url}) and the network"
        case LeNewBlackAuthError():
            return "check lnb_client_id and lnb_client_secret in the secret (connector check tests the login)"
        case FastmagTransportError():
            return f"check fastmag.base_url ({services.settings.fastmag.base_url}) and the network"
        case FastmagError():
            return "check the secret's fastmag_user / fastmag_password and the fastmag settings: connector check"
        case LeNewBlackError():
            return "see the task log for the records and Le New Black's answers"
    return "see the task log for the traceback (or run again with --verbose)"


def _execute(request: FlowRequest, services: Services, out: TextIO, *, skipped_ok: bool, prog: str) -> int:
    """Run the flow of `request` with a progress bar, print its record; the exit code says how it ended."""
    failures: list[BaseException] = []
    flow_function = load_flow(request.flow)

    def watched(context: FlowContext) -> None:
        try:
            flow_function(context)
        except Exception as error:  # the runner records it as the run's failure; kept here for the hint
            failures.append(error)
            raise

    with ProgressBar(out, request.flow) as bar:

        def progress(run: Run) -> None:
            c = run.counters
            bar.update(c.read, f"read {c.read} sent {c.sent} accepted {c.accepted} rejected {c.rejected}")

        record = execute(watched, request, services, progress)
    print(format_record(record, prog), file=out)
    code = exit_code(record.status, skipped_ok=skipped_ok)
    if code == Exit.FAILED:
        hint = _failure_hint(failures[0], services) if failures else "see the task log"
        print(f"error: {record.flow} run failed: {record.message}: {hint}", file=sys.stderr)
    refused = [reason for reason in record.errors if f"on POST {LNB_AUTH_PATH}" in reason]
    if refused and code != Exit.FAILED:
        # A flow counts a refused token per item (each batch asks for one): the login is what to fix.
        hint = _failure_hint(LeNewBlackAuthError(refused[0]), services)
        print(f"error: Le New Black refused the login ({refused[0]}): {hint}", file=sys.stderr)
    return code


def run(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    options = {"preview": args.preview, "full": args.full, "force": args.force, "repair": args.repair}
    request = FlowRequest(flow=args.flow, trigger="cli", **options)
    return _execute(request, services, out, skipped_ok=args.skipped_ok, prog=args.prog)


def apply(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    """Send exactly what preview RUN_ID stored, refused as the status page's Apply is when it is stale."""
    preview = _record(services, args.run_id)
    refusal = apply_refusal(preview, services.runs)
    if refusal is not None:
        raise ConnectorError(f"{refusal} (nothing sent)")
    request = FlowRequest(
        flow=preview.flow,
        trigger="apply",
        apply_run_id=preview.run_id,
        full=preview.full,
        force=preview.force,
        repair=preview.repair,
    )
    return _execute(request, services, out, skipped_ok=args.skipped_ok, prog=args.prog)


def _record(services: Services, run_id: str) -> RunRecord:
    record = services.runs.get(run_id)
    if record is None:
        raise ConnectorError(f"no run {run_id} in {services.table.name}: list them with connector runs")
    return record


def _run_line(record: RunRecord) -> str:
    c = record.counters
    when = record.started_at or record.queued_at or "-"
    kind = " preview" if record.preview else (f" apply of {record.applied_from}" if record.applied_from else "")
    return (
        f"{record.run_id}  {record.status:<9} {when}  read {c.read} sent {c.sent} accepted {c.accepted} "
        f"rejected {c.rejected} skipped {c.skipped}{kind}"
    )


MAX_PAGES = 20  # a status filter reads at most this many pages of a flow's runs


def _runs_of(services: Services, flow: str, status: str | None, limit: int) -> Iterator[RunRecord]:
    cursor: str | None = None
    found = 0
    for _page in range(MAX_PAGES):
        page, cursor = services.runs.list(flow, limit=max(limit, 20), after=cursor)
        for record in page:
            if status is None or record.status == status:
                found += 1
                yield record
                if found == limit:
                    return
        if cursor is None:
            return


def runs(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    if args.limit < 1:
        raise ConnectorError("--limit takes a number of runs, 1 or more")
    flows = [args.flow] if args.flow else sorted(FLOWS)
    records = [record for flow in flows for record in _runs_of(services, flow, args.status, args.limit)]
    records.sort(key=lambda record: record.started_at or record.queued_at or "", reverse=True)
    if not records:
        print(
            "no runs" + (f" of {args.flow}" if args.flow else "") + (f" {args.status}" if args.status else ""), file=out
        )
    for record in records[: args.limit]:
        print(_run_line(record), file=out)
    return Exit.SUCCEEDED


# What `show --items` lists: the outcomes that need a look (sent, staged, uploaded and info lines do not).
ITEM_OUTCOMES = (Outcome.REJECTED, Outcome.BLOCKED, Outcome.ERROR, Outcome.SKIPPED, Outcome.WARNED)


def run_items(services: Services, record: RunRecord) -> Iterator[str]:
    """The run's rejected, blocked, failed, skipped and warned records, one line each, from its task log file
    (at most MAX_PAGE per outcome, then how many more). A run without one (it logged no record outcome, or its
    file expired) lists what its record holds: its reasons with their counts, and a preview's skipped items."""
    try:
        entries = services.task_logs.read(record.run_id)  # read once, paged per outcome as TaskLogStore.page does
    except TaskLogMissing:
        yield from _record_items(services, record)
        return
    for outcome in ITEM_OUTCOMES:
        page = page_of(entries, entry_filter(outcome), limit=MAX_PAGE)
        for entry in page.items:
            reason = f": {_one_line(entry.reason)}" if entry.reason else ""
            yield f"  {outcome.value} {_one_line(entry.key)}{reason}"
        if page.total > len(page.items):
            yield f"  … {page.total - len(page.items)} more {outcome.value}"


def _record_items(services: Services, record: RunRecord) -> Iterator[str]:
    for reason, count in sorted(record.errors.items(), key=lambda item: -item[1]):
        yield f"  {count} × {reason}"
    if record.preview_key:
        for line in _preview_lines(services, record.run_id):
            if line.get("change") == "skipped":
                yield f"  skipped {_one_line(line.get('key'))}: {_one_line(line.get('reason'))}"


def show(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    record = _record(services, args.run_id)
    print(format_record(record, args.prog), file=out)
    details = {
        "trigger": record.trigger,
        "preview": record.preview,
        "full": record.full,
        "force": record.force,
        "applied from": record.applied_from,
        "schedule": record.schedule,
        "queued": record.queued_at,
        "started": record.started_at,
        "finished": record.finished_at,
    }
    print("  " + "  ".join(f"{name} {value}" for name, value in details.items() if value), file=out)
    if args.items:
        items = list(run_items(services, record))
        print("\n".join(items) if items else "  no rejected, skipped or warned records", file=out)
    return Exit.SUCCEEDED


def _preview_lines(services: Services, run_id: str) -> Iterator[dict[str, Any]]:
    try:
        yield from services.previews.read(run_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise ConnectorError(
                f"run {run_id} stored no preview (is it a preview run? connector show {run_id})"
            ) from None
        raise


def _one_line(value: Any) -> str:
    """A key or reason as one line: a line break or a control character in source data would split the listing."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(value))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def preview_text(lines: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A stored preview as text: its summary, then one line per change (`old → new` where the line has an old
    value), then the skipped items."""
    for number, line in enumerate(lines):
        if number == 0 and "summary" in line:
            summary = line["summary"]
            yield "  ".join(f"{name} {count}" for name, count in summary.items())
            continue
        where = " ".join(part for part in (str(line.get("resource", "")), _one_line(line.get("key", ""))) if part)
        head = f"{line.get('change', 'changed'):<8} {where}".rstrip()
        if line.get("old") is not None:
            yield f"{head}: {_compact(line['old'])} → {_compact(line.get('new', line.get('payload')))}"
        elif "new" in line:
            yield f"{head}: {_compact(line['new'])}"
        elif "reason" in line:
            yield f"{head}: {_one_line(line['reason'])}"
        else:
            yield f"{head}: {_compact(line.get('payload'))}"


def preview(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    record = _record(services, args.run_id)
    if not record.preview:
        raise ConnectorError(f"run {record.run_id} is not a preview: connector show {record.run_id}")
    text = "\n".join(preview_text(_preview_lines(services, record.run_id)))
    header = f"preview {record.run_id} of {record.flow} ({record.status}, {record.finished_at or 'unfinished'})"
    if out.isatty():
        with redirect_stdout(out):
            pydoc.pager(f"{header}\n{text}")
    else:
        print(f"{header}\n{text}", file=out)
    return Exit.SUCCEEDED


# --- images ------------------------------------------------------------------------------------------------------


def images_upload(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    """Staged files → their LNB slots, through the upload function's own code (one file at a time, here)."""
    staged = services.staging.files(IMAGES_PREFIX)
    if args.all:
        keys = sorted(staged)
    else:
        keys = [key if key.startswith(IMAGES_PREFIX) else IMAGES_PREFIX + key for key in args.keys]
        missing = [key for key in keys if key not in staged]
        if missing:
            raise ConnectorError(f"not staged in {services.bucket}: {', '.join(missing)} (list: aws s3 ls …/images/)")
    if not keys:
        print(f"nothing staged under {IMAGES_PREFIX} in {services.bucket}: run the images flow first", file=out)
        return Exit.SUCCEEDED
    bind_run(flow="images", run_id=f"images-upload-{datetime.now(UTC):%Y%m%dT%H%M%SZ}", trigger="cli")
    outcomes: dict[str, int] = {}
    failed: list[str] = []
    with ProgressBar(out, "images upload", total=len(keys)) as bar:
        for done, key in enumerate(keys, start=1):
            try:
                event = upload_file(services, key).record()["event"]
            except LeNewBlackError as error:  # worth another try later (Lambda would retry it)
                event = "record.failed"
                failed.append(key)
                if len(failed) <= 5:
                    print(f"  {key}: {error}", file=sys.stderr)
            outcomes[event] = outcomes.get(event, 0) + 1
            bar.update(done, "")
    counts = "  ".join(f"{event.removeprefix('record.')} {n}" for event, n in sorted(outcomes.items()))
    print(f"images upload: {len(keys)} files  {counts}", file=out)
    if failed:
        again = " ".join(failed[:3]) + (" …" if len(failed) > 3 else "")
        print(f"error: {len(failed)} uploads failed: try again with connector images upload {again}", file=sys.stderr)
    if failed and len(failed) == len(keys):
        return Exit.FAILED
    return Exit.PARTIAL if failed or outcomes.get("record.rejected") else Exit.SUCCEEDED


# --- orders and the configuration check ---------------------------------------------------------------------------


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


def order(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    ledger = services.ledger
    if args.resolve is None:
        entry = ledger.get(args.reference)
        if entry is None:
            print(f"error: no ledger entry for order {args.reference}", file=sys.stderr)
            return Exit.FAILED
        print(format_entry(entry), file=out)
        return Exit.SUCCEEDED
    entry = OrderBook.resolve(ledger, args.reference, args.resolve, args.why, args.fastmag_number)
    exported = services.settings.lenewblack.order_statuses.exported
    if entry.status == LedgerStatus.EXPORTED and entry.lnb_status != exported:
        try:
            services.lnb.set_order_status(entry.reference, exported)
        except ConnectorError as error:
            print(f"warning: Le New Black status not set to {exported} ({error}): run the command again", file=out)
        else:
            moved = ledger.transition(entry, entry.status, f"LNB status set to {exported}", lnb_status=exported)
            entry = moved or entry
    print(format_entry(entry), file=out)
    return Exit.SUCCEEDED


def check(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    report = run_checks(services, known_order=args.known_order, runs=services.runs)
    print("\n".join(line.text() for line in report.lines), file=out)
    try:
        CheckStore(services.table).save(report)
    except (BotoCoreError, ClientError) as error:
        print(f"warning: the result is not stored for the status page ({error})", file=sys.stderr)
    return Exit.SUCCEEDED if report.passed else Exit.FAILED


def _images(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    return {"upload": images_upload}[args.images_command](args, services, out)


COMMANDS: dict[str, Callable[[argparse.Namespace, Services, TextIO], int]] = {
    "run": run,
    "apply": apply,
    "runs": runs,
    "show": show,
    "preview": preview,
    "images": _images,
    "order": order,
    "check": check,
}
