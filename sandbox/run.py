"""`make run`: every flow once, through the real Lambda handlers, on the bundled sandbox; then a summary.

The task log (one JSON line per record outcome, as CloudWatch would hold it) goes to `.local/task-log.jsonl`.
`--seed clean` runs it on the catalogue without its deliberate defects (readiness then finds nothing).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from contextlib import redirect_stdout
from typing import Any, TextIO

from connector.cli.terminal import ProgressBar
from connector.flows import FLOWS
from connector.flows.reconcile import REPORT_SUFFIX
from connector.observability import log_to
from sandbox.seed import named_seed, take_seed_option
from sandbox.stack import ROOT, LocalStack

TASK_LOG = ROOT / ".local" / "task-log.jsonl"


def available_functions() -> dict[str, str]:
    """Flow → handler folder, in the registry's order, for the flows whose handler exists in this checkout."""
    folders = {flow: spec.function_dir for flow, spec in FLOWS.items()}
    return {flow: folder for flow, folder in folders.items() if (ROOT / "functions" / folder / "app.py").exists()}


def summary_table(results: list[dict[str, Any]]) -> str:
    header = f"{'flow':<10} {'status':<10} {'read':>7} {'sent':>7} {'accepted':>9} {'rejected':>9} {'skipped':>8}"
    rows = [header, "-" * len(header)]
    for result in results:
        c = result.get("counters", {})
        rows.append(
            f"{result['flow']:<10} {result['status']:<10} {c.get('read', 0):>7} {c.get('sent', 0):>7} "
            f"{c.get('accepted', 0):>9} {c.get('rejected', 0):>9} {c.get('skipped', 0):>8}"
        )
    return "\n".join(rows)


def run_flows(task_log: TextIO, seed: str = "default") -> list[dict[str, Any]]:
    """Each flow through its handler; what a Lambda prints (metrics) goes to the task log, as in CloudWatch."""
    results: list[dict[str, Any]] = []
    print("starting the sandbox: Fastmag and Le New Black simulators, moto …", flush=True)
    with LocalStack(named_seed(seed)) as stack:
        print(f"  Fastmag {stack.fastmag.url}  Le New Black {stack.lnb.url}  AWS (moto) {stack.aws_endpoint}")
        for flow, folder in available_functions().items():
            started = time.perf_counter()
            print(f"running {flow} through functions/{folder}/app.py …", flush=True)
            with redirect_stdout(task_log):
                result = stack.invoke(folder, {"flow": flow, "trigger": "cli"})
            result["seconds"] = round(time.perf_counter() - started, 2)
            results.append(result)
            if flow == "images":
                # In AWS each staged file's S3 event is queued for UploadImagesFunction; moto sends none.
                print("uploading the staged images: S3 events → ImageUploadQueue → upload code …", flush=True)
                with UploadProgress(sys.stdout) as progress, redirect_stdout(task_log):
                    outcomes = Counter(answer["event"] for answer in stack.deliver_s3_events(progress=progress))
                print(f"  image uploads: {upload_line(outcomes)}", flush=True)
            if flow == "reconcile":
                result["drift_by_resource"] = stack.preview_lines(f"{result['run_id']}{REPORT_SUFFIX}")[0]["summary"]
    return results


def upload_line(outcomes: Counter[str]) -> str:
    """`120 files: 118 sent, 2 rejected` from the upload function's answers."""
    if not outcomes:
        return "no file staged"
    counts = ", ".join(f"{count} {event.removeprefix('record.')}" for event, count in sorted(outcomes.items()))
    return f"{sum(outcomes.values())} files: {counts}"


class UploadProgress:
    """The command line's progress bar for the uploads, made once the number of files is known."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._bar: ProgressBar | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = ProgressBar(self._out, "image uploads", total=total).__enter__()
        self._bar.update(done)

    def __enter__(self) -> UploadProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def readiness_counts(results: list[dict[str, Any]]) -> str:
    """The readiness run's problems per check, one line each ("" when it did not run)."""
    checks = next((result.get("checks") or {} for result in results if result["flow"] == "readiness"), {})
    return "\n".join(f"  readiness {check}: {count}" for check, count in checks.items())


def main(argv: list[str] | None = None) -> int:
    _, seed = take_seed_option(sys.argv[1:] if argv is None else argv)
    TASK_LOG.parent.mkdir(exist_ok=True)
    with TASK_LOG.open("w", encoding="utf-8") as task_log, log_to(task_log):
        results = run_flows(task_log, seed)
    lines = TASK_LOG.read_text(encoding="utf-8").splitlines()
    print()
    print(summary_table(results))
    if counts := readiness_counts(results):
        print(counts)
    for result in results:
        if result.get("message"):
            print(f"  {result['flow']}: {result['status']}: {result['message']}")
        for reason, count in sorted(result.get("errors", {}).items(), key=lambda item: -item[1])[:5]:
            print(f"  {result['flow']}: {count} × {reason}")
    for result in results:
        for resource, counts in result.get("drift_by_resource", {}).items():
            print(f"  reconcile {resource}: " + "  ".join(f"{name} {count}" for name, count in counts.items()))
    print(f"\ntask log: {TASK_LOG.relative_to(ROOT)} ({len(lines)} lines), e.g.")
    print(f'  grep \'"event":"record.skipped"\' {TASK_LOG.relative_to(ROOT)} | head')
    failed = [r["flow"] for r in results if r["status"] == "failed"]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
