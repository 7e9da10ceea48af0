"""Monthly cost of the stack, every line, from the measured scenarios, the template and public prices.

Lambda bills the configured memory × the billed duration, plus a fee per request. Its CPU share grows with
memory (one full vCPU at 1 769 MB), so at 512 MB a CPU-bound stretch runs about 3.5 times slower than on
the benchmark's core: the Lambda-scaled duration stretches the measured CPU time by that factor and keeps the
waiting as it is.

The waiting is the connector's, not the simulators': the benchmark's wall time also holds the sandbox
process's own service time (building a 100 000-row EDIQUERY answer in Python, moto's DynamoDB and S3), which
stands for work the real remotes do on their machines. The connector wall takes that CPU time out, keeps the
latency the simulators inject per call, and puts back a real AWS round trip per AWS call (`connector_wall_seconds`).

Changes are the business's, not the tick's: the benchmark's share changed per 5-minute tick (1 %) is the
change rate, so a minute tick sees a fifth of it. A tick's figures (time, log bytes, AWS calls) at a share are
interpolated between the measured 0 % and 1 % ticks, and every changed record's log line is counted once
whatever the tick rate; what a faster cadence adds is the per-tick overhead.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

# AWS Lambda public price, arm64, first tier (the first 7.5 billion GB-seconds a month), in us-east-1 and
# eu-west-3 alike; the free tier is left out so the figure holds for an account that uses it elsewhere.
PRICE_PER_GB_SECOND = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
FULL_VCPU_MB = 1769
DAYS_PER_MONTH = 30
MINUTES_PER_MONTH = DAYS_PER_MONTH * 24 * 60


@dataclass(frozen=True)
class Line:
    """Lambda's monthly line for one scheduled invocation kind."""

    flow: str
    scenario: str  # the measured scenario standing for one invocation (or how it was interpolated)
    schedule: str
    invocations: int
    memory_mb: int
    wall_seconds: float  # as measured, simulators' service time included
    connector_seconds: float  # connector wall: see `connector_wall_seconds`
    lambda_seconds: float  # the connector wall, its CPU part stretched to the memory's CPU share
    lambda_usd: float


# A DynamoDB, S3, SSM or Secrets Manager round trip from a Lambda in the same region. moto's service time leaves
# the connector wall with the sandbox's CPU time; a real call's latency is put back for each call instead.
AWS_CALL_SECONDS = 0.010


def connector_wall_seconds(
    wall: float,
    cpu: float,
    *,
    remote_cpu: float | None,
    contention: float,
    injected_waits: float,
    aws_calls: int,
    overlapped: float = 0.0,
) -> float:
    """The wall time the connector itself takes: the measured wall less the sandbox's service time (its CPU time
    during the call) and less the time the sandbox's threads and the handler's main thread waited for a core of
    the shared machine (`contention`); never less than the connector's own CPU time plus the latency the
    simulators injected into its calls, less the main thread's CPU time that ran while other threads' calls were
    out (`overlapped`, measured; at most the injected latency it hid); plus a real AWS round trip per AWS call.
    Never more than the measured wall either: that floor and those round trips add up as if nothing else
    overlapped, which a flow working concurrently (orders' claims beside their writes, ledger steps behind them)
    makes untrue, and the sandbox answered at least as slowly as the injected latency and AWS would. Without the
    sandbox's CPU time (no /proc), the measured wall as it is."""
    if remote_cpu is None:
        return wall
    floor = cpu + injected_waits - min(overlapped, injected_waits)
    return min(wall, max(wall - remote_cpu - contention, floor) + aws_calls * AWS_CALL_SECONDS)


def lambda_seconds(wall: float, cpu: float, memory_mb: int) -> float:
    """The measured wall time with its CPU part slowed to the CPU share Lambda gives `memory_mb`."""
    stretch = max(FULL_VCPU_MB / memory_mb, 1.0)
    return max(wall - cpu, 0.0) + cpu * stretch


def monthly_usd(invocations: int, seconds: float, memory_mb: int) -> float:
    return invocations * (seconds * memory_mb / 1024 * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST)


# --- the scheduled invocations of each plan, and what one of them does ----------------------------------------
MEASURED_TICK_MINUTES = 5  # the benchmark's changed share is what changes in a 5-minute tick (the default rate)
HOURS_PER_MONTH = DAYS_PER_MONTH * 24
FULL_READS_A_MONTH = HOURS_PER_MONTH  # stock.full_read_every_minutes = 60 with incremental reads
WEEKS_PER_MONTH = DAYS_PER_MONTH // 7

