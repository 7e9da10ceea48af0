"""Monthly Lambda cost of the scheduled flows, from the measured durations and the configured memory.

Lambda bills the configured memory × the billed duration, plus a fee per request. Its CPU share grows with
memory (one full vCPU at 1 769 MB), so at 512 MB a CPU-bound stretch runs about 3.5 times slower than on
the benchmark's core: next to the measured duration we give a Lambda-scaled one, where the measured CPU
time is stretched by that factor and the waiting (latency) is kept as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
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
    flow: str
    scenario: str  # the measured scenario standing for one invocation
    schedule: str
    invocations: int
    memory_mb: int
    measured_seconds: float
    lambda_seconds: float
    measured_usd: float
    lambda_usd: float


def lambda_seconds(wall: float, cpu: float, memory_mb: int) -> float:
    """The measured wall time with its CPU part slowed to the CPU share Lambda gives `memory_mb`."""
    stretch = max(FULL_VCPU_MB / memory_mb, 1.0)
    return max(wall - cpu, 0.0) + cpu * stretch


def monthly_usd(invocations: int, seconds: float, memory_mb: int) -> float:
    return invocations * (seconds * memory_mb / 1024 * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST)


def line(flow: str, scenario: dict[str, Any], schedule: str, invocations: int, memory_mb: int) -> Line:
    wall, cpu = float(scenario["wall_seconds"]), float(scenario["cpu_seconds"])
    scaled = lambda_seconds(wall, cpu, memory_mb)
    return Line(
        flow=flow,
        scenario=str(scenario["scenario"]),
        schedule=schedule,
        invocations=invocations,
        memory_mb=memory_mb,
        measured_seconds=round(wall, 3),
        lambda_seconds=round(scaled, 3),
        measured_usd=round(monthly_usd(invocations, wall, memory_mb), 4),
        lambda_usd=round(monthly_usd(invocations, scaled, memory_mb), 4),
    )


def estimate(results: dict[str, dict[str, Any]], memory: dict[str, int], incremental: str) -> dict[str, Any]:
    """Default schedules (stock every 5 minutes + nightly full, orders every 15 minutes) and 1-minute stock.

    `incremental` names the stock scenario that stands for one incremental tick.
    """
    plans: dict[str, list[Line]] = {"default schedules": [], "stock every minute": []}
    stock_memory = memory.get("push_stock", 512)
    full = results.get("stock full push")
    tick = results.get(incremental)
    orders = results.get("orders idle")
    for plan, every in (("default schedules", 5), ("stock every minute", 1)):
        if tick:
            plans[plan].append(
                line(
                    "stock",
                    tick,
                    f"rate({every} minute{'s' if every > 1 else ''})",
                    MINUTES_PER_MONTH // every,
                    stock_memory,
                )
            )
        if full:
            plans[plan].append(line("stock", full, "nightly full", DAYS_PER_MONTH, stock_memory))
        if orders and plan == "default schedules":
            plans[plan].append(
                line("orders", orders, "rate(15 minutes)", MINUTES_PER_MONTH // 15, memory.get("import_orders", 512))
            )
    return {
        "price_per_gb_second_usd": PRICE_PER_GB_SECOND,
        "price_per_request_usd": PRICE_PER_REQUEST,
        "price_note": "AWS Lambda arm64, first tier, us-east-1 / eu-west-3; free tier not deducted",
        "days_per_month": DAYS_PER_MONTH,
        "plans": {
            plan: {
                "lines": [asdict(item) for item in items],
                "measured_usd": round(sum(item.measured_usd for item in items), 4),
                "lambda_usd": round(sum(item.lambda_usd for item in items), 4),
            }
            for plan, items in plans.items()
        },
        "stock_every_minute_usd": {
            "measured": round(sum(i.measured_usd for i in plans["stock every minute"] if i.flow == "stock"), 4),
            "lambda": round(sum(i.lambda_usd for i in plans["stock every minute"] if i.flow == "stock"), 4),
        },
    }


# --- every monthly line of the stack, not Lambda alone ------------------------------------------------------
# Public prices, us-east-1 (eu-west-3 is within a few percent), free tiers not deducted.
LOGS_INGESTION_PER_GB = 0.50
LOGS_STORAGE_PER_GB_MONTH = 0.03  # billed on the compressed size: the raw bytes used here are an upper bound
LAMBDA_PLATFORM_LOG_BYTES = 400  # START, END and REPORT lines Lambda adds to every invocation
METRIC_PER_MONTH = 0.30  # a custom metric published every hour of the month; pro-rated by the hours it is
ALARM_PER_METRIC_MONTH = 0.10  # standard resolution, per metric an alarm reads
DYNAMODB_PER_MILLION_WRITES = 0.625  # on-demand, per write request unit (items ≤ 1 KB)
DYNAMODB_PER_MILLION_READS = 0.125  # on-demand, per read request unit (counted as strongly consistent)
S3_PER_THOUSAND_PUTS = 0.005
S3_PER_THOUSAND_GETS = 0.0004
SCHEDULER_PER_MILLION = 1.00
XRAY_PER_MILLION_TRACES = 5.00  # `Tracing: Active` records one trace per invocation
SECRET_PER_MONTH = 0.40
SECRETS_PER_TEN_THOUSAND_CALLS = 0.05
CONFIG_MAX_AGE_MINUTES = 5  # PARAMETERS_MAX_AGE: a warm function reads its settings and secret again after it
HOURS_PER_MONTH = DAYS_PER_MONTH * 24

_DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
_S3_PUTS = ("PutObject", "CopyObject", "ListObjects", "ListObjectsV2")


@dataclass(frozen=True)
class Schedule:
    """One scheduled invocation kind: the scenario standing for it and how often it runs a month."""

    flow: str
    scenario: str
    function: str
    invocations: int


@dataclass(frozen=True)
class StackFacts:
    """What the template says that costs money whatever runs: alarms, secrets, log retention, metric filters."""

    alarm_metrics: int  # metrics read by all alarms together (a metric-math alarm pays for each)
    alarms: int
    secrets: int
    log_retention_days: int
    published_metrics_per_flow: int  # sent, rejected, run_<status> of the statuses a healthy flow reports


MINUTE_INCREMENTAL = "stock every minute, incremental reads"
FULL_READS_A_MONTH = HOURS_PER_MONTH  # stock.full_read_every_minutes = 60


def schedules(plan: str, incremental: str) -> list[Schedule]:
    """The scheduled invocations of a plan; `incremental` names the scenario of a full-read stock tick."""
    every = 5 if plan == "default schedules" else 1
    ticks = MINUTES_PER_MONTH // every
    stock = [Schedule("stock", incremental, "push_stock", ticks)]
    if plan == MINUTE_INCREMENTAL:
        # One tick an hour still reads the whole stock (the periodic full read); the others read what changed.
        stock = [
            Schedule("stock", "stock incremental", "push_stock", ticks - FULL_READS_A_MONTH),
            Schedule("stock", incremental, "push_stock", FULL_READS_A_MONTH),
        ]
    return [
        *stock,
        Schedule("stock", "stock full push", "push_stock", DAYS_PER_MONTH),
        Schedule("orders", "orders idle", "import_orders", MINUTES_PER_MONTH // 15),
    ]


def _calls(result: dict[str, Any], service: str, operations: tuple[str, ...] | None, *, among: bool) -> int:
    total = 0
    for name, count in result.get("aws_calls", {}).items():
        prefix, _, operation = name.partition(".")
        if prefix == service and (operations is None or (operation in operations) == among):
            total += count
    return total


def _monthly(planned: list[tuple[Schedule, dict[str, Any]]], per_invocation: Callable[[dict[str, Any]], int]) -> int:
    """A per-invocation figure of each schedule's scenario, times its invocations a month, summed."""
    return sum(item.invocations * per_invocation(result) for item, result in planned)


