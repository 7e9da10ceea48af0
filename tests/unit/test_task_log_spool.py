"""A run's task log spooled to a temporary file: read back whole and in order, stored as the very file a list of
the same entries makes, safe from several threads, and its file gone once closed."""

from __future__ import annotations

import os
import tempfile
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from connector.jsonl_store import JsonLinesSpool
from connector.task_log import TaskLog, TaskLogEntry, TaskLogStore
from tests.unit.s3_bucket import BUCKET

AT = "2026-11-30T10:00:00.000+00:00"


def lines(count: int) -> list[tuple[str, dict[str, Any]]]:
    """Record lines as `log_record` hands them over: quoted, multi-line and non-ASCII text, structures, blanks."""
    made: list[tuple[str, dict[str, Any]]] = []
    for n in range(count):
        fields: dict[str, Any] = {"event": "record.sent", "key": f"37600001{n:05d}", "old": n - 1, "new": n}
        if n % 3 == 0:
            fields |= {"event": "record.rejected", "reason": f'ligne {n}\n"refusée", é ✓', "http_status": 400}
        if n % 5 == 0:
            fields |= {"what": 'Robe, "Élise"\r\nNOIR/M', "old": {"price": "12.50"}, "new": [1, None, "x"]}
        made.append(("WARNING" if n % 3 == 0 else "INFO", fields))
    return made


def spooled(made: list[tuple[str, dict[str, Any]]]) -> TaskLog:
    log = TaskLog(clock=lambda: AT)
    for level, fields in made:
        log.add(level, fields)
    return log


def open_files_under(folder: Path) -> list[str]:
    """What this process holds open under `folder` (a spool file has no name: `/…/#123 (deleted)`)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # closed in between (the listing's own descriptor)
    return [target for target in targets if target.startswith(str(folder))]


@pytest.fixture
def spool_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_spooled_entries_read_back_identical_and_in_order() -> None:
    made = lines(3000)
    log = spooled(made)
    assert len(log) == 3000
    expected = [TaskLogEntry.from_line(level, fields, AT) for level, fields in made]
    assert list(log.entries) == expected
    log.close()


def test_the_stored_file_is_byte_for_byte_the_file_of_the_same_entries(s3: Any) -> None:
    made = lines(2000)
    log = spooled(made)
    store = TaskLogStore(s3, BUCKET)
    assert store.write("spooled", log, flow="stock") == "runs/spooled.jsonl.gz"
    store.write("listed", [TaskLogEntry.from_line(level, fields, AT) for level, fields in made], flow="stock")
    spooled_file, listed_file = (
        s3.get_object(Bucket=BUCKET, Key=f"runs/{name}.jsonl.gz")["Body"].read() for name in ("spooled", "listed")
    )
    assert spooled_file == listed_file
    assert store.read_with_flow("spooled") == ("stock", list(log.entries))
    log.close()


def test_an_idle_run_has_no_spool_file_and_stores_nothing(s3: Any, spool_folder: Path) -> None:
    log = TaskLog()
    assert (len(log), list(log.entries)) == (0, [])
    assert TaskLogStore(s3, BUCKET).write("idle", log, flow="orders") is None
    assert open_files_under(spool_folder) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")


def test_entries_logged_from_several_threads_are_all_kept_each_thread_in_its_order() -> None:
    log = TaskLog(clock=lambda: AT)
    per_thread = 1500

    def work(thread: int) -> None:
        for n in range(per_thread):
            log.add("INFO", {"event": "order.exported", "key": f"{thread}-{n}"})

    threads = [threading.Thread(target=work, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [entry.key for entry in log.entries]
    assert len(keys) == len(log) == 4 * per_thread
    for thread in range(4):
        assert [key for key in keys if key.startswith(f"{thread}-")] == [f"{thread}-{n}" for n in range(per_thread)]
    log.close()


def test_closing_removes_the_spool_file_and_a_spool_takes_nothing_once_finished(spool_folder: Path) -> None:
    log = spooled(lines(10))
    assert len(open_files_under(spool_folder)) == 1
    assert not list(spool_folder.iterdir())  # nameless: nothing left behind should the process die
    assert len(list(log.entries)) == 10
    with pytest.raises(ValueError, match="closed"):
        log.add("INFO", {"event": "record.sent", "key": "late"})
    log.close()
    assert open_files_under(spool_folder) == []


def test_a_spool_read_back_gives_its_lines_and_closes_with_its_block(spool_folder: Path) -> None:
    with JsonLinesSpool(compresslevel=1) as spool:
        for n in range(100):
            spool.add({"n": n, "text": "é\n"})
        assert list(spool.lines()) == [{"n": n, "text": "é\n"} for n in range(100)]
        assert len(open_files_under(spool_folder)) == 1
    assert open_files_under(spool_folder) == []


def test_the_memory_a_task_log_holds_does_not_grow_with_its_entries() -> None:
    """Held in memory, 20 000 entries took some 20 MB; spooled, a run of 20 000 holds what a run of 2 000 holds."""

    def peak_while_logging(count: int) -> int:
        made = lines(count)
        tracemalloc.start()
        log = spooled(made)
        held = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        log.close()
        return held

    small, large = peak_while_logging(2_000), peak_while_logging(20_000)
    assert large - small < 256 * 1024, (small, large)
