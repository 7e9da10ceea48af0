"""Monthly Lambda cost of the scheduled flows, from the measured durations and the configured memory.

Lambda bills the configured memory × the billed duration, plus a fee per request. Its CPU share grows with
memory (one full vCPU at 1 769 MB), so at 512 MB a CPU-bound stretch runs about 3.5 times slower than on
the benchmark's core: next to the measured duration we give a Lambda-scaled one, where the measured CPU
time is stretched by that factor and the waiting (latency) is kept as it is.
"""

from __future__ import annotations

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
