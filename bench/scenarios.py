"""The benchmark scenarios, run through the real handlers, and what is measured around each invocation.

Method (also in the report): the simulators and moto run in a process of their own (`bench.remote`); every
handler call of a scenario (warm-ups, timed runs, the memory and profile passes) runs in one worker process of
the scenario's, which holds only the connector: a warm Lambda container, as a scheduled function's calls share
one, where what a run keeps for the next (a snapshot's copy, settings, clients) is there. Its first call loads
settings and builds clients before it is measured. Around the call we take
- wall time (`time.perf_counter`), with the simulators' injected latency;
- the sandbox process's CPU time over the same call (`remote CPU`): the simulators' and moto's service time
  (building a 100 000-row EDIQUERY answer in Python, moto's DynamoDB and S3), which stands for work the real
  remotes do on their own machines; and the time the sandbox's threads and the handler's main thread waited for
  a core of this shared machine (`contention`, from schedstat). The "connector wall" takes both out of the wall
  time (`bench.cost`);
- handler CPU (`time.process_time`: every thread of this process, so the LNB batch threads count too);
- RSS high-water mark (`VmHWM`, reset after the warm-up through `/proc/self/clear_refs`; `ru_maxrss` where
  that is not available): the figure Lambda reports as "Max Memory Used", imported libraries included;
- the remote calls the simulators recorded, against the fewest the work allows: ⌈items ÷ batch size⌉ per
  batch resource, plus the calls that cannot be batched (order status moves, one Fastmag write per order).
Each scenario is timed `runs` times (5 by default, 1 in the CI smoke run), each run prepared like the first,
and reported by the medians. A further, "memory" pass repeats the same work under `tracemalloc` (which slows
Python down, so the timed runs give the times) and takes its peak of Python allocations.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import json
import math
import multiprocessing
import multiprocessing.pool
import os
import pstats
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cost import connector_wall_seconds
from bench.remote import RemoteStack, Traffic, process_cpu_seconds, threads_waiting, waited_between
from connector import services
from connector.config import load_settings
from sandbox.handlers import ROOT, FakeLambdaContext, handler_module

_HWM = re.compile(r"VmHWM:\s+(\d+)\s+kB")
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Work:
    """What one scenario must do at the least: items per batch resource and calls that cannot be batched."""

    items: dict[str, int] | None = None  # None: every item the flow sent was needed (a full export)
    lnb_single_calls: int = 0
    fastmag_calls: int = 1


@dataclass
class Scenario:
    name: str
    function: str  # folder under functions/
    event: str  # sample event under events/
    prepare: Callable[[RemoteStack], Work] = lambda _: Work()
    # The memory pass must do the same work again: e.g. `full` for a first export, a new 1 % change.
    repeat_changes: dict[str, Any] = field(default_factory=dict)
    trace: bool = True  # tracemalloc makes Python several times slower: off for the longest scenarios
    profile: bool = False  # a cProfile pass, its top cumulative times in the report
    setup: Callable[[RemoteStack], None] | None = None  # once, before the scenario's first run
    warm_up: int = 0  # untimed invocations after `setup` (e.g. the ticks that set a watermark)
    note: str = ""


@dataclass
class Invocation:
    status: str
    counters: dict[str, int]
    wall_seconds: float
    cpu_seconds: float
    rss_peak_mb: float
    log_bytes: int
    log_lines: dict[str, int]
    aws_calls: dict[str, int]
    profile: list[dict[str, Any]]
    remote_cpu_seconds: float | None
    contention_seconds: float
    published_metrics: list[str]
    traffic: Traffic
    ledger_calls: int = 0
    overlapped_cpu_seconds: float = 0.0


@dataclass
class Result:
    scenario: str
    function: str
    note: str
    status: str
    counters: dict[str, int]
    items: int  # Fastmag rows read
    sent: int  # records sent to LNB (a price row may become several LNB price records)
    lnb_calls: int
    lnb_calls_min: int
    lnb_calls_by_path: dict[str, int]
    lnb_items_by_path: dict[str, int]
    lnb_max_in_flight: int
    fastmag_calls: int
    fastmag_calls_min: int
    runs: int
    wall_seconds: float  # median of the runs, as the CPU time and the RSS peak
    wall_seconds_each: list[float]
    wall_lower_bound_seconds: float
    cpu_seconds: float
    cpu_seconds_each: list[float]
    rss_peak_mb: float
    tracemalloc_peak_mb: float | None
    items_per_second: float
    log_bytes: int  # what the handler logged (CloudWatch Logs ingests it), first run
    # Each timed run's: a full push after the first re-sends what LNB holds (the nightly), summarised, not logged
    # record by record; the cost counts the median, as it does the time.
    log_bytes_each: list[int]
    log_lines: dict[str, int]  # lines per `event`
    aws_calls: dict[str, int]  # AWS API calls by `service.Operation`, first run
    profile: list[dict[str, Any]]  # top cumulative times of a cProfile pass, when profiled
    # The sandbox process's CPU time during the call (None where it cannot be read), the latency the simulators
    # injected into the calls made, and the wall time with the first taken out (bench.cost.connector_wall_seconds).
    remote_cpu_seconds: float | None = None
    contention_seconds: float = 0.0  # the sandbox's threads and the handler's main thread waiting for a core
    overlapped_cpu_seconds: float = 0.0  # the handler's main thread's CPU while other threads' calls were out
    injected_wait_seconds: float = 0.0
    connector_wall_seconds: float = 0.0
    connector_wall_seconds_each: list[float] = field(default_factory=list)
    published_metrics: list[str] = field(default_factory=list)  # custom metrics (EMF) the first run published
    ledger_calls: int = 0  # of the AWS calls, those on the order ledger's items (first run)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rss_peak_reset() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _rss_peak_mb(reset_worked: bool) -> float:
    if reset_worked:
        match = _HWM.search(_STATUS.read_text())
        if match:
            return int(match.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _AwsCalls:
    """Counts the AWS API calls of this process by `service.Operation` (botocore's one send path)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.ledger = 0  # the calls on the order ledger's items (`ORDER#…`, `ORDERS#…`), apart from the run's own

    def zero(self) -> None:
        self.counts.clear()
        self.ledger = 0

    def install(self) -> None:
        from botocore.endpoint import Endpoint

        send = Endpoint.make_request
        counts = self.counts

        def counted(endpoint: Endpoint, operation_model: Any, request_dict: Any) -> Any:
            counts[f"{operation_model.service_model.endpoint_prefix}.{operation_model.name}"] += 1
            body = request_dict.get("body")
            if isinstance(body, bytes) and (b'"ORDER#' in body or b'"ORDERS#' in body):
                self.ledger += 1
            return send(endpoint, operation_model, request_dict)

        Endpoint.make_request = counted  # type: ignore[method-assign]


class _Overlap:
    """The measuring thread's CPU time spent while another thread of the handler had a remote call in flight:
    work a pipelined flow does while it waits for the remotes (e.g. mapping the next batches while LNB answers
    the sent ones), which the connector wall must not count twice (bench.cost.connector_wall_seconds). A call
    the measuring thread makes itself is waited for, not overlapped: not counted."""

    def __init__(self) -> None:
        self._measured = threading.get_ident()
        self._clock = time.pthread_getcpuclockid(self._measured)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._since = 0.0
        self.seconds = 0.0

    def zero(self) -> None:
        with self._lock:
            self.seconds = 0.0

    def install(self) -> None:
        from requests.adapters import HTTPAdapter

        send = HTTPAdapter.send
        overlap = self

        def tracked(adapter: HTTPAdapter, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == overlap._measured:
                return send(adapter, *args, **kwargs)
            overlap._moved(+1)
            try:
                return send(adapter, *args, **kwargs)
            finally:
                overlap._moved(-1)

        HTTPAdapter.send = tracked  # type: ignore[method-assign]

    def _moved(self, step: int) -> None:
        with self._lock:
            now = time.clock_gettime(self._clock)
            if self._in_flight == 0 and step > 0:
                self._since = now
            self._in_flight += step
            if self._in_flight == 0:
                self.seconds += now - self._since


def _stdout_to(descriptor: int) -> None:
    """Point file descriptor 1 at `descriptor` and close it: the worker serves every call of its scenario."""
    os.dup2(descriptor, 1)
    os.close(descriptor)


@functools.cache
def _installed_hooks() -> tuple[_AwsCalls, _Overlap]:
    """The counters of this worker process, installed by its first call (each call zeroes them)."""
    aws, overlap = _AwsCalls(), _Overlap()
    aws.install()
    overlap.install()
    return aws, overlap


def _log_lines(path: Path) -> tuple[int, dict[str, int], list[str]]:
    """Bytes the handler logged, its lines per `event` (lines without one under "other", the metrics line
    under "metrics"), and the custom metrics its embedded-metric lines published, as `name{dimension=value,…}`."""
    by_event: Counter[str] = Counter()
    published: set[str] = set()
    with path.open("rb") as lines:
        for line in lines:
            try:
                document = json.loads(line)
            except ValueError:
                by_event["other"] += 1
                continue
            if not isinstance(document, dict):
                by_event["other"] += 1
                continue
            if "_aws" in document:
                by_event["metrics"] += 1
                published |= _emf_metrics(document)
                continue
            by_event[str(document.get("event") or "other")] += 1
    return path.stat().st_size, dict(by_event), sorted(published)


def _emf_metrics(document: dict[str, Any]) -> set[str]:
    """The metrics one CloudWatch embedded-metric-format line publishes (CloudWatch bills each name and
    dimension set for every hour it receives a value in)."""
    names = set()
    for directive in document["_aws"].get("CloudWatchMetrics", []):
        for dimensions in directive.get("Dimensions", []) or [[]]:
            where = ",".join(f"{name}={document.get(name)}" for name in sorted(dimensions))
            names |= {f"{metric['Name']}{{{where}}}" for metric in directive.get("Metrics", [])}
    return names


def _top_cumulative(profile: cProfile.Profile, rows: int) -> list[dict[str, Any]]:
    """The `rows` functions with the largest cumulative time, the handler's own frames first."""
    stats = pstats.Stats(profile)
    table = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("/site-packages/")[-1].split("/layers/common/")[-1]
        table.append(
            {
                "function": f"{where}:{line}({name})",
                "calls": calls,
                "own_seconds": round(own, 3),
                "cumulative_seconds": round(cumulative, 3),
            }
        )
    table.sort(key=lambda row: row["cumulative_seconds"], reverse=True)
    return table[:rows]


def _measure(
    environment: dict[str, str],
    function: str,
    event: dict[str, Any],
    trace: bool,
    *,
    profile_rows: int = 0,
    remote_pid: int | None = None,
) -> dict[str, Any]:
    """In the scenario's worker process (its Lambda container, warm after the first call), call the handler once,
    measured."""
    os.environ.update(environment)
    # The handlers log one JSON line per record to stdout as in Lambda: formatting them is part of the cost
    # measured, and their bytes are what CloudWatch Logs would ingest; printing them is not the report.
    log_descriptor, log_name = tempfile.mkstemp(prefix="bench-log-", suffix=".jsonl")
    log_file = Path(log_name)
    _stdout_to(os.open(os.devnull, os.O_WRONLY))
    warnings.simplefilter("ignore")  # Powertools warns that a run published no custom metric
    module = handler_module(function)
    # What an earlier invocation leaves in a warm container: settings read, clients built.
    services.services_for(*load_settings())
    aws, overlap = _installed_hooks()
    aws.zero()
    overlap.zero()
    sys.stdout.flush()
    _stdout_to(log_descriptor)
    gc.collect()
    reset_worked = _rss_peak_reset()
    if trace:
        tracemalloc.start()
    profile = cProfile.Profile() if profile_rows else None
    remote_cpu = None if remote_pid is None else process_cpu_seconds(remote_pid)
    remote_waiting = {} if remote_pid is None else threads_waiting(remote_pid)
    main_thread = (threading.get_native_id(),)
    own_waiting = threads_waiting(os.getpid(), main_thread)
    cpu = time.process_time()
    started = time.perf_counter()
    try:
        if profile is not None:
            profile.enable()
        answer = module.lambda_handler(event, FakeLambdaContext(function))
    except Exception as error:
        answer = {"status": f"failed: {type(error).__name__}: {error}", "counters": {}}
    finally:
        if profile is not None:
            profile.disable()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    remote_after = None if remote_pid is None else process_cpu_seconds(remote_pid)
    contention = waited_between(own_waiting, threads_waiting(os.getpid(), main_thread))
    if remote_pid is not None:
        contention += waited_between(remote_waiting, threads_waiting(remote_pid))
    remote_cpu = None if remote_cpu is None or remote_after is None else remote_after - remote_cpu
    peak = 0.0
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()  # the worker's next call (the profile pass) runs untraced
    rss = _rss_peak_mb(reset_worked)
    sys.stdout.flush()
    log_bytes, log_lines, published = _log_lines(log_file)
    log_file.unlink()
    return {
        "status": str(answer.get("status")),
        "counters": dict(answer.get("counters") or {}),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "rss_peak_mb": rss,
        "tracemalloc_peak_mb": peak,
        "log_bytes": log_bytes,
        "log_lines": log_lines,
        "aws_calls": dict(aws.counts),
        "ledger_calls": aws.ledger,
        "profile": _top_cumulative(profile, profile_rows) if profile is not None else [],
        "remote_cpu_seconds": remote_cpu,
        "contention_seconds": contention,
        "overlapped_cpu_seconds": overlap.seconds,
        "published_metrics": published,
    }


def invoke(
    stack: RemoteStack,
    worker: multiprocessing.pool.Pool,
    scenario: Scenario,
    event: dict[str, Any],
    *,
    trace: bool,
    profile_rows: int = 0,
) -> tuple[Invocation, float]:
    """One handler call in the scenario's worker process; returns the measurements and the tracemalloc peak (MB)."""
    stack.call("reset")
    measured = worker.apply(
        _measure,
        (stack.environment, scenario.function, event, trace),
        {"profile_rows": profile_rows, "remote_pid": stack.pid},
    )
    peak = measured.pop("tracemalloc_peak_mb")
    return Invocation(**measured, traffic=stack.traffic()), peak


def _event(scenario: Scenario, run: str, changes: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "events" / f"{scenario.event}.json").read_text(encoding="utf-8"))
    # Every invocation is a new run: a repeated run id or execution id would be skipped as a duplicate.
    slug = re.sub(r"[^A-Za-z0-9]+", "-", scenario.name).strip("-")
    document.update({"run_id": f"bench-{slug}-{run}-{uuid.uuid4().hex[:8]}", "execution_id": None, **changes})
    return document


def run_scenario(stack: RemoteStack, scenario: Scenario, settings: BenchSettings) -> Result:
    """`settings.runs` timed invocations (each prepared as the first), reported by their medians.

    The calls and items are the first run's: every later run does the same work (a full export again, a new 1 %
    change, new orders), and the smoke test holds the counts to their minimum.
    """
    if scenario.setup is not None:
        scenario.setup(stack)
    # One worker process for every call of the scenario, as a scheduled function's calls share a warm container:
    # what a run keeps for the next (a snapshot's copy, the clients) is there, as in Lambda.
    with multiprocessing.get_context("spawn").Pool(1) as worker:
        for run in range(scenario.warm_up):
            invoke(stack, worker, scenario, _event(scenario, f"warm-up-{run}", {}), trace=False)
        work = scenario.prepare(stack)
        first, _ = invoke(stack, worker, scenario, _event(scenario, "time-1", {}), trace=False)
        timed = [first]
        for run in range(2, settings.runs + 1):
            scenario.prepare(stack)
            event = _event(scenario, f"time-{run}", scenario.repeat_changes)
            again, _ = invoke(stack, worker, scenario, event, trace=False)
            timed.append(again)
        peak: float | None = None
        if settings.trace_memory and scenario.trace:
            scenario.prepare(stack)
            event = _event(scenario, "memory", scenario.repeat_changes)
            _, peak = invoke(stack, worker, scenario, event, trace=True)
        profile: list[dict[str, Any]] = []
        if settings.profile_rows and scenario.profile:
            # cProfile slows every call down: its own pass, whose times are not reported.
            scenario.prepare(stack)
            profiled, _ = invoke(
                stack,
                worker,
                scenario,
                _event(scenario, "profile", scenario.repeat_changes),
                trace=False,
                profile_rows=settings.profile_rows,
            )
            profile = profiled.profile
    traffic = first.traffic
    needed = work.items if work.items is not None else traffic.lnb_items
    lnb_min = sum(math.ceil(count / settings.batch_size) for count in needed.values()) + work.lnb_single_calls
    lower_bound = work.fastmag_calls * settings.fastmag_latency + lnb_min * settings.lnb_latency / settings.concurrency
    items = first.counters.get("read", 0)
    wall = statistics.median(invocation.wall_seconds for invocation in timed)
    waits = [_injected_wait_seconds(invocation.traffic, settings) for invocation in timed]
    connector_walls = [
        connector_wall_seconds(
            invocation.wall_seconds,
            invocation.cpu_seconds,
            remote_cpu=invocation.remote_cpu_seconds,
            contention=invocation.contention_seconds,
            injected_waits=injected,
            overlapped=invocation.overlapped_cpu_seconds,
            aws_calls=sum(invocation.aws_calls.values()),
        )
        for invocation, injected in zip(timed, waits, strict=True)
    ]
    remote_cpus = [invocation.remote_cpu_seconds for invocation in timed]
    return Result(
        scenario=scenario.name,
        function=scenario.function,
        note=scenario.note,
        status=first.status,
        counters=first.counters,
        items=items,
        sent=sum(traffic.lnb_items.values()),
        lnb_calls=traffic.lnb_calls,
        lnb_calls_min=lnb_min,
        lnb_calls_by_path=traffic.lnb_calls_by_path,
        lnb_items_by_path=traffic.lnb_items,
        lnb_max_in_flight=traffic.lnb_max_in_flight,
        fastmag_calls=traffic.fastmag_calls,
        fastmag_calls_min=work.fastmag_calls,
        runs=len(timed),
        wall_seconds=round(wall, 3),
        wall_seconds_each=[round(invocation.wall_seconds, 3) for invocation in timed],
        wall_lower_bound_seconds=round(lower_bound, 3),
        cpu_seconds=round(statistics.median(invocation.cpu_seconds for invocation in timed), 3),
        cpu_seconds_each=[round(invocation.cpu_seconds, 3) for invocation in timed],
        rss_peak_mb=round(statistics.median(invocation.rss_peak_mb for invocation in timed), 1),
        tracemalloc_peak_mb=None if peak is None else round(peak, 1),
        items_per_second=round(items / wall, 1) if wall else 0.0,
        log_bytes=first.log_bytes,
        log_bytes_each=[invocation.log_bytes for invocation in timed],
        log_lines=first.log_lines,
        aws_calls=first.aws_calls,
        ledger_calls=first.ledger_calls,
        profile=profile,
        remote_cpu_seconds=(
            None if None in remote_cpus else round(statistics.median(r for r in remote_cpus if r is not None), 3)
        ),
        contention_seconds=round(statistics.median(invocation.contention_seconds for invocation in timed), 3),
        overlapped_cpu_seconds=round(statistics.median(invocation.overlapped_cpu_seconds for invocation in timed), 3),
        injected_wait_seconds=round(statistics.median(waits), 3),
        connector_wall_seconds=round(statistics.median(connector_walls), 3),
        connector_wall_seconds_each=[round(seconds, 3) for seconds in connector_walls],
        published_metrics=first.published_metrics,
    )


def _injected_wait_seconds(traffic: Traffic, settings: BenchSettings) -> float:
    """The latency the simulators injected into the calls made: Fastmag's serial, LNB's spread over the
    concurrency (token requests included). What the real remotes would make the connector wait, at the least."""
    lnb = (traffic.lnb_calls + traffic.lnb_token_calls) * settings.lnb_latency / settings.concurrency
    return traffic.fastmag_calls * settings.fastmag_latency + lnb


# The seed's catalogue: 8 000 models give 101 519 SKUs.
SKUS_PER_MODEL = 101_519 / 8_000
# A scale run (`--skus`): the two flows whose memory grows with the catalogue, read in pages of this many rows.
SCALE_SCENARIOS = ("stock full push", "products full export")
# A scale run times both full pushes: the first one (go-live: every key new, each logged) and the nightly one (LNB
# holds every key: re-sent and summarised), which the standard run's median of 5 stands for.
SCALE_NIGHTLY = "stock full push, nightly again"
SCALE_PAGE_ROWS = 20_000


@dataclass(frozen=True)
class BenchSettings:
    models: int
    retailers: int
    orders: int
    fastmag_latency: float
    lnb_latency: float
    trace_memory: bool
    runs: int = 5  # timed invocations per scenario, reported by their medians
    only: tuple[str, ...] = ()  # scenario name prefixes to run (all when empty); a scenario needs those before it
    profile_rows: int = 0  # > 0: a cProfile pass of the CPU-heavy scenarios, this many rows of it reported
    batch_size: int = 100
    concurrency: int = 4
    changed_share: float = 0.01
    page_rows: int | None = None  # fastmag.page_rows of the sandbox (None: one query per read, the default)
    scale: bool = False  # a scale run (`--skus`): SCALE_NIGHTLY follows the first full push


def reconcile_scenarios() -> list[Scenario]:
    """Imported here: bench/reconcile.py builds on this module's Scenario and Work."""
    from bench.reconcile import scenarios as reconcile

    return reconcile()


def scenarios(settings: BenchSettings, skus: int) -> list[Scenario]:
    """Every scenario whose handler exists, in the order that builds the state the next one needs."""
    changed = max(round(skus * settings.changed_share), 1)

    def change_stock(stack: RemoteStack) -> Work:
        return Work(items={"/multi/inventory/ean": stack.call("change_stock", changed)})

    def add_orders(stack: RemoteStack) -> Work:
        added: int = stack.call("add_orders", settings.orders)
        # The pages of orders (the simulator says when there are no more), a status move per order; in
        # Fastmag the three look-ups (variants, customers, orders already there), one write per order, and the
        # look-up of the orders just written that proves the lookup finds them (ARCHITECTURE §4).
        page = stack.call("page_size")
        pages = max(-(-added // page), 1)
        return Work(items={}, lnb_single_calls=pages + added, fastmag_calls=4 + added)

    def idle_orders(stack: RemoteStack) -> Work:
        return Work(items={}, lnb_single_calls=1, fastmag_calls=0)

    unchanged = Work(items={})
    listed = [
        Scenario(
            "stock full push",
            "push_stock",
            "schedule_stock_full",
            note="nightly: every SKU",
            trace=False,
            profile=True,
        ),
        *(
            [Scenario(SCALE_NIGHTLY, "push_stock", "schedule_stock_full", note="LNB holds every SKU", trace=False)]
            if settings.scale
            else []
        ),
        Scenario("stock 0 % changed", "push_stock", "schedule_stock", prepare=lambda _: unchanged),
        Scenario(
            f"stock {settings.changed_share:.0%} changed",
            "push_stock",
            "schedule_stock",
            prepare=change_stock,
            note=f"{changed} SKUs changed",
            profile=True,
        ),
        Scenario(
            "stock incremental",
            "push_stock",
            "schedule_stock",
            prepare=change_stock,
            note=f"{changed} SKUs changed, read since Fastmag's watermark",
            setup=lambda stack: stack.call("use_incremental_stock"),
            # The first tick reads the whole stock (no full read yet), the second every variant once (no watermark).
            warm_up=2,
            profile=True,
        ),
        Scenario(
            "stock incremental 0 % changed",
            "push_stock",
            "schedule_stock",
            prepare=lambda _: unchanged,
            note="nothing changed since Fastmag's watermark: the fixed cost of an incremental tick",
            setup=lambda stack: stack.call("use_incremental_stock"),
            warm_up=2,
        ),
        Scenario(
            "products full export",
            "export_products",
            "export_products",
            repeat_changes={"full": True},
            note="first export: every model and fabric",
            profile=True,
        ),
        Scenario(
            "products re-export unchanged",
            "export_products",
            "export_products",
            prepare=lambda _: unchanged,
            trace=False,
        ),
        Scenario(
            "prices full export",
            "export_prices",
            "export_prices",
            repeat_changes={"full": True},
            prepare=lambda _: Work(fastmag_calls=2),
            trace=False,
            profile=True,
        ),
        Scenario(
            "customers full export",
            "export_customers",
            "export_customers",
            repeat_changes={"full": True},
            prepare=lambda _: Work(fastmag_calls=2),  # customers and addresses; extra buyers only when configured
        ),
        Scenario(
            "orders import",
            "import_orders",
            "schedule_orders",
            prepare=add_orders,
            note=f"{settings.orders} orders in the to-export status",
            trace=False,
        ),
        Scenario(
            "orders idle",
            "import_orders",
            "schedule_orders",
            prepare=idle_orders,
            note="no order waiting: the 15-minute tick",
        ),
    ]
    from bench.readiness import readiness_scenarios  # its own module; it imports Scenario from here

    listed += readiness_scenarios()
    listed += reconcile_scenarios()
    return [
        scenario
        for scenario in listed
        if (ROOT / "functions" / scenario.function / "app.py").is_file()
        and (not settings.only or scenario.name.startswith(settings.only))
    ]
