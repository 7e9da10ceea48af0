"""The benchmark's verdicts against ARCHITECTURE §10, and its reports: JSON, Markdown, the README section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README_SECTION = "## Benchmarks"

# ARCHITECTURE §10, with the goals of the performance issue where they are stricter.
STOCK_FULL_READ_CPU_SECONDS = 0.8  # a 1 % tick that reads the whole stock
STOCK_INCREMENTAL_CPU_SECONDS = 0.2  # a tick that reads only what changed since the watermark
STOCK_MEMORY_MB = 256
PRODUCTS_WALL_FACTOR = 1.5
PRODUCTS_MEMORY_MB = 512
PRICES_CPU_SECONDS = 6.0
ORDERS_WALL_FACTOR = 1.3
ORDERS_LEDGER_CALLS_PER_ORDER = 4
IMPORT_SECONDS = 0.5
LAYER_MB = 20
STOCK_EVERY_MINUTE_USD = 1.0  # the minute-stock increment, full reads, Lambda-scaled, with logs
STOCK_EVERY_MINUTE_INCREMENTAL_USD = 0.25
WHOLE_STACK_USD = 5.0  # every monthly line at the default schedules
# A scale run (`make bench SCALE=…`): each full push and the products export in one Lambda, at most its memory and
# its time limit. The standard run judges the other goals (cost, the 100 000-SKU ticks).
SCALE_MEMORY_MB = 1024
SCALE_LAMBDA_SECONDS = 15 * 60

# "CPU dominates" a scenario when its CPU time is at least this share of its wall time: its wall budget is then
# judged on the Lambda-scaled time, which is what the function takes (and bills) at its memory's CPU share.
CPU_DOMINATES = 0.5


def _check(budget: str, limit: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"budget": budget, "limit": limit, "measured": measured, "met": met}


def _wall_judged(result: dict[str, Any]) -> tuple[float, str]:
    """The wall figure a budget is judged on, and how it is named: the connector's own wall (the simulators'
    service time taken out, as for the cost), or its Lambda-scaled time where CPU dominates."""
    wall = result.get("connector_wall_seconds") or result["wall_seconds"]
    if result["cpu_seconds"] >= CPU_DOMINATES * wall:
        return result["lambda_seconds"], f"{result['lambda_seconds']:.2f} s Lambda-scaled"
    return wall, f"{wall:.2f} s connector wall ({result['wall_seconds']:.2f} s measured)"


def _stock_checks(name: str, tick: dict[str, Any], cpu_limit: float) -> list[dict[str, Any]]:
    return [
        _check(f"{name}: Fastmag queries", "1", f"{tick['fastmag_calls']}", tick["fastmag_calls"] == 1),
        _check(
            f"{name}: LNB calls",
            f"⌈changed ÷ batch⌉ = {tick['lnb_calls_min']}",
            f"{tick['lnb_calls']}",
            tick["lnb_calls"] == tick["lnb_calls_min"],
        ),
        _check(
            f"{name}: handler CPU (this machine)",
            f"≤ {cpu_limit:g} s",
            f"{tick['cpu_seconds']:.2f} s (Lambda-scaled {tick['lambda_seconds']:.2f} s)",
            tick["cpu_seconds"] <= cpu_limit,
        ),
        _check(
            f"{name}: peak memory",
            f"< {STOCK_MEMORY_MB} MB",
            f"RSS {tick['rss_peak_mb']:.0f} MB, Python heap {_mb(tick['tracemalloc_peak_mb'])}",
            tick["rss_peak_mb"] < STOCK_MEMORY_MB,
        ),
    ]


def _scale_checks(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    for name, result in results.items():
        checks += [
            _check(
                f"{name}: peak memory",
                f"< {SCALE_MEMORY_MB} MB",
                f"RSS {result['rss_peak_mb']:.0f} MB",
                result["rss_peak_mb"] < SCALE_MEMORY_MB,
            ),
            _check(
                f"{name}: time",
                f"≤ {SCALE_LAMBDA_SECONDS / 60:g} minutes Lambda-scaled (at its {result['memory_mb']} MB)",
                f"{result['lambda_seconds']:.0f} s",
                result["lambda_seconds"] <= SCALE_LAMBDA_SECONDS,
            ),
        ]
    return checks


def budgets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each budget with its limit and measured figure; `met` is None when the scenario could not run."""
    results = {result["scenario"]: result for result in report["scenarios"]}
    if report["settings"].get("scale"):
        return _scale_checks(results)
    checks: list[dict[str, Any]] = []
    changed = results.get(report["incremental_scenario"])
    if changed:
        checks += _stock_checks("stock 1 % (full read)", changed, STOCK_FULL_READ_CPU_SECONDS)
    incremental = results.get("stock incremental")
    if incremental:
        checks += _stock_checks("stock incremental", incremental, STOCK_INCREMENTAL_CPU_SECONDS)
    unchanged = results.get("stock 0 % changed")
    if unchanged:
        checks.append(_check("stock 0 %: LNB calls", "0", f"{unchanged['lnb_calls']}", unchanged["lnb_calls"] == 0))
    products = results.get("products full export")
    if products:
        bound = products["wall_lower_bound_seconds"]
        judged, named = _wall_judged(products)
        checks += [
            _check(
                "products full: time",
                f"≤ {PRODUCTS_WALL_FACTOR:g} × {bound:.2f} s (LNB calls × latency ÷ concurrency)",
                f"{named} (+{_excess(judged, bound)}; {products.get('overlapped_cpu_seconds', 0.0):.2f} s of its "
                "CPU ran while the remotes answered)",
                judged <= bound * PRODUCTS_WALL_FACTOR,
            ),
            _check(
                "products full: peak memory",
                f"< {PRODUCTS_MEMORY_MB} MB",
                f"RSS {products['rss_peak_mb']:.0f} MB, Python heap {_mb(products['tracemalloc_peak_mb'])}",
                products["rss_peak_mb"] < PRODUCTS_MEMORY_MB,
            ),
        ]
    else:
        checks.append(_check("products full export", "", "handler not built yet", None))
    again = results.get("products re-export unchanged")
    if again:
        checks.append(_check("products unchanged: LNB calls", "0", f"{again['lnb_calls']}", again["lnb_calls"] == 0))
    prices = results.get("prices full export")
    if prices:
        checks.append(
            _check(
                "prices full: handler CPU (this machine)",
                f"≤ {PRICES_CPU_SECONDS:g} s",
                f"{prices['cpu_seconds']:.2f} s for {prices['sent']:,} price records sent "
                f"(Lambda-scaled {prices['lambda_seconds']:.2f} s)",
                prices["cpu_seconds"] <= PRICES_CPU_SECONDS,
            )
        )
    checks += _orders_checks(results.get("orders import"), report["settings"]["orders"])
    cold = report.get("cold_start")
    if cold:
        slowest = max(cold["import_seconds"].items(), key=lambda pair: pair[1])
        checks.append(
            _check(
                "cold start: handler import",
                f"< {IMPORT_SECONDS * 1000:.0f} ms",
                f"slowest {slowest[0]} {slowest[1] * 1000:.0f} ms",
                slowest[1] < IMPORT_SECONDS,
            )
        )
        layer = cold["layer"]
        if "unzipped_mb" in layer:
            checks.append(
                _check(
                    "built layer",
                    f"< {LAYER_MB} MB unzipped",
                    f"{layer['unzipped_mb']:.1f} MB unzipped ({layer['zipped_mb']:.1f} MB zipped)",
                    layer["unzipped_mb"] < LAYER_MB,
                )
            )
    checks += _cost_checks(report.get("cost"), changed is not None)
    return checks


