"""The benchmark's cost arithmetic: the connector's own wall time, the change rate per tick, every monthly line."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench import cost
from bench.remote import process_cpu_seconds, threads_waiting, waited_between
from bench.report import (
    STOCK_EVERY_MINUTE_INCREMENTAL_USD,
    STOCK_EVERY_MINUTE_USD,
    WHOLE_STACK_USD,
    _cost_checks,
    budgets,
)

FACTS = cost.StackFacts(alarm_metrics=14, alarms=14, secrets=1, log_retention_days=90, kms_keys=1)
MEMORY = {"push_stock": 512, "import_orders": 512}
STOCK = "stock{flow=stock,service=connector}"


def _scenario(name: str, **figures: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "scenario": name,
        "wall_seconds": 1.0,
        "connector_wall_seconds": 1.0,
        "cpu_seconds": 0.5,
        "log_bytes": 2_000,
        "sent": 0,
        "aws_calls": {"dynamodb.PutItem": 2, "dynamodb.Query": 1, "s3.GetObject": 1, "s3.PutObject": 1},
        "published_metrics": ["pushed{flow=stock,service=connector}"],
    }
    result.update(figures)
    return result


def _results() -> dict[str, dict[str, Any]]:
    unchanged = _scenario("stock 0 % changed")
    changed = _scenario(
        "stock 1% changed",
        connector_wall_seconds=1.5,
        cpu_seconds=0.75,
        log_bytes=502_000,  # 1 000 changed records at 500 bytes
        sent=1_000,
        aws_calls={"dynamodb.PutItem": 3, "dynamodb.Query": 1, "s3.GetObject": 1, "s3.PutObject": 2},
        published_metrics=["pushed{flow=stock,service=connector}", "sent{flow=stock,service=connector}"],
    )
    incremental = _scenario(
        "stock incremental",
        connector_wall_seconds=0.7,
        cpu_seconds=0.3,
        log_bytes=501_000,
        sent=1_000,
        published_metrics=changed["published_metrics"],
    )
    # Its fixed cost: the run record, lock and lease, a 304 for the snapshot, one query that returns nothing.
    incremental_unchanged = _scenario(
        "stock incremental 0 % changed",
        connector_wall_seconds=0.3,
        cpu_seconds=0.04,
        log_bytes=1_000,
        aws_calls={"dynamodb.PutItem": 2, "dynamodb.Query": 1, "s3.GetObject": 1},
    )
    return {
        "stock 0 % changed": unchanged,
        "stock 1% changed": changed,
        "stock incremental": incremental,
        "stock incremental 0 % changed": incremental_unchanged,
        "stock full push": _scenario("stock full push", connector_wall_seconds=20.0, cpu_seconds=5.0),
        "orders idle": _scenario(
            "orders idle", connector_wall_seconds=0.3, cpu_seconds=0.05, log_bytes=1_500, published_metrics=[]
        ),
    }


def test_the_connector_wall_leaves_out_the_simulators_service_time_and_the_machines_contention() -> None:
    # 18 s measured: 12 s the sandbox building answers, 4 s threads waiting for a core of the shared machine;
    # 2 s is the connector's, plus 11 real AWS round trips.
    wall = cost.connector_wall_seconds(18.0, 0.8, remote_cpu=12.0, contention=4.0, injected_waits=0.27, aws_calls=11)
    assert wall == pytest.approx(2.0 + 11 * cost.AWS_CALL_SECONDS)


def test_the_connector_wall_never_drops_below_its_cpu_and_the_injected_latency() -> None:
    """The two processes share the cores: the sandbox's CPU may overlap the connector's, never erase it."""
    wall = cost.connector_wall_seconds(5.0, 3.0, remote_cpu=4.0, contention=1.0, injected_waits=1.5, aws_calls=0)
    assert wall == pytest.approx(4.5)


def test_cpu_that_ran_while_the_remotes_answered_is_not_counted_twice_but_never_hides_more_than_the_latency() -> None:
    """A pipelined export maps the next batches while LNB answers the sent ones: that CPU is inside the waits."""
    wall = cost.connector_wall_seconds(
        7.0, 2.0, remote_cpu=5.0, contention=0.3, injected_waits=1.6, aws_calls=0, overlapped=1.2
    )
    assert wall == pytest.approx(2.0 + 1.6 - 1.2)
    capped = cost.connector_wall_seconds(
        7.0, 2.0, remote_cpu=5.0, contention=0.3, injected_waits=1.6, aws_calls=0, overlapped=1.9
    )
    assert capped == pytest.approx(2.0)  # never less than the connector's own CPU time


def test_the_connector_wall_is_never_more_than_the_measured_wall() -> None:
    """Orders overlap their steps: CPU, injected waits and 1 500 round trips summed exceed what was measured."""
    wall = cost.connector_wall_seconds(
        30.75, 5.3, remote_cpu=18.1, contention=2.7, injected_waits=35.2, aws_calls=1_522
    )
    assert wall == 30.75


def test_without_the_sandboxs_cpu_time_the_wall_is_kept_as_measured() -> None:
    wall = cost.connector_wall_seconds(7.0, 1.0, remote_cpu=None, contention=2.0, injected_waits=0.5, aws_calls=10)
    assert wall == 7.0


def test_a_tick_at_the_measured_share_is_the_measured_tick_and_at_zero_the_unchanged_one() -> None:
    results = {name: cost.figures(result) for name, result in _results().items()}
    unchanged, changed = results["stock 0 % changed"], results["stock 1% changed"]
    at_measured = cost.at_share(unchanged, changed, 0.01, 0.01)
    assert at_measured["log_bytes"] == changed["log_bytes"]
    assert at_measured["scenario"] == "stock 1% changed"
    at_zero = cost.at_share(unchanged, changed, 0.01, 0.0)
    assert at_zero["connector_wall_seconds"] == unchanged["connector_wall_seconds"]
    assert at_zero["aws_calls"] == {"dynamodb.PutItem": 2, "dynamodb.Query": 1, "s3.GetObject": 1, "s3.PutObject": 1}
    assert at_zero["published_metrics"] == unchanged["published_metrics"]


def test_changed_records_are_logged_once_whatever_the_tick_rate() -> None:
    """Five minute ticks see what one 5-minute tick sees: the record lines a month are the same; the minute
    cadence adds only each tick's own overhead."""
    results = {name: cost.figures(result) for name, result in _results().items()}
    unchanged, changed = results["stock 0 % changed"], results["stock 1% changed"]
    minute = cost.at_share(unchanged, changed, 0.01, 0.002)
    assert "interpolated" in minute["scenario"]
    per_change_five_minutes = changed["log_bytes"] - unchanged["log_bytes"]
    per_change_minute = 5 * (minute["log_bytes"] - unchanged["log_bytes"])
    assert per_change_minute == pytest.approx(per_change_five_minutes)
    assert minute["connector_wall_seconds"] == pytest.approx(1.1)


