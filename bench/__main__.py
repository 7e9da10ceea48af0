"""`make bench`: every scenario at 100 000 SKUs with injected latency, cold starts, cost; writes the reports."""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench.report import markdown, update_readme, write
from bench.run import BenchSettings, run_bench
from bench.scenarios import SCALE_PAGE_ROWS, SCALE_SCENARIOS, SKUS_PER_MODEL
from sandbox.handlers import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--models", type=int, default=8000, help="catalogue models (8000 ≈ 100 000 SKUs)")
    parser.add_argument(
        "--skus",
        type=int,
        help=(
            "a scale run (`make bench SCALE=…`): about this many SKUs (mapped to models), only the stock full push "
            "and the products full export unless --only says otherwise, read in pages of --page-rows, one timed "
            "run, no profile, memory pass nor cold starts; writes bench/results/scale-<skus>.* and never the README"
        ),
    )
    parser.add_argument("--page-rows", type=int, help="fastmag.page_rows of the run (a scale run: 20000 unless given)")
    parser.add_argument("--retailers", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--fastmag-latency", type=float, default=0.05, help="seconds added to every Fastmag call")
    parser.add_argument("--lnb-latency", type=float, default=0.08, help="seconds added to every LNB call")
    parser.add_argument("--runs", type=int, help="timed runs per scenario, reported by their medians (5; scale: 1)")
    parser.add_argument("--profile-rows", type=int, default=25, help="rows of each cProfile table (0: no profile)")
    parser.add_argument("--only", action="append", default=[], help="run the scenarios named with this prefix")
    parser.add_argument("--no-memory-pass", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--no-cold-start", action="store_true", help="skip import timings and layer size")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    arguments = parser.parse_args()
    scale = arguments.skus is not None
    if scale:
        arguments.models = max(round(arguments.skus / SKUS_PER_MODEL), 1)
        arguments.only = arguments.only or list(SCALE_SCENARIOS)
        arguments.page_rows = arguments.page_rows or SCALE_PAGE_ROWS
        arguments.profile_rows = 0
        arguments.no_memory_pass = arguments.no_cold_start = arguments.no_readme = True
    settings = BenchSettings(
        models=arguments.models,
        retailers=arguments.retailers,
        orders=arguments.orders,
        fastmag_latency=arguments.fastmag_latency,
        lnb_latency=arguments.lnb_latency,
        trace_memory=not arguments.no_memory_pass,
        runs=max(arguments.runs or (1 if scale else 5), 1),
        profile_rows=arguments.profile_rows,
        only=tuple(arguments.only),
        page_rows=arguments.page_rows,
        scale=scale,
    )
    # The handlers log one JSON line per record to stdout, as in Lambda: the cost of formatting them is
    # measured, but they would drown the progress lines, which go to stderr.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    started = time.perf_counter()
    report = run_bench(settings, cold_start=not arguments.no_cold_start, progress=sys.stderr)
    name = f"scale-{arguments.skus}" if scale else "latest"
    json_path, markdown_path = write(report, ROOT / "bench" / "results", name=name)
    table = markdown(report)
    if not arguments.no_readme:
        update_readme(ROOT / "README.md", table)
    print(table, file=sys.stderr)
    print(f"wrote {json_path} and {markdown_path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