def _cost_checks(cost: dict[str, Any] | None, full_read_tick: bool) -> list[dict[str, Any]]:
    """The goals on the monthly totals: every line, Lambda-scaled, CloudWatch Logs included."""
    if not cost or "plans" not in cost or "increments_usd" not in cost:
        return []
    checks: list[dict[str, Any]] = []
    increments = cost["increments_usd"]
    # A report written before the split judged the whole stack's increment.
    compute = cost.get("compute_and_logs_increments_usd", increments)
    for plan, goal, named in (
        ("stock every minute", STOCK_EVERY_MINUTE_USD, "full reads"),
        (
            "stock every minute, incremental reads",
            STOCK_EVERY_MINUTE_INCREMENTAL_USD,
            "incremental reads, hourly full read",
        ),
    ):
        if plan in compute and full_read_tick:
            checks.append(
                _check(
                    f"stock every minute, {named}: Lambda (Lambda-scaled) and CloudWatch Logs, the increment a "
                    "month over default schedules",
                    f"≤ ${goal:g}",
                    f"${compute[plan]:.2f} (the whole stack's increment: ${increments[plan]:.2f})",
                    compute[plan] <= goal,
                )
            )
    total = cost["plans"]["default schedules"]["total_usd"]
    checks.append(
        _check(
            "whole stack, default schedules, a month",
            f"≤ ${WHOLE_STACK_USD:g}",
            f"${total:.2f}",
            total <= WHOLE_STACK_USD,
        )
    )
    return checks