def test_an_incremental_minute_tick_lies_between_the_measured_incremental_ticks_not_on_the_full_reads_slope() -> None:
    """A full read's per-change slope (0.25 s of CPU per 1 000 changes here) taken off an incremental tick would
    leave it less than its fixed cost, or nothing: each kind of tick moves between its own two measures."""
    results = {name: cost.figures(result) for name, result in _results().items()}
    plans = cost.plans(results, "stock 1% changed", 0.01)
    minute = plans["stock every minute, incremental reads"]
    tick = next(item for item in minute if item.schedule == "rate(1 minute), incremental")
    assert tick.figures["cpu_seconds"] == pytest.approx(0.04 + (0.3 - 0.04) * 0.2)
    assert tick.figures["connector_wall_seconds"] == pytest.approx(0.3 + (0.7 - 0.3) * 0.2)
    assert tick.figures["log_bytes"] == pytest.approx(1_000 + 500_000 * 0.2)
    assert tick.figures["aws_calls"]["s3.PutObject"] == pytest.approx(0.2)  # one tick in five saves
    assert tick.figures["scenario"] == (
        "stock incremental at 0.20% changed (interpolated from stock incremental 0 % changed)"
    )


def test_without_an_unchanged_incremental_tick_there_is_no_incremental_plan() -> None:
    results = {name: cost.figures(result) for name, result in _results().items()}
    del results["stock incremental 0 % changed"]
    assert list(cost.plans(results, "stock 1% changed", 0.01)) == ["default schedules", "stock every minute"]


def test_metrics_are_billed_for_the_hours_they_are_published_in() -> None:
    hourly = cost.Schedule("stock", "push_stock", "rate(5 minutes)", 8_640, {"published_metrics": [STOCK]})
    daily = cost.Schedule("readiness", "readiness", "daily", 30, {"published_metrics": ["problems{}"]})
    idle = cost.Schedule("orders", "import_orders", "rate(15 minutes)", 2_880, {"published_metrics": []})
    nightly = cost.Schedule("stock", "push_stock", "nightly", 30, {"published_metrics": [STOCK]})
    assert cost.metric_hours([hourly, daily, idle, nightly]) == {STOCK: 720, "problems{}": 30}


