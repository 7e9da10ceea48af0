"""The sandbox (both simulators and moto) in a process of its own, driven from the benchmark process.

The handlers then run in processes that hold the connector alone (`bench.scenarios`): their CPU time,
RSS high-water mark and tracemalloc peak are the handler's, not the simulators' or moto's, which would
otherwise run in the same process (and under the same GIL) and be counted as the connector's cost.

The child builds the seed, enters a `LocalStack` and answers commands sent over a pipe; `environment` is
the stack's Lambda-like environment, which the handler processes take so they reach the child's endpoints.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# Variables the stack sets as Lambda would; the handlers read them to find moto, the table and the bucket.
_ENVIRONMENT_PREFIXES = ("AWS_", "POWERTOOLS_")
_ENVIRONMENT_NAMES = (
    "PARAMETERS_MAX_AGE",
    "STATE_TABLE",
    "STAGING_BUCKET",
    "SETTINGS_PARAMETER",
    "CREDENTIALS_SECRET_ID",
)


@dataclass(frozen=True)
class Traffic:
    """What the connector asked of the remotes since the last `reset`."""

    lnb_calls: int  # data calls (token requests left out)
    lnb_token_calls: int
    lnb_items: dict[str, int]  # items sent per batch path, e.g. {"/multi/inventory/ean": 1000}
    lnb_calls_by_path: dict[str, int]
    lnb_max_in_flight: int
    fastmag_calls: int
    fastmag_calls_by_endpoint: dict[str, int]


class StackControl:
    """Runs in the child: the commands the benchmark needs, over one `LocalStack`."""

    def __init__(self, models: int, retailers: int, settings_document: dict[str, Any]) -> None:
        from sandbox.seed import build_seed
        from sandbox.stack import LocalStack

        self.seed = build_seed(models=models, retailers=retailers)
        self.stack = LocalStack(self.seed, settings_document=settings_document, orders=0)
        self.stack.__enter__()
        self._next_order_reference = 100_001
        self._stock_bump = 0
        self._stock_changed_at = 0  # the second the last change ended, in Fastmag's (SQLite's) clock

    def close(self) -> None:
        self.stack.__exit__(None, None, None)

    def environment(self) -> dict[str, str]:
        return {
            name: value
            for name, value in os.environ.items()
            if name.startswith(_ENVIRONMENT_PREFIXES) or name in _ENVIRONMENT_NAMES
        }

    def set_latency(self, fastmag_seconds: float, lnb_seconds: float) -> None:
        self.stack.fastmag.faults.latency_seconds = fastmag_seconds
        self.stack.lnb.latency_seconds = lnb_seconds

    def reset(self) -> None:
        self.stack.lnb.clear_requests()
        self.stack.lnb.max_in_flight = 0
        self.stack.fastmag.calls.clear()
        self.stack.fastmag.requests.clear()

    def traffic(self) -> Traffic:
        lnb = self.stack.lnb
        data = lnb.data_calls()
        items: Counter[str] = Counter()
        for request in data:
            if request.items is not None:
                items[request.path] += request.items
        return Traffic(
            lnb_calls=len(data),
            lnb_token_calls=len(lnb.token_calls()),
            lnb_items=dict(items),
            lnb_calls_by_path=dict(Counter(request.path for request in data)),
            lnb_max_in_flight=lnb.max_in_flight,
            fastmag_calls=sum(self.stack.fastmag.calls.values()),
            fastmag_calls_by_endpoint=dict(self.stack.fastmag.calls),
        )

    def sizes(self) -> dict[str, int]:
        """How much the catalogue holds, to name each scenario's item count."""
        seed = self.seed
        return {
            "models": len(seed.products),
            "skus": len(seed.variants),
            "retailers": len(seed.retailers()),
        }

    def lnb_held(self) -> dict[str, int]:
        """Records LNB holds per paginated list the reconciliation reads."""
        lnb = self.stack.lnb
        return {"fabrics": len(lnb.fabrics), "products": len(lnb.products), "retailers": len(lnb.retailers)}

    def page_size(self) -> int:
        return int(self.stack.lnb.page_size)

    def memory_sizes(self) -> dict[str, int]:
        """MemorySize of each function folder, from template.yaml (the function's own, else Globals)."""
        from sandbox.template import load_template, resources_of_type

        template = load_template()
        default = int(template["Globals"]["Function"].get("MemorySize", 128))
        sizes: dict[str, int] = {}
        for function in resources_of_type(template, "AWS::Serverless::Function").values():
            properties = function.get("Properties", {})
            folder = str(properties.get("CodeUri", "")).rstrip("/").rsplit("/", 1)[-1]
            sizes[folder] = int(properties.get("MemorySize", default))
        return sizes

    def change_stock(self, count: int) -> int:
        """Raise the stock of `count` distinct sendable variants by one unit; returns how many changed.

        The variants are spread over the whole catalogue (a fixed stride), and each call picks others, so
        repeated calls keep changing `count` new keys.
        """
        seed = self.seed
        bad = set(seed.anomalies.invalid_ean)
        negative = {(b, c, s) for b, c, s, _ in seed.anomalies.negative_stock}
        candidates = [
            (v.barcode, v.couleur, v.taille)
            for v in seed.variants
            if v.couleur and v.gencod not in bad and (v.barcode, v.couleur, v.taille) not in negative
        ]
        if count <= 0 or not candidates:
            return 0
        # A tick's watermark is the last change's second and the bench reads with no overlap (`> since`): changes
        # made in that same second would be missed, so each call's changes are made in a later second.
        if int(time.time()) <= self._stock_changed_at:
            time.sleep(self._stock_changed_at + 1 - time.time())
        stride = max(len(candidates) // count, 1)
        offset = self._stock_bump % stride
        self._stock_bump += 1
        chosen = candidates[offset::stride][:count]
        changed = 0
        for barcode, colour, size in chosen:
            # One stock row per variant in a counted store is enough to move its total.
            rows = self.stack.fastmag.execute(
                "SELECT rowid FROM stock WHERE barcode = ? AND couleur = ? AND taille = ? "
                "AND codemag IN ('CENTRAL', 'WEB') AND AR = 1 LIMIT 1",
                (barcode, colour, size),
            )
            if rows:
                self.stack.fastmag.execute("UPDATE stock SET stock = stock + 1 WHERE rowid = ?", (rows[0][0],))
                changed += 1
        self._stock_changed_at = int(time.time())
        return changed

    def use_incremental_stock(self) -> None:
        """Stock ticks read only what changed (`fastmag.queries.stock_changed_since`); every row changed long ago."""
        from sandbox.fastmag_sim import STOCK_CHANGED_SINCE_SQL

        self.stack.fastmag.execute("UPDATE stock SET modified = '2020-01-01 00:00:00'")
        self.stack.configure(
            {
                "fastmag": {"queries": {"stock_changed_since": STOCK_CHANGED_SINCE_SQL}},
                "stock": {"incremental_overlap_seconds": 0},
            }
        )

    def add_orders(self, count: int) -> int:
        """`count` new orders in the to-export status, with references never used before."""
        from sandbox.seed import lnb_orders

        orders = lnb_orders(self.seed, count=count, start_reference=self._next_order_reference)
        self._next_order_reference += count
        for order in orders:
            self.stack.lnb.add_order(order)
        return len(orders)


def _serve(connection: Connection, models: int, retailers: int, settings_document: dict[str, Any]) -> None:
    # The simulators' request logs and the stack's own output are not the benchmark's report.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        control = StackControl(models, retailers, settings_document)
    except Exception as error:
        connection.send(("error", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ok", None))
    try:
        while True:
            command, args = connection.recv()
            if command == "close":
                break
            try:
                connection.send(("ok", getattr(control, command)(*args)))
            except Exception as error:
                connection.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        control.close()
        connection.send(("ok", None))


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, every thread, ended ones included) process `pid` has used so far; None where
    /proc is not there.

    The benchmark reads the sandbox process's before and after each handler call: the simulators' and moto's
    own service time, which stands for work the real remotes do on their machines, not for the connector's.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime and stime fields 14 and 15, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_waiting(pid: int, threads: tuple[int, ...] | None = None) -> dict[int, float]:
    """Seconds each thread of `pid` (or only `threads`) has spent ready to run but waiting for a core
    (/proc/<pid>/task/<tid>/schedstat, second field): the shared machine's contention, not work. Empty where the
    kernel does not keep it."""
    waiting: dict[int, float] = {}
    folder = Path(f"/proc/{pid}/task")
    try:
        tasks = threads if threads is not None else tuple(int(task.name) for task in folder.iterdir())
    except OSError:
        return waiting
    for task in tasks:
        try:
            waiting[task] = int((folder / str(task) / "schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return waiting


def waited_between(before: dict[int, float], after: dict[int, float]) -> float:
    """Run-queue waiting added between two `threads_waiting` readings: threads started since count from zero;
    threads ended since are lost (the figure errs low, keeping their time in the connector's)."""
    return sum(max(seconds - before.get(thread, 0.0), 0.0) for thread, seconds in after.items())


class RemoteStack:
    """Parent side: starts the child, keeps its environment, forwards commands."""

    def __init__(self, *, models: int, retailers: int, settings_document: dict[str, Any] | None = None) -> None:
        self._arguments = (models, retailers, settings_document or {})
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> RemoteStack:
        # spawn, not fork: the parent may already hold threads (pytest-xdist), and a forked copy of its
        # memory would blur what the parent's RSS measures.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, *self._arguments), daemon=True)
        self._process.start()
        self._connection = parent
        self._answer()
        self.environment: dict[str, str] = self.call("environment")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._connection is not None:
                self._connection.send(("close", ()))
                self._answer()
        finally:
            if self._process is not None:
                self._process.join(timeout=30)

    def _answer(self) -> Any:
        assert self._connection is not None
        status, value = self._connection.recv()
        if status != "ok":
            raise RuntimeError(f"sandbox process: {value}")
        return value

    @property
    def pid(self) -> int:
        """The sandbox process's id, whose CPU time is the remotes' service time."""
        assert self._process is not None and self._process.pid is not None
        return self._process.pid

    def call(self, command: str, *args: Any) -> Any:
        assert self._connection is not None
        self._connection.send((command, args))
        return self._answer()

    def traffic(self) -> Traffic:
        result: Traffic = self.call("traffic")
        return result
