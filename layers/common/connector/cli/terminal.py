"""What the command line shows: exit codes, one-line errors, the task log kept off the terminal, progress.

stdout holds the summary (and a progress bar while it is a terminal); the task log, one line per record, goes
to a file (or stderr with --verbose), so a full stock push does not print a line per item.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from connector.errors import ConnectorError
from connector.observability import log_to
from connector.runs import RunStatus

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class Exit(IntEnum):
    SUCCEEDED = 0
    FAILED = 1
    USAGE = 2  # a usage or configuration error: nothing ran
    PARTIAL = 3
    HELD = 4
    SKIPPED = 5  # another run of the flow was in progress
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


EXIT_CODES_HELP = """exit codes:
  0  succeeded          1  failed             2  usage or configuration error (nothing ran)
  3  partial (some records rejected or skipped)                4  held (the stock guard, the orders cut-off)
  5  skipped: another run of the flow was in progress (--skipped-ok makes it 0, for cron)
  130  interrupted (Ctrl-C)"""

_EXIT_FOR_STATUS = {
    RunStatus.SUCCEEDED: Exit.SUCCEEDED,
    RunStatus.PARTIAL: Exit.PARTIAL,
    RunStatus.HELD: Exit.HELD,
    RunStatus.SKIPPED: Exit.SKIPPED,
}


def exit_code(status: RunStatus, *, skipped_ok: bool = False) -> Exit:
    """The exit code of a run that ended `status` (failed, and queued or running after a fenced finish, are 1)."""
    if status == RunStatus.SKIPPED and skipped_ok:
        return Exit.SUCCEEDED
    return _EXIT_FOR_STATUS.get(status, Exit.FAILED)


_AWS_NAMES = "set STATE_TABLE and STAGING_BUCKET to the stack's (its outputs), with credentials allowed to use them"


def expected_failure(error: BaseException) -> str | None:
    """The one line (what went wrong, what to do) for a failure a person can fix; None for a bug."""
    message: str | None = None
    match error:
        case ConnectorError():
            message = str(error)
        case NoRegionError():
            message = "no AWS region: set AWS_DEFAULT_REGION (or AWS_PROFILE, with a region in its profile)"
        case NoCredentialsError() | PartialCredentialsError():
            message = "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        case EndpointConnectionError():
            message = f"AWS could not be reached ({error}): check the network, AWS_DEFAULT_REGION and AWS_ENDPOINT_URL"
        case ClientError():
            details = error.response.get("Error", {})
            code, text = details.get("Code", "?"), details.get("Message", "")
            message = f"AWS answered {code} ({text}): {_AWS_NAMES}"
        case BotoCoreError():
            message = f"AWS: {error}"
        case OSError():
            message = f"{error.filename or 'file'}: {error.strerror or error}"
    return message


@dataclass(frozen=True)
class TaskLogOptions:
    file: Path
    format: Literal["json", "text"]
    verbose: bool


@contextmanager
def task_log(options: TaskLogOptions) -> Iterator[None]:
    """The task log (and whatever a library prints on stdout, such as a metrics flush) to the log file, or to
    stderr with --verbose; the command writes its summary to the stdout it was given."""
    text = options.format == "text"
    if options.verbose:
        with log_to(sys.stderr, text=text), redirect_stdout(sys.stderr):
            yield
        return
    try:
        options.file.parent.mkdir(parents=True, exist_ok=True)
        stream = options.file.open("a", encoding="utf-8")
    except OSError as error:
        raise ConnectorError(
            f"cannot write the task log {options.file}: {error.strerror or error} (give --log-file or --verbose)"
        ) from error
    with stream, log_to(stream, text=text), redirect_stdout(stream):
        yield


class ProgressBar:
    """A progress line on stdout with counts, rate and (given a total) the time left; only while stdout is a
    terminal, so a redirected or piped stdout gets no redraws."""

    def __init__(self, out: TextIO, description: str, total: int | None = None) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if not out.isatty():
            return
        # rich is a dev and command-line requirement, never the Lambda layer's: imported only here.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[ProgressColumn] = [TextColumn("{task.description}"), TextColumn("{task.fields[counts]}")]
        if total is not None:
            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn()]
        rate = TextColumn("{task.fields[rate]}")
        self._bar = Progress(
            *columns, rate, TimeElapsedColumn(), *([TimeRemainingColumn()] if total else []), console=Console(file=out)
        )
        self._task = self._bar.add_task(description, total=total, counts="", rate="")

    def __enter__(self) -> ProgressBar:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, completed: int, counts: str = "") -> None:
        if self._bar is None or self._task is None:
            return
        task = self._bar.tasks[0]
        elapsed = task.elapsed or 0.0
        rate = f"{completed / elapsed:,.0f}/s" if elapsed > 0 else ""
        self._bar.update(self._task, completed=completed, counts=counts, rate=rate)