def test_a_warm_function_reads_its_secret_once_per_cache_age() -> None:
    minute = cost.Schedule("stock", "push_stock", "rate(1 minute)", 43_200, {})
    nightly = cost.Schedule("stock", "push_stock", "nightly", 30, {})
    orders = cost.Schedule("orders", "import_orders", "rate(15 minutes)", 2_880, {})
    assert cost.secret_reads([minute, nightly, orders]) == 8_640 + 2_880


def test_every_monthly_line_at_default_schedules_and_at_minute_stock() -> None:
    estimate = cost.estimate(_results(), MEMORY, FACTS, "stock 1% changed", 0.01)
    plans = estimate["plans"]
    assert list(plans) == ["default schedules", "stock every minute", "stock every minute, incremental reads"]
    rate = estimate["change_rate"]
    assert (rate["changed_per_hour"], rate["log_bytes_per_change"]) == (12_000, 500)
    per_gb = cost.LOGS_INGESTION_PER_GB + 3 * cost.LOGS_STORAGE_PER_GB_MONTH  # 90-day retention
    assert rate["logs_usd_per_10k_changes"] == pytest.approx(500 * 10_000 / 2**30 * per_gb, abs=1e-6)
    default = {line["item"]: line["usd"] for line in plans["default schedules"]["lines"]}
    assert default["CloudWatch alarms"] == pytest.approx(1.40)
    assert default["KMS (the alarm topic's key)"] == pytest.approx(1.00)
    # The stock heartbeat and `sent` in every hour; the idle orders tick publishes nothing.
    assert default["CloudWatch custom metrics"] == pytest.approx(0.60)
    assert sum(default.values()) == pytest.approx(plans["default schedules"]["total_usd"], abs=1e-3)

    ticks = {line["schedule"]: line for line in plans["stock every minute, incremental reads"]["lambda_lines"]}
    assert ticks["rate(1 minute), incremental"]["invocations"] == 43_200 - 720
    assert ticks["hourly full read"]["invocations"] == 720
    minute = {line["item"]: line["usd"] for line in plans["stock every minute"]["lines"]}
    # Record lines are the same a month at either cadence: the logs grow only by the per-tick overhead.
    ingested_more = minute["CloudWatch Logs ingestion"] - default["CloudWatch Logs ingestion"]
    overhead = (43_200 - 8_640) * (2_000 + cost.LAMBDA_PLATFORM_LOG_BYTES) / 2**30 * cost.LOGS_INGESTION_PER_GB
    assert ingested_more == pytest.approx(overhead, rel=1e-3)
    assert minute["CloudWatch alarms"] == default["CloudWatch alarms"]
    increments = estimate["increments_usd"]
    assert increments["stock every minute"] == pytest.approx(
        plans["stock every minute"]["total_usd"] - plans["default schedules"]["total_usd"], abs=1e-3
    )


def test_the_budgets_judge_the_totals_against_the_goals() -> None:
    estimate = cost.estimate(_results(), MEMORY, FACTS, "stock 1% changed", 0.01)
    checks = {check["budget"]: check for check in _cost_checks(estimate, True)}
    increments, compute = estimate["increments_usd"], estimate["compute_and_logs_increments_usd"]
    for budget, plan, goal in (
        ("stock every minute, full reads", "stock every minute", STOCK_EVERY_MINUTE_USD),
        (
            "stock every minute, incremental reads, hourly full read",
            "stock every minute, incremental reads",
            STOCK_EVERY_MINUTE_INCREMENTAL_USD,
        ),
    ):
        check = checks[
            f"{budget}: Lambda (Lambda-scaled) and CloudWatch Logs, the increment a month over default schedules"
        ]
        assert (check["limit"], check["measured"], check["met"]) == (
            f"≤ ${goal:g}",
            f"${compute[plan]:.2f} (the whole stack's increment: ${increments[plan]:.2f})",
            compute[plan] <= goal,
        )
        # The goal's lines only: the per-tick requests (Scheduler, X-Ray, DynamoDB, S3) make the stack's increment more.
        lines = {
            name: {line["item"]: line["usd"] for line in estimate["plans"][name]["lines"]}
            for name in ("default schedules", plan)
        }
        expected = sum(lines[plan][item] - lines["default schedules"][item] for item in cost.COMPUTE_AND_LOGS_LINES)
        assert compute[plan] == pytest.approx(expected, abs=1e-3)
        assert increments[plan] > compute[plan]
    whole = checks["whole stack, default schedules, a month"]
    total = estimate["plans"]["default schedules"]["total_usd"]
    assert (whole["limit"], whole["met"]) == (f"≤ ${WHOLE_STACK_USD:g}", total <= WHOLE_STACK_USD)
    # Without a measured full-read tick the minute-stock goals are not judged; the whole stack still is.
    assert [check["budget"] for check in _cost_checks(estimate, False)] == ["whole stack, default schedules, a month"]


