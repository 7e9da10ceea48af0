"""`explain KEY` and `history KEY`: one key explained, and what happened to it, through the services the
console uses (connector.explain, connector.keys)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from connector.cli.terminal import Exit
from connector.config import environment
from connector.errors import ConnectorError
from connector.explain import Explanation, KeyExplainer, KeyKind, KeyNotFound
from connector.keys import MAX_DAYS, KeyEvent, history, history_source
from connector.services import Services


def _one_line(value: Any) -> str:
    """A value on one line: a line break in source data would split the listing."""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in shown)


def _facts(facts: Mapping[str, Any], indent: str = "  ") -> Iterator[str]:
    for name, value in facts.items():
        if isinstance(value, Mapping) and value and all(isinstance(item, Mapping) for item in value.values()):
            yield f"{indent}{name}:"
            for inner, fields in value.items():
                yield f"{indent}  {inner}: " + "  ".join(f"{k} {_one_line(v)}" for k, v in fields.items())
        else:
            yield f"{indent}{name}: {_one_line(value)}"


def event_line(event: KeyEvent) -> str:
    change = f"  {_one_line(event.old)} → {_one_line(event.new)}" if event.old is not None or event.new else ""
    reason = f"  {_one_line(event.reason)}" if event.reason else ""
    return f"  {event.at}  {event.flow or '-'}  {event.event}  {event.outcome}{change}{reason}  (run {event.run_id})"


def explanation_text(explanation: Explanation) -> Iterator[str]:
    yield f"{explanation.kind.value} {explanation.key}"
    yield from (f"  - {_one_line(finding)}" for finding in explanation.findings)
    for name, facts in explanation.sections.items():
        yield f"{name}:"
        yield from _facts(facts if isinstance(facts, Mapping) else {"": facts})
    if explanation.differences:
        yield "differences (the connector would send → Le New Black holds):"
        for difference in explanation.differences:
            yield f"  {difference.field}: {_one_line(difference.connector)} → {_one_line(difference.lnb)}"
    if explanation.events is not None:
        yield "recent events:" if explanation.events else "recent events: none"
        yield from (event_line(event) for event in explanation.events)


def _history(services: Services, since: datetime | None) -> Any:
    source = history_source(services.task_logs, environment().LOG_GROUP)
    return lambda key: history(key, since, source)


def explain(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    kind = KeyKind(args.kind) if args.kind else None
    try:
        explanation = KeyExplainer(services, history=_history(services, None)).explain(args.key, kind)
    except KeyNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.FAILED
    print("\n".join(explanation_text(explanation)), file=out)
    return Exit.SUCCEEDED


def key_history(args: argparse.Namespace, services: Services, out: TextIO) -> int:
    if not 1 <= args.since <= MAX_DAYS:
        raise ConnectorError(f"--since takes a number of days from 1 to {MAX_DAYS}")
    since = datetime.now(UTC) - timedelta(days=args.since)
    events = _history(services, since)(args.key)
    if not events:
        print(f"no event for {args.key} in the last {args.since} days", file=out)
    for event in events:
        print(event_line(event), file=out)
    return Exit.SUCCEEDED


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser) -> None:
    """`explain` and `history`."""
    explain_parser = sub.add_parser(
        "explain", parents=[remote], help="one key explained: Fastmag's rows, what is sent, what LNB holds now"
    )
    explain_parser.add_argument("key", metavar="KEY", help="an EAN13, SKU, order reference, retailer or model")
    explain_parser.add_argument(
        "--kind", choices=[kind.value for kind in KeyKind], help="the key's kind (default: inferred)"
    )
    history_parser = sub.add_parser("history", parents=[remote], help="what happened to one key, newest first")
    history_parser.add_argument("key", metavar="KEY", help="an EAN13, SKU, order reference, retailer or model")
    history_parser.add_argument(
        "--since", type=int, default=7, metavar="DAYS", help=f"how many days back (default 7, at most {MAX_DAYS})"
    )
