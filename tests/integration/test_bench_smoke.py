"""The benchmark at 1 000 SKUs without latency, so `make test` keeps it running; no timing is asserted."""

from __future__ import annotations

import math

from bench.report import markdown
from bench.run import BenchSettings, run_bench

SMALL = BenchSettings(
    models=80, retailers=50, orders=5, fastmag_latency=0.0, lnb_latency=0.0, trace_memory=True, runs=1
)


def test_small_bench_reports_every_scenario_with_the_fewest_calls() -> None:
    report = run_bench(SMALL, cold_start=False)
    results = {result["scenario"]: result for result in report["scenarios"]}
    full, unchanged, changed = (
        results["stock full push"],
        results["stock 0 % changed"],
        results[report["incremental_scenario"]],
    )
    assert report["catalogue"]["skus"] > 1000

    # Nothing changed ⇒ no LNB call; 1 % changed ⇒ ⌈changed ÷ batch⌉ calls; one Fastmag query per stock run.
    assert unchanged["lnb_calls"] == 0
    assert unchanged["counters"]["unchanged"] == full["counters"]["accepted"]
    assert changed["lnb_items_by_path"] == {"/multi/inventory/ean": round(report["catalogue"]["skus"] / 100)}
    assert changed["lnb_calls"] == changed["lnb_calls_min"] == 1
    assert {result["fastmag_calls"] for result in (full, unchanged, changed)} == {1}
    assert full["lnb_calls"] == full["lnb_calls_min"] == math.ceil(full["counters"]["accepted"] / 100)
    # An incremental tick reads only what changed since the watermark, and sends the same changes.
    incremental = results["stock incremental"]
    assert incremental["items"] < changed["items"]
    assert incremental["lnb_items_by_path"] == changed["lnb_items_by_path"]
    assert incremental["fastmag_calls"] == 1
    idle_incremental = results["stock incremental 0 % changed"]
    assert (idle_incremental["items"], idle_incremental["lnb_calls"], idle_incremental["fastmag_calls"]) == (0, 0, 1)
    if "products re-export unchanged" in results:
        assert results["products re-export unchanged"]["lnb_calls"] == 0

    for result in report["scenarios"]:
        assert not result["status"].startswith("failed"), result
        assert result["lnb_calls"] >= result["lnb_calls_min"]
        assert result["rss_peak_mb"] > 0 and result["cpu_seconds"] > 0
    assert changed["tracemalloc_peak_mb"] > 0
    assert full["tracemalloc_peak_mb"] is None  # the longest scenarios are not traced

    # Readiness reads each LNB list once, a call per 500 rows, and writes nothing.
    readiness = results["readiness report"]
    assert readiness["lnb_calls"] == readiness["lnb_calls_min"]
    assert readiness["fastmag_calls"] == readiness["fastmag_calls_min"]
    assert readiness["lnb_items_by_path"] == {}
    reconciled = results["reconcile (no drift)"]
    assert reconciled["counters"]["drift"] == 0
    assert reconciled["lnb_calls"] == reconciled["lnb_calls_min"]
    assert reconciled["fastmag_calls"] == reconciled["fastmag_calls_min"]

    # The order ledger's calls are counted apart from the run's own (run record, lock, lease): ARCHITECTURE §10.
    orders = results["orders import"]
    assert 0 < orders["ledger_calls"] <= 4 * orders["counters"]["read"]

    verdicts = {check["budget"]: check["met"] for check in report["budgets"]}
    assert verdicts["stock 0 %: LNB calls"] is True
    assert verdicts["stock 1 % (full read): LNB calls"] is True
    assert all(check["limit"] for check in report["budgets"] if check["met"] is not None)
    plans = report["cost"]["plans"]
    assert plans["stock every minute"]["lambda_lines"][0]["invocations"] == 43_200
    assert plans["default schedules"]["lambda_lines"][0]["invocations"] == 8_640
    assert plans["default schedules"]["total_usd"] > 0
    # The sandbox's service time is measured and taken out of the connector's wall, never below its CPU.
    for result in (full, unchanged, changed):
        assert result["remote_cpu_seconds"] is not None and result["remote_cpu_seconds"] > 0
        assert result["cpu_seconds"] <= result["connector_wall_seconds"]
    # A stock run publishes the stock staleness heartbeat; an idle orders tick publishes no custom metric.
    assert "pushed{flow=stock,service=connector}" in unchanged["published_metrics"]
    assert results["orders idle"]["published_metrics"] == []
    assert {line["item"] for line in plans["default schedules"]["lines"]} >= {
        "CloudWatch Logs ingestion",
        "CloudWatch alarms",
        "DynamoDB (on demand)",
        "X-Ray",
    }
    table = markdown(report)
    assert "| stock full push |" in table and "| budget | limit | measured | met |" in table