def stack_lines(
    results: dict[str, dict[str, Any]], memory: dict[str, int], facts: StackFacts, incremental: str
) -> dict[str, Any]:
    """Every monthly line per plan (default schedules; stock every minute), from the measured scenarios."""
    plans: dict[str, Any] = {}
    for plan in ("default schedules", "stock every minute", MINUTE_INCREMENTAL):
        if plan == MINUTE_INCREMENTAL and "stock incremental" not in results:
            continue
        planned = [(item, results[item.scenario]) for item in schedules(plan, incremental) if item.scenario in results]
        invocations = sum(item.invocations for item, _ in planned)
        lambda_usd = sum(
            line(item.flow, result, "", item.invocations, memory.get(item.function, 512)).lambda_usd
            for item, result in planned
        )
        log_bytes = sum(
            item.invocations * (result["log_bytes"] + LAMBDA_PLATFORM_LOG_BYTES) for item, result in planned
        )
        log_gb = log_bytes / 2**30
        writes = sum(
            item.invocations * _calls(result, "dynamodb", _DYNAMODB_WRITES, among=True) for item, result in planned
        )
        reads = sum(
            item.invocations * _calls(result, "dynamodb", _DYNAMODB_WRITES, among=False) for item, result in planned
        )
        puts = sum(item.invocations * _calls(result, "s3", _S3_PUTS, among=True) for item, result in planned)
        gets = sum(item.invocations * _calls(result, "s3", _S3_PUTS, among=False) for item, result in planned)
        # A warm function reads its settings (SSM, free at standard throughput) and secret at most every
        # CONFIG_MAX_AGE_MINUTES; a function invoked less often reads them on every invocation.
        secret_reads = sum(min(item.invocations, MINUTES_PER_MONTH // CONFIG_MAX_AGE_MINUTES) for item, _ in planned)
        flows = {item.flow for item, _ in planned}
        # A scheduled flow publishes in every hour it runs (stock and orders run several times an hour).
        metric_months = len(flows) * facts.published_metrics_per_flow
        lines = [
            ("Lambda (Lambda-scaled)", f"{invocations:,} invocations", lambda_usd),
            (
                "CloudWatch Logs ingestion",
                f"{log_gb:.3f} GB measured from the task log (+{LAMBDA_PLATFORM_LOG_BYTES} B platform lines each)",
                log_gb * LOGS_INGESTION_PER_GB,
            ),
            (
                "CloudWatch Logs storage",
                f"{log_gb * facts.log_retention_days / DAYS_PER_MONTH:.3f} GB held at {facts.log_retention_days}-day "
                "retention (raw size: an upper bound)",
                log_gb * facts.log_retention_days / DAYS_PER_MONTH * LOGS_STORAGE_PER_GB_MONTH,
            ),
            (
                "CloudWatch custom metrics",
                f"{metric_months} metrics, {facts.published_metrics_per_flow} a flow, {HOURS_PER_MONTH} h each",
                metric_months * METRIC_PER_MONTH,
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
                f"{facts.secrets} secrets, {secret_reads:,} reads",
                facts.secrets * SECRET_PER_MONTH + secret_reads / 1e4 * SECRETS_PER_TEN_THOUSAND_CALLS,
            ),
        ]
        plans[plan] = {
            "lines": [{"item": name, "basis": basis, "usd": round(usd, 4)} for name, basis, usd in lines],
            "total_usd": round(sum(usd for _, _, usd in lines), 4),
            "stock_usd": round(
                sum(
                    line(item.flow, result, "", item.invocations, memory.get(item.function, 512)).lambda_usd
                    + item.invocations
                    * (result["log_bytes"] + LAMBDA_PLATFORM_LOG_BYTES)
                    / 2**30
                    * (LOGS_INGESTION_PER_GB + facts.log_retention_days / DAYS_PER_MONTH * LOGS_STORAGE_PER_GB_MONTH)
                    for item, result in planned
                    if item.flow == "stock"
                ),
                4,
            ),
        }
    base = plans["default schedules"]["total_usd"]
    plans["minute stock increment"] = round(plans["stock every minute"]["total_usd"] - base, 4)
    if MINUTE_INCREMENTAL in plans:
        plans["minute incremental stock increment"] = round(plans[MINUTE_INCREMENTAL]["total_usd"] - base, 4)
    return plans
