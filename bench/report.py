"""The benchmark's verdicts against ARCHITECTURE §10, and its reports: JSON, Markdown, the README section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README_SECTION = "## Benchmarks"

# ARCHITECTURE §10.
STOCK_CPU_SECONDS = 2.0
STOCK_MEMORY_MB = 256
PRODUCTS_WALL_MARGIN = 0.10
PRODUCTS_MEMORY_MB = 512
IMPORT_SECONDS = 0.5
LAYER_MB = 20
STOCK_EVERY_MINUTE_USD = 1.0


def _check(budget: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"budget": budget, "measured": measured, "met": met}


def budgets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each §10 budget with its measured figure; `met` is None when the scenario could not run."""
    results = {result["scenario"]: result for result in report["scenarios"]}
    settings = report["settings"]
    checks: list[dict[str, Any]] = []
    changed = results.get(report["incremental_scenario"])
    if changed:
        checks += [
            _check(
                "stock 1 %: one Fastmag query",
                f"{changed['fastmag_calls']} call(s)",
                changed["fastmag_calls"] == 1,
            ),
            _check(
                "stock 1 %: ⌈changed ÷ batch⌉ LNB calls",
                f"{changed['lnb_calls']} for a minimum of {changed['lnb_calls_min']}",
                changed["lnb_calls"] == changed["lnb_calls_min"],
            ),
            _check(
                f"stock 1 %: handler CPU < {STOCK_CPU_SECONDS:g} s",
                f"{changed['cpu_seconds']:.2f} s",
                changed["cpu_seconds"] < STOCK_CPU_SECONDS,
            ),
            _check(
                f"stock 1 %: peak memory < {STOCK_MEMORY_MB} MB",
                f"RSS {changed['rss_peak_mb']:.0f} MB, Python heap {_mb(changed['tracemalloc_peak_mb'])}",
                changed["rss_peak_mb"] < STOCK_MEMORY_MB,
            ),
        ]
    unchanged = results.get("stock 0 % changed")
    if unchanged:
        checks.append(
            _check("stock 0 %: zero LNB calls", f"{unchanged['lnb_calls']} call(s)", unchanged["lnb_calls"] == 0)
        )
    products = results.get("products full export")
    if products:
        bound = products["lnb_calls"] * settings["lnb_latency"] / settings["concurrency"]
        checks += [
            _check(
                "products full: wall ≤ LNB calls × latency ÷ concurrency + 10 %",
                f"{products['wall_seconds']:.2f} s for {bound:.2f} s (+{_excess(products['wall_seconds'], bound)})",
                products["wall_seconds"] <= bound * (1 + PRODUCTS_WALL_MARGIN),
            ),
            _check(
                f"products full: peak memory < {PRODUCTS_MEMORY_MB} MB",
                f"RSS {products['rss_peak_mb']:.0f} MB, Python heap {_mb(products['tracemalloc_peak_mb'])}",
                products["rss_peak_mb"] < PRODUCTS_MEMORY_MB,
            ),
        ]
    else:
        checks.append(_check("products full export", "handler not built yet", None))
    again = results.get("products re-export unchanged")
    if again:
        checks.append(
            _check("products unchanged: zero LNB calls", f"{again['lnb_calls']} call(s)", again["lnb_calls"] == 0)
        )
    cold = report.get("cold_start")
    if cold:
        slowest = max(cold["import_seconds"].items(), key=lambda pair: pair[1])
        checks.append(
            _check(
                f"cold start: handler import < {IMPORT_SECONDS * 1000:.0f} ms",
                f"slowest {slowest[0]} {slowest[1] * 1000:.0f} ms",
                slowest[1] < IMPORT_SECONDS,
            )
        )
        layer = cold["layer"]
        if "unzipped_mb" in layer:
            checks.append(
                _check(
                    f"built layer < {LAYER_MB} MB",
                    f"{layer['unzipped_mb']:.1f} MB unzipped ({layer['zipped_mb']:.1f} MB zipped)",
                    layer["unzipped_mb"] < LAYER_MB,
                )
            )
    cost = report.get("cost")
    if cost and changed:
        minute = cost["stock_every_minute_usd"]
        checks.append(
            _check(
                f"stock every minute < ${STOCK_EVERY_MINUTE_USD:g} a month",
                f"${minute['measured']:.2f} measured duration (${minute['lambda']:.2f} at 512 MB's CPU share)",
                minute["measured"] < STOCK_EVERY_MINUTE_USD,
            )
        )
    return checks


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
        f"{report['machine']['cpus']} CPU(s), Python {report['machine']['python']}.",
        "",
        "| scenario | items | LNB calls (min) | Fastmag calls (min) | wall s (bound) | handler CPU s "
        "| RSS peak MB | heap peak MB | items/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in report["scenarios"]:
        heap = "–" if result["tracemalloc_peak_mb"] is None else f"{result['tracemalloc_peak_mb']:.0f}"
        lines.append(
            f"| {result['scenario']} | {result['items']:,} | {result['lnb_calls']:,} ({result['lnb_calls_min']:,}) "
            f"| {result['fastmag_calls']} ({result['fastmag_calls_min']}) "
            f"| {result['wall_seconds']:.2f} ({result['wall_lower_bound_seconds']:.2f}) "
            f"| {result['cpu_seconds']:.2f} | {result['rss_peak_mb']:.0f} | {heap} "
            f"| {result['items_per_second']:,.0f} |"
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
    if cost:
        lines += [
            "",
            f"Cost at ${cost['price_per_gb_second_usd']} per GB-second and "
            f"${cost['price_per_request_usd'] * 1e6:.2f} per million requests ({cost['price_note']}), "
            f'{cost["days_per_month"]}-day month; "Lambda-scaled" stretches the measured CPU time to the '
            "CPU share of the configured memory (1 vCPU at 1 769 MB).",
            "",
            "| plan | flow | schedule | invocations | memory MB | s each (Lambda-scaled) | $ a month (Lambda-scaled) |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for plan, detail in cost["plans"].items():
            for item in detail["lines"]:
                lines.append(
                    f"| {plan} | {item['flow']} | {item['schedule']} | {item['invocations']:,} | {item['memory_mb']} "
                    f"| {item['measured_seconds']:.2f} ({item['lambda_seconds']:.2f}) "
                    f"| {item['measured_usd']:.2f} ({item['lambda_usd']:.2f}) |"
                )
            lines.append(
                f"| {plan} | **total** | | | | | **{detail['measured_usd']:.2f} ({detail['lambda_usd']:.2f})** |"
            )
    lines += ["", "| budget (ARCHITECTURE §10) | measured | met |", "|---|---|---|"]
    for check in report["budgets"]:
        verdict = {True: "yes", False: "**no**", None: "n/a"}[check["met"]]
        lines.append(f"| {check['budget']} | {check['measured']} | {verdict} |")
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "latest.json"
    markdown_path = directory / "latest.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown_path.write_text("# Benchmarks\n\n" + markdown(report), encoding="utf-8")
    return json_path, markdown_path


def update_readme(readme: Path, table: str) -> None:
    """Replace (or append) the README's `## Benchmarks` section: from its heading to the next `## ` or the end."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    section = (
        f"{README_SECTION}\n\n"
        "`make bench` runs every flow through its real handler at catalogue scale against the simulators with "
        "injected latency, and writes `bench/results/latest.json` and `bench/results/latest.md`. "
        "The simulators and moto run in a process of their own, so CPU and memory are the connector's alone. "
        "Latest results:\n\n" + table
    )
    start = text.find(f"\n{README_SECTION}\n")
    if start == -1:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end != -1 else "")
    readme.write_text(text, encoding="utf-8")
