"""What Le New Black refused in the flows' last runs: the one reading `connector check` and the readiness
report share (LNB cannot list price lists, so a refusal in the last run is the only evidence)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from connector.flows.prices import unknown_price_list
from connector.runs import RunRecord, RunStore


def _last_run(runs: RunStore, flow: str) -> RunRecord | None:
    """The flow's latest run that sent anything (not a preview, not held or skipped)."""
    records, _ = runs.list(flow, limit=20)
    return next((r for r in records if not r.preview and r.status in {"succeeded", "partial", "failed"}), None)


def refusals_in_last_runs(runs: RunStore, refusals: Mapping[str, re.Pattern[str]]) -> tuple[list[str], list[str]]:
    """The reasons of each flow's last run that its pattern picks, and a description of the runs read."""
    named: list[str] = []
    read: list[str] = []
    for flow, names in refusals.items():
        record = _last_run(runs, flow)
        if record is None:
            continue
        read.append(f"{flow} run {record.run_id}")
        named += [f"{count} × {reason}" for reason, count in record.errors.items() if names.search(reason)]
    return named, read


def price_list_refusals(code: str) -> dict[str, re.Pattern[str]]:
    """Per flow, what in its last run's reasons says LNB refused price list `code`."""
    # The prices flow's own reasons name the lists it skipped for: only its refusal message counts. The
    # customers flow's reasons name tariffs, so a reason naming the list's code is LNB's refusal.
    return {
        "prices": re.compile(re.escape(unknown_price_list(code))),
        "customers": re.compile(rf"(?<![\w-]){re.escape(code)}(?![\w-])"),
    }


def price_list_refusal(runs: RunStore, code: str) -> str | None:
    """The first refusal of price list `code` in the last prices and customers runs (`N × reason`), or None."""
    named, _ = refusals_in_last_runs(runs, price_list_refusals(code))
    return named[0] if named else None
