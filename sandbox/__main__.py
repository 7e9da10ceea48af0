"""`python -m sandbox COMMAND …` (or `connector-sandbox COMMAND …`): the connector's command line
(connector/cli) on the bundled sandbox, started for the command's duration; every command `connector` has.

Each command starts a new sandbox: the simulators from the seed, moto empty. So that `runs`, `show`, `preview`
and `apply` can read what an earlier command did, the run records, stored previews and task logs are kept under
`.local/` of the current directory (`.local/runs/<run_id>.json`, `.local/previews/<run_id>.jsonl.gz`,
`.local/task-logs/<run_id>.jsonl.gz`, which `show --items` and `history` read): put back
into moto when a sandbox starts, saved when it stops. Nothing else is kept (snapshots, staged images, the
ledger): a sandbox's simulators would not match them. Delete `.local/runs` and `.local/previews` to forget.
`--seed clean` seeds it without the catalogue's deliberate defects (default: `--seed default`).

`make run` (every flow through its handler, with a summary) is `python -m sandbox.run`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Attr

from connector import cli
from connector.settings import Secret, Settings, parse_secret
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.seed import named_seed, take_seed_option
from sandbox.stack import LocalStack

LOCAL = Path(".local")
PREVIEWS = "previews/"
TASK_LOGS = "runs/"  # each run's task log file (`show --items`, `history`), kept in .local/task-logs/


class KeptRecords:
    """The sandbox's run records and previews in a local folder, across the processes of the command line."""

    def __init__(self, stack: LocalStack, folder: Path) -> None:
        self._stack = stack
        self.runs = folder / "runs"
        self.previews = folder / "previews"
        self.task_logs = folder / "task-logs"
        self._bucket = stack.names["STAGING_BUCKET"]

    def restore(self) -> None:
        for path in sorted(self.runs.glob("*.json")):
            self._stack.table.put_item(Item=json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(self.previews.glob("*.jsonl.gz")):
            metadata = path.with_name(path.name.removesuffix(".jsonl.gz") + ".metadata.json")
            self._stack.s3.put_object(
                Bucket=self._bucket,
                Key=PREVIEWS + path.name,
                Body=path.read_bytes(),
                Metadata=json.loads(metadata.read_text(encoding="utf-8")) if metadata.exists() else {},
            )
        for path in sorted(self.task_logs.glob("*.jsonl.gz")):
            metadata = path.with_name(path.name.removesuffix(".jsonl.gz") + ".metadata.json")
            self._stack.s3.put_object(
                Bucket=self._bucket,
                Key=TASK_LOGS + path.name,
                Body=path.read_bytes(),
                Metadata=json.loads(metadata.read_text(encoding="utf-8")) if metadata.exists() else {},
            )

    def save(self) -> int:
        """Write the finished runs and the previews the sandbox holds now; returns how many runs are kept."""
        self.runs.mkdir(parents=True, exist_ok=True)
        self.previews.mkdir(parents=True, exist_ok=True)
        items = _scan(self._stack.table, Attr("sk").eq("RUN") & Attr("finished_at").exists())
        for item in items:
            path = self.runs / f"{item['run_id']}.json"
            path.write_text(json.dumps(item, default=_number, ensure_ascii=False), encoding="utf-8")
        self.task_logs.mkdir(parents=True, exist_ok=True)
        for prefix, folder in ((PREVIEWS, self.previews), (TASK_LOGS, self.task_logs)):
            pages = self._stack.s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
            for summary in (item for page in pages for item in page.get("Contents", [])):
                name = summary["Key"].removeprefix(prefix)
                answer = self._stack.s3.get_object(Bucket=self._bucket, Key=summary["Key"])
                (folder / name).write_bytes(answer["Body"].read())
                metadata = folder / (name.removesuffix(".jsonl.gz") + ".metadata.json")
                metadata.write_text(json.dumps(answer.get("Metadata", {})), encoding="utf-8")
        return len(items)


def _scan(table: Any, condition: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"FilterExpression": condition}
    while True:
        answer = table.scan(**query)
        items += answer["Items"]
        if "LastEvaluatedKey" not in answer:
            return items
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _number(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) back to JSON: the run records hold integers only."""
    return int(value)


@contextmanager
def on_sandbox(seed: str = "default") -> Iterator[tuple[Settings, Secret]]:
    """Simulators and moto on 127.0.0.1, with the sandbox's settings and secret, and the kept runs and previews."""
    with LocalStack(named_seed(seed)) as stack:
        kept = KeptRecords(stack, LOCAL)
        kept.restore()
        try:
            yield stack.settings, parse_secret(SANDBOX_CREDENTIALS)
        finally:
            count = kept.save()
            kept_where = f"{LOCAL}/runs/, {LOCAL}/previews/ and {LOCAL}/task-logs/"
            print(f"sandbox: {count} run records, their previews and task logs kept in {kept_where}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    arguments, seed = take_seed_option(sys.argv[1:] if argv is None else argv)
    return cli.main(arguments, sandbox=partial(on_sandbox, seed), prog="python -m sandbox")


if __name__ == "__main__":
    raise SystemExit(main())