def _orders_checks(orders: dict[str, Any] | None, count: int) -> list[dict[str, Any]]:
    if not orders:
        return []
    bound = orders["wall_lower_bound_seconds"]
    judged, named = _wall_judged(orders)
    checks = [
        _check(
            "orders import: time",
            f"≤ {ORDERS_WALL_FACTOR:g} × {bound:.2f} s (Fastmag calls serial + LNB calls ÷ concurrency)",
            f"{named} (+{_excess(judged, bound)})",
            judged <= bound * ORDERS_WALL_FACTOR,
        )
    ]
    dynamodb = sum(calls for name, calls in orders["aws_calls"].items() if name.startswith("dynamodb."))
    ledger = orders["ledger_calls"]
    if count:
        checks.append(
            _check(
                "orders import: ledger calls per order",
                f"≤ {ORDERS_LEDGER_CALLS_PER_ORDER}",
                f"{ledger / count:.1f} ({ledger:,} for {count:,} orders; besides them {dynamodb - ledger:,} "
                "DynamoDB calls for the run record, lock and lease)",
                ledger / count <= ORDERS_LEDGER_CALLS_PER_ORDER,
            )
        )
    return checks


def _machine(machine: dict[str, Any]) -> str:
    load = machine.get("load_average")
    return (
        f"{machine.get('cpu', '?')}, {machine['cpus']} CPU(s) shared"
        + (f" (load {load[0]:.1f} at start)" if load else "")
        + f", Python {machine['python']}"
    )


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _mb(value: float | None) -> str:
    return "not traced" if value is None else f"{value:.0f} MB"


def _excess(value: float, bound: float) -> str:
    return f"{(value / bound - 1) * 100:.0f} %" if bound else "n/a"