DEFAULT = "default schedules"
MINUTE_FULL = "stock every minute"
MINUTE_INCREMENTAL = "stock every minute, incremental reads"
UNCHANGED = "stock 0 % changed"
INCREMENTAL = "stock incremental"
INCREMENTAL_UNCHANGED = "stock incremental 0 % changed"
# Figures of a tick that move with the share changed (interpolated); the others are the scenario's.
_SCALED = ("wall_seconds", "connector_wall_seconds", "cpu_seconds", "log_bytes")


@dataclass(frozen=True)
class Schedule:
    """One scheduled invocation kind of a plan, and the figures of one of its invocations."""

    flow: str
    function: str
    schedule: str
    invocations: int
    figures: dict[str, Any] = field(repr=False)


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """What the cost needs of a measured scenario (a report written before the connector wall: the wall)."""
    return {
        "scenario": result["scenario"],
        "wall_seconds": float(result["wall_seconds"]),
        "connector_wall_seconds": float(result.get("connector_wall_seconds") or result["wall_seconds"]),
        "cpu_seconds": float(result["cpu_seconds"]),
        # The median run's logs, like its time (a report written before log_bytes_each: the first run's).
        "log_bytes": int(statistics.median(result.get("log_bytes_each") or [result["log_bytes"]])),
        "aws_calls": dict(result.get("aws_calls", {})),
        "published_metrics": list(result.get("published_metrics", [])),
    }


def at_share(unchanged: dict[str, Any], changed: dict[str, Any], measured_share: float, share: float) -> dict[str, Any]:
    """A tick's figures when `share` of the catalogue changed, interpolated linearly between the measured
    unchanged tick and the one at `measured_share` (the per-change part: records mapped, sent and logged), both of
    the same kind (full reads, or incremental reads). Nothing falls below zero."""
    remaining = 1 - share / measured_share

    def moved(key: str) -> float:
        return max(float(changed[key]) - (float(changed[key]) - float(unchanged[key])) * remaining, 0.0)

    result: dict[str, Any] = {key: moved(key) for key in _SCALED}
    operations = set(changed["aws_calls"]) | set(unchanged["aws_calls"])
    # Not rounded per tick: a call one tick in five makes (a snapshot save) is a fifth of one per tick a month.
    result["aws_calls"] = {
        operation: max(
            changed["aws_calls"].get(operation, 0)
            - (changed["aws_calls"].get(operation, 0) - unchanged["aws_calls"].get(operation, 0)) * remaining,
            0.0,
        )
        for operation in sorted(operations)
    }
    result["published_metrics"] = changed["published_metrics"] if share > 0 else unchanged["published_metrics"]
    result["scenario"] = (
        changed["scenario"]
        if share == measured_share
        else f"{changed['scenario']} at {share:.2%} changed (interpolated from {unchanged['scenario']})"
    )
    return result