def test_contention_counts_threads_started_since_from_zero_and_never_goes_negative() -> None:
    before = {1: 2.0, 2: 1.0, 3: 5.0}
    after = {1: 2.5, 2: 1.0, 4: 0.25}  # thread 3 ended (its time is lost: the figure errs low), 4 started
    assert waited_between(before, after) == pytest.approx(0.75)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_a_process_cpu_time_and_its_main_threads_waiting_are_read_from_proc() -> None:
    pid = os.getpid()
    started = process_cpu_seconds(pid)
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert started is not None
    assert (process_cpu_seconds(pid) or 0.0) >= started + 0.03  # clock ticks of 10 ms
    main = threading.get_native_id()
    assert set(threads_waiting(pid, (main,))) <= {main}
    assert process_cpu_seconds(2**31) is None


def test_the_nightly_full_push_is_costed_on_the_median_runs_logs_not_the_first_pushs() -> None:
    """The first full push logs every key (go-live, all new); the nightly one re-sends what LNB holds and
    summarises it. The timed runs after the first are nightly pushes: the cost counts their median, as the time."""
    results = _results()
    results["stock full push"]["log_bytes"] = 28_000_000
    results["stock full push"]["log_bytes_each"] = [28_000_000, 6_000, 6_100, 5_900, 6_000]
    nightly = next(
        item for item in cost.plans(results, "stock 1% changed", 0.01)[cost.DEFAULT] if "nightly" in item.schedule
    )
    assert nightly.figures["log_bytes"] == 6_000
    # A report written before each run's logs were kept: the first run's.
    del results["stock full push"]["log_bytes_each"]
    nightly = next(
        item for item in cost.plans(results, "stock 1% changed", 0.01)[cost.DEFAULT] if "nightly" in item.schedule
    )
    assert nightly.figures["log_bytes"] == 28_000_000


def test_the_stack_pays_for_the_secrets_its_functions_read_not_only_the_one_it_creates() -> None:
    """The brand-owned credentials and api-access secrets are written outside the stack (configure-secret) and
    billed all the same, beside the previous release's secret the stack still holds."""
    from bench.run import stack_facts

    assert stack_facts().secrets == 3


def test_the_stack_is_costed_as_deployed_with_its_schedules_on() -> None:
    """Resources under a condition count only where it holds: the stock-stale alarm (schedules on, as the cost
    assumes) does, the alarm topic's key (AlarmTopicKmsKey empty by default) does not."""
    from bench.run import stack_facts
    from sandbox.template import load_template, resources_of_type

    template = load_template()
    facts = stack_facts()
    assert template["Resources"]["StockStaleAlarm"]["Condition"] == "SchedulesOn"
    assert facts.alarms == len(resources_of_type(template, "AWS::CloudWatch::Alarm"))
    assert resources_of_type(template, "AWS::KMS::Key")
    assert facts.kms_keys == 0


def test_a_scale_run_is_judged_on_one_lambdas_memory_and_time_limit_not_on_the_standard_goals() -> None:
    def measured(name: str, rss: float, scaled: float, memory: int) -> dict[str, Any]:
        return {"scenario": name, "rss_peak_mb": rss, "lambda_seconds": scaled, "memory_mb": memory}

    report = {
        "settings": {"scale": True, "orders": 500},
        "incremental_scenario": "stock 1% changed",
        "scenarios": [
            measured("stock full push", 612, 358.1, 512),
            measured("products full export", 1_030, 31.9, 1769),
            measured("stock full push, nightly again", 813, 901, 512),
        ],
    }
    verdicts = {check["budget"]: (check["limit"], check["measured"], check["met"]) for check in budgets(report)}
    assert verdicts == {
        "stock full push: peak memory": ("< 1024 MB", "RSS 612 MB", True),
        "stock full push: time": ("≤ 15 minutes Lambda-scaled (at its 512 MB)", "358 s", True),
        "products full export: peak memory": ("< 1024 MB", "RSS 1030 MB", False),
        "products full export: time": ("≤ 15 minutes Lambda-scaled (at its 1769 MB)", "32 s", True),
        "stock full push, nightly again: peak memory": ("< 1024 MB", "RSS 813 MB", True),
        "stock full push, nightly again: time": ("≤ 15 minutes Lambda-scaled (at its 512 MB)", "901 s", False),
    }