def markdown(report: dict[str, Any]) -> str:
    settings = report["settings"]
    catalogue = report["catalogue"]
    lines = [
        f"Catalogue: {catalogue['skus']:,} SKUs in {catalogue['models']:,} models, "
        f"{catalogue['retailers']:,} retailers; latency injected per call: Fastmag "
        f"{settings['fastmag_latency'] * 1000:.0f} ms, Le New Black {settings['lnb_latency'] * 1000:.0f} ms; "
        f"batch {settings['batch_size']}, concurrency {settings['concurrency']}; "
        f"machine: {_machine(report['machine'])}; each figure is the median of {settings.get('runs', 1)} "
        "timed run(s).",
        "",
        "| scenario | rows read | records sent | LNB calls (min) | Fastmag calls (min) | wall s (bound) "
        "| remote CPU s | contention s | connector wall s | handler CPU s | Lambda-scaled s | RSS peak MB "
        "| heap peak MB | log KB | AWS calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in report["scenarios"]:
        heap = "–" if result["tracemalloc_peak_mb"] is None else f"{result['tracemalloc_peak_mb']:.0f}"
        lines.append(
            f"| {result['scenario']} | {result['items']:,} | {result['sent']:,} "
            f"| {result['lnb_calls']:,} ({result['lnb_calls_min']:,}) "
            f"| {result['fastmag_calls']} ({result['fastmag_calls_min']}) "
            f"| {result['wall_seconds']:.2f} ({result['wall_lower_bound_seconds']:.2f}) "
            f"| {_seconds(result.get('remote_cpu_seconds'))} | {_seconds(result.get('contention_seconds'))} "
            f"| {_seconds(result.get('connector_wall_seconds'))} "
            f"| {result['cpu_seconds']:.2f} | {result['lambda_seconds']:.2f} | {result['rss_peak_mb']:.0f} | {heap} "
            f"| {result['log_bytes'] / 1024:,.0f} | {sum(result['aws_calls'].values()):,} |"
        )
    cold = report.get("cold_start")
    if cold:
        lines += ["", "| handler | import ms (median of 5, fresh interpreter) |", "|---|---:|"]
        lines += [f"| {name} | {seconds * 1000:.0f} |" for name, seconds in cold["import_seconds"].items()]
        layer = cold["layer"]
        if "unzipped_mb" in layer:
            lines += [
                "",
                f"Layer: {layer['unzipped_mb']:.1f} MB unzipped, {layer['zipped_mb']:.1f} MB zipped "
                f"({layer['source']}).",
            ]
    cost = report.get("cost")
    for result in report["scenarios"]:
        if result.get("profile"):
            lines += [
                "",
                f"Profile of {result['scenario']} (cProfile pass, top {len(result['profile'])} by cumulative time; "
                "cProfile slows every call, so compare rows with each other, not with the timed runs):",
                "",
                "| function | calls | own s | cumulative s |",
                "|---|---:|---:|---:|",
            ]
            lines += [
                f"| `{row['function']}` | {row['calls']:,} | {row['own_seconds']:.3f} "
                f"| {row['cumulative_seconds']:.3f} |"
                for row in result["profile"]
            ]
    if cost and "plans" in cost:
        lines += _cost_markdown(cost)
    lines += ["", "| budget | limit | measured | met |", "|---|---|---|---|"]
    for check in report["budgets"]:
        verdict = {True: "yes", False: "**no**", None: "n/a"}[check["met"]]
        lines.append(f"| {check['budget']} | {check['limit']} | {check['measured']} | {verdict} |")
    return "\n".join(lines) + "\n"


def _cost_markdown(cost: dict[str, Any]) -> list[str]:
    """Lambda per schedule, then every monthly line per plan, the increments and the goals."""
    rate = cost["change_rate"]
    plans = list(cost["plans"])
    lines = [
        "",
        f"Monthly cost ({cost['days_per_month']}-day month, public prices, free tiers not deducted). Lambda at "
        f"${cost['price_per_gb_second_usd']} per GB-second and ${cost['price_per_request_usd'] * 1e6:.2f} per "
        f"million requests ({cost['price_note']}), on the Lambda-scaled connector wall (see the method). Change "
        f"rate: {rate['share_per_tick']:.0%} of the catalogue per {rate['tick_minutes']}-minute tick, "
        f"{rate['changed_per_hour']:,} changed SKUs an hour whatever the tick rate (each logs "
        f"{rate.get('log_bytes_per_change', 0):,} bytes: ${rate.get('logs_usd_per_10k_changes', 0):.4f} of "
        "CloudWatch Logs per 10 000 changes, storage included); a minute tick's figures are "
        "interpolated from the measured 0 % and changed ticks. Orders: the idle tick (orders themselves are the "
        "business's volume); products, prices, customers and images run on demand and are left out.",
        "",
        "| plan | flow | schedule | invocations | memory MB | wall s | connector wall s | Lambda-scaled s "
        "| $ a month |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for plan in plans:
        for item in cost["plans"][plan]["lambda_lines"]:
            lines.append(
                f"| {plan} | {item['flow']} | {item['schedule']} | {item['invocations']:,} | {item['memory_mb']} "
                f"| {item['wall_seconds']:.2f} | {item['connector_seconds']:.2f} | {item['lambda_seconds']:.2f} "
                f"| {item['lambda_usd']:.2f} |"
            )
    lines += [
        "",
        "| line | basis at default schedules | " + " | ".join(f"$ {plan}" for plan in plans) + " |",
        "|---|---|" + "---:|" * len(plans),
    ]
    by_plan = {plan: {item["item"]: item for item in cost["plans"][plan]["lines"]} for plan in plans}
    for item in cost["plans"][plans[0]]["lines"]:
        cells = " | ".join(f"{by_plan[plan][item['item']]['usd']:.2f}" for plan in plans)
        lines.append(f"| {item['item']} | {item['basis']} | {cells} |")
    totals = " | ".join(f"**{cost['plans'][plan]['total_usd']:.2f}**" for plan in plans)
    lines.append(f"| **total** (goal ≤ ${WHOLE_STACK_USD:g} at default schedules) | | {totals} |")
    increments = cost["increments_usd"]
    compute = cost.get("compute_and_logs_increments_usd", {})
    goals = {
        "stock every minute": STOCK_EVERY_MINUTE_USD,
        "stock every minute, incremental reads": STOCK_EVERY_MINUTE_INCREMENTAL_USD,
    }
    lines += [
        "",
        "Over default schedules, Lambda (Lambda-scaled) and CloudWatch Logs, which the goals are stated on: "
        + "; ".join(
            f"{plan} ${compute[plan]:.2f} (goal ≤ ${goals[plan]:g})"
            for plan in increments
            if plan in goals and plan in compute
        )
        + ". The whole stack's increment adds each tick's requests (Scheduler, X-Ray trace, run record, lock and "
        "snapshot writes): "
        + "; ".join(f"{plan} ${increment:.2f}" for plan, increment in increments.items() if plan in goals)
        + ".",
    ]
    return lines


def write(report: dict[str, Any], directory: Path, name: str = "latest") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.json"
    markdown_path = directory / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown_path.write_text("# Benchmarks\n\n" + markdown(report), encoding="utf-8")
    return json_path, markdown_path


def update_readme(readme: Path, table: str) -> None:
    """Replace (or append) the README's `## Benchmarks` section: from its heading to the next `## ` or the end."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    section = (
        f"{README_SECTION}\n\n"
        "`make bench` runs every flow through its real handler at catalogue scale against the simulators with "
        "injected latency, and writes `bench/results/latest.json` and `bench/results/latest.md` (with the "
        "cProfile tables of the CPU-heavy scenarios). The simulators and moto run in a process of their own, "
        "so CPU and memory are the connector's alone. That process's CPU time during each call (\"remote CPU\": "
        "building a 100 000-row EDIQUERY answer in Python, moto's DynamoDB and S3) stands for work the real "
        "remotes do on their own machines, and the time its threads and the handler's main thread waited for "
        'a core of the shared machine ("contention", from schedstat) is no one\'s work: the "connector wall" is '
        "the wall time less both, never less than the "
        "handler's CPU plus the latency injected into the calls it made (less the handler thread's CPU that ran "
        "while other threads' calls were out, such as the products export mapping the next products while LNB "
        "answers the sent ones: measured, and at most that latency), plus 10 ms per AWS call for a real "
        "round trip, and never more than the measured wall. Each figure is the median of `RUNS` timed runs "
        "(5 by default; `make bench RUNS=1` for a "
        "quick look; the CI smoke run makes one at 1 000 SKUs without latency). Time budgets are judged on the "
        "connector wall, or on its Lambda-scaled time where CPU dominates, and each row states its limit. "
        "The monthly cost states every "
        "line at the default schedules and at minute stock, on the Lambda-scaled connector wall; it takes the "
        "bench's changed share per 5-minute tick as the business's change rate, so a minute tick sees a fifth "
        "of it (interpolated between the measured 0 % and changed ticks) and each changed record is logged "
        "once whatever the tick rate. "
        "Latest results:\n\n" + table
    )
    start = text.find(f"\n{README_SECTION}\n")
    if start == -1:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end != -1 else "")
    readme.write_text(text, encoding="utf-8")
