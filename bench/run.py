"""One benchmark: the sandbox process, every scenario in order, cold starts, cost and the budget verdicts."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bench import coldstart, cost
from bench.remote import RemoteStack
from bench.report import budgets
from bench.scenarios import BenchSettings, run_scenario, scenarios

__all__ = ["BenchSettings", "run_bench"]

METHOD = (
    "Simulators and moto run in a separate process; each scenario's handler calls (warm-ups and timed runs) run in "
    "one worker process of their own, called as Lambda would (real handler, Lambda-like context): a warm container,"
    " where what a run keeps for the next (a snapshot's copy, settings, clients) is there. Handler CPU = "
    "time.process_time() of that process around the call (all its threads). RSS peak = VmHWM after resetting it "
    "through /proc/self/clear_refs (ru_maxrss elsewhere). Heap peak = tracemalloc peak of a second pass doing the "
    "same work. Minimum calls = ⌈items ÷ batch⌉ per batch resource plus calls that cannot be batched; wall lower "
    "bound = Fastmag calls × Fastmag latency + minimum LNB calls × LNB latency ÷ concurrency. Each figure is the "
    "median of the timed runs. Remote CPU = the sandbox process's CPU time (/proc/<pid>/stat) over the same call: "
    "the simulators' and moto's service time, which stands for work the real remotes do on their own machines. "
    "Contention = the time the sandbox's threads and the handler's main thread waited for a core of the shared "
    "machine (/proc/<pid>/task/<tid>/schedstat). Connector wall = wall − remote CPU − contention, never less than "
    "handler CPU + the latency injected into the calls made (Fastmag's serial, LNB's ÷ concurrency) − the handler "
    "thread's CPU time that ran while other threads' calls were out (overlapped; at most that latency), plus 10 ms "
    "per AWS call for a real round trip in place of moto's. Lambda-scaled = the waiting part of the connector wall "
    "plus the CPU time stretched to the CPU share of the function's memory (1 vCPU at 1 769 MB); cost is judged on "
    "it. The monthly cost takes the changed share per 5-minute tick as the business's change rate: a minute tick "
    "sees a fifth of it, its figures interpolated linearly between the measured 0 % and changed ticks (an "
    "incremental tick's between the measured incremental ticks at 0 % and at the changed share), so each changed "
    "record's log line is counted once whatever the tick rate."
)


def stack_facts() -> cost.StackFacts:
    """What template.yaml bills whatever runs: alarms and the metrics they read, secrets, log retention."""
    from sandbox.template import created_resources, load_template

    template = load_template()
    # What a deploy creates with the schedules on, as the cost assumes, and every other parameter at its default
    # (e.g. the alarm topic's key only when asked for).
    deployed = {"SchedulesEnabled": "true"}
    alarms = created_resources(template, "AWS::CloudWatch::Alarm", deployed).values()
    alarm_metrics = sum(
        max(sum(1 for metric in alarm["Properties"].get("Metrics", []) if "MetricStat" in metric), 1)
        for alarm in alarms
    )
    retention = template["Parameters"]["LogRetentionDays"]["Default"]
    # Billed secrets: those the stack creates (the previous release's, retained) and the brand-owned ones the
    # functions read (configure-secret writes them, outside the stack), one per `*_SECRET_ID` variable.
    read_by_functions = {
        name
        for function in created_resources(template, "AWS::Serverless::Function", deployed).values()
        for name in function["Properties"].get("Environment", {}).get("Variables", {})
        if name.endswith("_SECRET_ID")
    }
    read_by_functions |= {
        name
        for name in template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        if name.endswith("_SECRET_ID")
    }
    return cost.StackFacts(
        alarm_metrics=alarm_metrics,
        alarms=len(alarms),
        secrets=len(created_resources(template, "AWS::SecretsManager::Secret", deployed)) + len(read_by_functions),
        log_retention_days=int(retention),
        kms_keys=len(created_resources(template, "AWS::KMS::Key", deployed)),
        firewall_default=str(template["Parameters"]["ApiFirewall"]["Default"]),
    )


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU model and count, load when the run started, Python, OS."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_bench(settings: BenchSettings, *, cold_start: bool = True, progress: TextIO | None = None) -> dict[str, Any]:
    def say(text: str) -> None:
        if progress is not None:
            print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=progress, flush=True)

    started = time.perf_counter()
    say(f"building the sandbox: {settings.models} models, {settings.retailers} retailers")
    paging = {"fastmag": {"page_rows": settings.page_rows}} if settings.page_rows else None
    with RemoteStack(models=settings.models, retailers=settings.retailers, settings_document=paging) as stack:
        catalogue: dict[str, int] = stack.call("sizes")
        memory: dict[str, int] = stack.call("memory_sizes")
        stack.call("set_latency", settings.fastmag_latency, settings.lnb_latency)
        results = []
        for scenario in scenarios(settings, catalogue["skus"]):
            say(f"{scenario.name} …")
            result = run_scenario(stack, scenario, settings)
            remote = "?" if result.remote_cpu_seconds is None else f"{result.remote_cpu_seconds:.2f}"
            say(
                f"{scenario.name}: {result.status}, {result.lnb_calls} LNB calls (min {result.lnb_calls_min}), "
                f"{result.wall_seconds:.2f} s wall ({remote} s remote CPU, {result.contention_seconds:.2f} s "
                f"contention, {result.connector_wall_seconds:.2f} s connector), {result.cpu_seconds:.2f} s CPU, "
                f"{result.rss_peak_mb:.0f} MB (median of {result.runs})"
            )
            measured = result.as_dict()
            measured["memory_mb"] = memory.get(scenario.function, 512)
            measured["lambda_seconds"] = round(
                cost.lambda_seconds(result.connector_wall_seconds, result.cpu_seconds, measured["memory_mb"]), 3
            )
            results.append(measured)
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "models": settings.models,
            "retailers": settings.retailers,
            "orders": settings.orders,
            "fastmag_latency": settings.fastmag_latency,
            "lnb_latency": settings.lnb_latency,
            "batch_size": settings.batch_size,
            "concurrency": settings.concurrency,
            "changed_share": settings.changed_share,
            "page_rows": settings.page_rows,
            "scale": settings.scale,
            "memory_pass": settings.trace_memory,
            "runs": settings.runs,
        },
        "method": METHOD,
        "catalogue": catalogue,
        "memory_size_mb": memory,
        "incremental_scenario": f"stock {settings.changed_share:.0%} changed",
        "scenarios": results,
    }
    if cold_start:
        say("cold starts and layer size …")
        functions = sorted({result["function"] for result in results} | {"api", "authorizer"})
        report["cold_start"] = {
            "import_seconds": {
                name: round(coldstart.import_seconds(name), 3)
                for name in functions
                if (coldstart.ROOT / "functions" / name / "app.py").is_file()
            },
            "layer": coldstart.layer_size(),
        }
    by_name = {result["scenario"]: result for result in results}
    report["cost"] = cost.estimate(
        by_name, memory, stack_facts(), report["incremental_scenario"], settings.changed_share
    )
    report["budgets"] = budgets(report)
    report["duration_seconds"] = round(time.perf_counter() - started, 1)
    return report