def plans(results: dict[str, dict[str, Any]], changed_name: str, measured_share: float) -> dict[str, list[Schedule]]:
    """The scheduled invocations at the default schedules and at minute stock (full reads; incremental reads
    with a full read every hour), for the scenarios that were measured."""
    measured = {name: figures(result) for name, result in results.items()}
    changed = measured.get(changed_name)
    unchanged = measured.get(UNCHANGED, changed)
    incremental, incremental_unchanged = measured.get(INCREMENTAL), measured.get(INCREMENTAL_UNCHANGED)
    every: dict[str, list[Schedule]] = {DEFAULT: [], MINUTE_FULL: []}
    if incremental is not None and incremental_unchanged is not None:
        every[MINUTE_INCREMENTAL] = []
    for plan, items in every.items():
        minutes = MEASURED_TICK_MINUTES if plan == DEFAULT else 1
        ticks = MINUTES_PER_MONTH // minutes
        share = measured_share * minutes / MEASURED_TICK_MINUTES
        schedule = f"rate({minutes} minute{'s' if minutes > 1 else ''})"
        if changed is not None and unchanged is not None:
            full_read = at_share(unchanged, changed, measured_share, share)
            if plan == MINUTE_INCREMENTAL and incremental is not None and incremental_unchanged is not None:
                items += [
                    Schedule(
                        "stock",
                        "push_stock",
                        schedule + ", incremental",
                        ticks - FULL_READS_A_MONTH,
                        at_share(incremental_unchanged, incremental, measured_share, share),
                    ),
                    Schedule("stock", "push_stock", "hourly full read", FULL_READS_A_MONTH, full_read),
                ]
            else:
                items.append(Schedule("stock", "push_stock", schedule, ticks, full_read))
        for name, flow, function, label, invocations in (
            ("stock full push", "stock", "push_stock", "nightly full", DAYS_PER_MONTH),
            ("orders idle", "orders", "import_orders", "rate(15 minutes), no order waiting", MINUTES_PER_MONTH // 15),
            ("readiness report", "readiness", "readiness", "daily", DAYS_PER_MONTH),
            ("reconcile (no drift)", "reconcile", "reconcile", "weekly", WEEKS_PER_MONTH),
        ):
            if name in measured:
                items.append(Schedule(flow, function, label, invocations, measured[name]))
    return every


def lambda_line(item: Schedule, memory: dict[str, int]) -> Line:
    memory_mb = memory.get(item.function, 512)
    tick = item.figures
    scaled = lambda_seconds(tick["connector_wall_seconds"], tick["cpu_seconds"], memory_mb)
    return Line(
        flow=item.flow,
        scenario=str(tick["scenario"]),
        schedule=item.schedule,
        invocations=item.invocations,
        memory_mb=memory_mb,
        wall_seconds=round(tick["wall_seconds"], 3),
        connector_seconds=round(tick["connector_wall_seconds"], 3),
        lambda_seconds=round(scaled, 3),
        lambda_usd=round(monthly_usd(item.invocations, scaled, memory_mb), 4),
    )


# --- every monthly line of the stack, not Lambda alone ------------------------------------------------------
# Public prices, us-east-1 (eu-west-3 is within a few percent), free tiers not deducted.
LOGS_INGESTION_PER_GB = 0.50
LOGS_STORAGE_PER_GB_MONTH = 0.03  # billed on the compressed size: the raw bytes used here are an upper bound
# The JSON platform records Lambda adds to every invocation (LoggingConfig LogFormat JSON): platform.start,
# platform.runtimeDone and platform.report, each with the request id and, under Tracing Active, the trace id.
LAMBDA_PLATFORM_LOG_BYTES = 900
METRIC_PER_MONTH = 0.30  # a custom metric published in every hour of the month; billed by the hour it is
ALARM_PER_METRIC_MONTH = 0.10  # standard resolution, per metric an alarm reads (a metric-math alarm: each one)
DYNAMODB_PER_MILLION_WRITES = 0.625  # on-demand, per write request unit (items ≤ 1 KB)
DYNAMODB_PER_MILLION_READS = 0.125  # on-demand, per read request unit (counted as strongly consistent)
S3_PER_THOUSAND_PUTS = 0.005
S3_PER_THOUSAND_GETS = 0.0004
SCHEDULER_PER_MILLION = 1.00
XRAY_PER_MILLION_TRACES = 5.00  # `Tracing: Active` records one trace per invocation
SECRET_PER_MONTH = 0.40
KMS_KEY_PER_MONTH = 1.00  # a customer-managed key; each of its first two rotations adds $1 a month (then capped)
SECRETS_PER_TEN_THOUSAND_CALLS = 0.05
CONFIG_MAX_AGE_MINUTES = 5  # PARAMETERS_MAX_AGE: a warm function reads its settings and secret again after it

_DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
_S3_PUTS = ("PutObject", "CopyObject", "ListObjects", "ListObjectsV2")


@dataclass(frozen=True)
class StackFacts:
    """What the template says that costs money whatever runs: alarms, secrets, log retention."""

    alarm_metrics: int  # metrics read by all alarms together (a metric-math alarm pays for each)
    alarms: int
    secrets: int
    log_retention_days: int
    kms_keys: int = 0
    firewall_default: str = "off"  # ApiFirewall: AWS WAF in front of the API, about $7 a month when on


def _calls(aws_calls: dict[str, float], service: str, operations: tuple[str, ...], *, among: bool) -> float:
    total = 0.0
    for name, count in aws_calls.items():
        prefix, _, operation = name.partition(".")
        if prefix == service and (operation in operations) == among:
            total += count
    return total


def secret_reads(items: list[Schedule]) -> int:
    """Secret reads a month: the measured invocation reuses what a warm container cached, so reads are counted
    from the cache's age: a function invoked more often than every CONFIG_MAX_AGE_MINUTES reads once per
    CONFIG_MAX_AGE_MINUTES, one invoked less often on every invocation (cold starts are within that)."""
    by_function: dict[str, int] = {}
    for item in items:
        by_function[item.function] = by_function.get(item.function, 0) + item.invocations
    return sum(min(count, MINUTES_PER_MONTH // CONFIG_MAX_AGE_MINUTES) for count in by_function.values())


def metric_hours(items: list[Schedule]) -> dict[str, int]:
    """Hours a month each custom metric (name and dimensions) is published in: a schedule publishing it at
    least hourly covers the month, a daily one a day's hour each time."""
    hours: dict[str, int] = {}
    for item in items:
        for metric in item.figures["published_metrics"]:
            hours[metric] = min(HOURS_PER_MONTH, hours.get(metric, 0) + min(item.invocations, HOURS_PER_MONTH))
    return hours


def stack_plan(items: list[Schedule], memory: dict[str, int], facts: StackFacts) -> dict[str, Any]:
    """Every monthly line of one plan."""
    invocations = sum(item.invocations for item in items)
    lambda_lines = [lambda_line(item, memory) for item in items]
    log_gb = sum(item.invocations * (item.figures["log_bytes"] + LAMBDA_PLATFORM_LOG_BYTES) for item in items) / 2**30
    stored_gb = log_gb * facts.log_retention_days / DAYS_PER_MONTH

    def monthly(service: str, operations: tuple[str, ...], *, among: bool) -> int:
        return round(
            sum(
                item.invocations * _calls(item.figures["aws_calls"], service, operations, among=among) for item in items
            )
        )

    writes = monthly("dynamodb", _DYNAMODB_WRITES, among=True)
    reads = monthly("dynamodb", _DYNAMODB_WRITES, among=False)
    puts = monthly("s3", _S3_PUTS, among=True)
    gets = monthly("s3", _S3_PUTS, among=False)
    reads_of_secret = secret_reads(items)
    hours = metric_hours(items)
    lines = [
        (
            "Lambda (Lambda-scaled connector wall)",
            f"{invocations:,} invocations",
            sum(i.lambda_usd for i in lambda_lines),
        ),
        (
            "CloudWatch Logs ingestion",
            f"{log_gb:.3f} GB measured from the task log (+{LAMBDA_PLATFORM_LOG_BYTES} B platform records each)",
            log_gb * LOGS_INGESTION_PER_GB,
        ),
        (
            "CloudWatch Logs storage",
            f"{stored_gb:.3f} GB held at {facts.log_retention_days}-day retention (raw size: an upper bound)",
            stored_gb * LOGS_STORAGE_PER_GB_MONTH,
        ),
        (
            "CloudWatch custom metrics",
            f"{len(hours)} metrics, {sum(hours.values()):,} metric-hours (published only in hours with a value)",
            sum(hours.values()) / HOURS_PER_MONTH * METRIC_PER_MONTH,
        ),
        (
            "CloudWatch alarms",
            f"{facts.alarms} alarms reading {facts.alarm_metrics} metrics",
            facts.alarm_metrics * ALARM_PER_METRIC_MONTH,
        ),
        (
            "DynamoDB (on demand)",
            f"{writes:,} writes, {reads:,} reads",
            writes / 1e6 * DYNAMODB_PER_MILLION_WRITES + reads / 1e6 * DYNAMODB_PER_MILLION_READS,
        ),
        (
            "S3 requests",
            f"{puts:,} PUT/LIST, {gets:,} GET/HEAD",
            puts / 1e3 * S3_PER_THOUSAND_PUTS + gets / 1e3 * S3_PER_THOUSAND_GETS,
        ),
        ("EventBridge Scheduler", f"{invocations:,} invocations", invocations / 1e6 * SCHEDULER_PER_MILLION),
        ("X-Ray", f"{invocations:,} traces", invocations / 1e6 * XRAY_PER_MILLION_TRACES),
        (
            "Secrets Manager (SSM standard parameters are free)",
            f"{facts.secrets} secrets (read by the functions, or created by the stack), {reads_of_secret:,} reads "
            f"(cached {CONFIG_MAX_AGE_MINUTES} min when warm)",
            facts.secrets * SECRET_PER_MONTH + reads_of_secret / 1e4 * SECRETS_PER_TEN_THOUSAND_CALLS,
        ),
        (
            "KMS (the alarm topic's key)",
            f"{facts.kms_keys} customer-managed key(s): AlarmTopicKmsKey is empty by default; `create` adds one "
            "($1 a month, up to $3 with its yearly rotations)",
            facts.kms_keys * KMS_KEY_PER_MONTH,
        ),
        (
            "Dashboard, SNS, SQS, API Gateway, WAF",
            f"1 dashboard (3 free an account); alarm mails, empty failure queues, API calls on demand; "
            f"ApiFirewall {facts.firewall_default} (about $7 a month on)",
            0.0,
        ),
    ]
    return {
        "lambda_lines": [asdict(line) for line in lambda_lines],
        "lines": [{"item": name, "basis": basis, "usd": round(usd, 4)} for name, basis, usd in lines],
        "total_usd": round(sum(usd for _, _, usd in lines), 4),
    }


def change_rate(
    results: dict[str, dict[str, Any]], changed_name: str, measured_share: float, facts: StackFacts
) -> dict[str, Any]:
    """The change rate the plans assume, and what one changed record costs in CloudWatch Logs a month at it."""
    changed, unchanged = results.get(changed_name) or {}, results.get(UNCHANGED) or {}
    sent = int(changed.get("sent", 0))
    per_change = (changed.get("log_bytes", 0) - unchanged.get("log_bytes", 0)) / sent if sent and unchanged else 0.0
    per_gb = LOGS_INGESTION_PER_GB + facts.log_retention_days / DAYS_PER_MONTH * LOGS_STORAGE_PER_GB_MONTH
    return {
        "share_per_tick": measured_share,
        "tick_minutes": MEASURED_TICK_MINUTES,
        "changed_per_hour": round(sent * 60 / MEASURED_TICK_MINUTES),
        "log_bytes_per_change": round(per_change),
        # Ingestion, and storage at the retention, of 10 000 changed records' lines (the same at any tick rate).
        "logs_usd_per_10k_changes": round(per_change * 10_000 / 2**30 * per_gb, 6),
    }


def estimate(
    results: dict[str, dict[str, Any]],
    memory: dict[str, int],
    facts: StackFacts,
    changed_name: str,
    measured_share: float,
) -> dict[str, Any]:
    """Every monthly line at the default schedules and at minute stock, and minute stock's increments."""
    planned = plans(results, changed_name, measured_share)
    stack = {plan: stack_plan(items, memory, facts) for plan, items in planned.items()}
    base = stack[DEFAULT]["total_usd"]
    increments = {plan: round(detail["total_usd"] - base, 4) for plan, detail in stack.items() if plan != DEFAULT}
    compute_base = _compute_and_logs_usd(stack[DEFAULT])
    compute_increments = {
        plan: round(_compute_and_logs_usd(detail) - compute_base, 4)
        for plan, detail in stack.items()
        if plan != DEFAULT
    }
    return {
        "price_per_gb_second_usd": PRICE_PER_GB_SECOND,
        "price_per_request_usd": PRICE_PER_REQUEST,
        "price_note": "AWS Lambda arm64, first tier, us-east-1 / eu-west-3; free tier not deducted",
        "days_per_month": DAYS_PER_MONTH,
        "change_rate": change_rate(results, changed_name, measured_share, facts),
        "plans": stack,
        "increments_usd": increments,
        "compute_and_logs_increments_usd": compute_increments,
    }


# What the minute-stock goals are stated on (issue: "Lambda-scaled, with CloudWatch Logs"): the cost that grows
# with the connector's own work. The per-invocation requests a faster schedule also adds (Scheduler, X-Ray, the
# run's DynamoDB and S3 writes) are in the whole stack's increment, reported beside it.
COMPUTE_AND_LOGS_LINES = (
    "Lambda (Lambda-scaled connector wall)",
    "CloudWatch Logs ingestion",
    "CloudWatch Logs storage",
)


def _compute_and_logs_usd(plan: dict[str, Any]) -> float:
    return float(sum(line["usd"] for line in plan["lines"] if line["item"] in COMPUTE_AND_LOGS_LINES))
