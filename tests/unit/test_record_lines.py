"""Record lines are written without the Logger's per-call formatting (observability._RecordLines): each must still
be the JSON line support queries read, masked, escaped and at the logger's level, and anything the fast path does
not reproduce must go through the Logger as before."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector import observability
from connector.keys import FIELDS
from connector.observability import bind_run, log_record, log_to, logger
from tests.conftest import TaskLog

INVOCATION_KEYS = {
    "location",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
}


@dataclass
class LambdaContext:
    function_name: str = "connector-PushStock"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-3:123456789012:function:connector-PushStock"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.fixture(autouse=True)
def run_keys() -> Iterator[None]:
    bind_run(flow="prices", run_id="01JRUN", trigger="schedule")
    try:
        yield
    finally:
        logger.remove_keys(["flow", "run_id", "trigger"])


def through_the_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fast path decline, as for a set-up it does not reproduce: the line goes through Powertools."""
    monkeypatch.setattr(observability._record_lines, "write", lambda *_: False)


def test_the_line_is_the_one_powertools_writes_without_the_invocation_keys(
    task_log: TaskLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_record("record.sent", "PL1|REF-1|NOIR", http_status=200, price_list_code="PL1", old=None)
    log_record("record.rejected", "R-1", reason="refused", level="WARNING", http_status=422, what="Robe")
    through_the_logger(monkeypatch)
    log_record("record.sent", "PL1|REF-1|NOIR", http_status=200, price_list_code="PL1", old=None)
    log_record("record.rejected", "R-1", reason="refused", level="WARNING", http_status=422, what="Robe")
    fast, slow = task_log.lines[:2], task_log.lines[2:]
    for ours, powertools in zip(fast, slow, strict=True):
        assert {k: v for k, v in ours.items() if k != "timestamp"} == {
            k: v for k, v in powertools.items() if k not in INVOCATION_KEYS | {"timestamp"}
        }
        assert ours["timestamp"][:16] == powertools["timestamp"][:16]  # same format, same minute
        assert len(ours["timestamp"]) == len(powertools["timestamp"])
    assert fast[0] == fast[0] | {"level": "INFO", "message": "record.sent PL1|REF-1|NOIR", "service": "connector"}
    assert fast[1]["message"] == "record.rejected R-1: refused"
    # Every field the key history query reads, where the record has it.
    assert {"flow", "run_id", "trigger", "level", "event", "key", "reason", "what", "http_status"} <= set(fast[1])
    assert set(fast[1]) <= set(FIELDS) | {"message", "timestamp", "service"}


def test_the_invocation_keys_stay_on_the_runs_own_lines(task_log: TaskLog) -> None:
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.info("run.finished", extra={"event": "run.finished"})
        log_record("record.sent", "3760000100014", new=5)

    try:
        handler({}, LambdaContext())
    finally:
        logger.remove_keys(INVOCATION_KEYS)
    finished, sent = task_log.lines
    assert finished["function_request_id"] == LambdaContext.aws_request_id
    assert INVOCATION_KEYS - {"xray_trace_id"} <= set(finished)
    assert not INVOCATION_KEYS & set(sent)
    assert (sent["run_id"], sent["key"], sent["new"]) == ("01JRUN", "3760000100014", 5)


def test_emails_are_masked_in_every_value(task_log: TaskLog) -> None:
    log_record(
        "record.rejected",
        "jeanne.durand@example.fr",
        reason="buyers.0.email: paul@ex.co is taken",
        level="WARNING",
        old={"buyers": [{"email": "jeanne.durand@example.fr"}]},
        what="Boutique paul@ex.co",
    )
    [line] = task_log.lines
    assert line["key"] == "j***@example.fr"
    assert line["reason"] == "buyers.0.email: p***@ex.co is taken"
    assert line["old"] == {"buyers": [{"email": "j***@example.fr"}]}
    assert line["what"] == "Boutique p***@ex.co"
    assert "jeanne" not in task_log.text() and "paul@" not in task_log.text()


@given(st.text(), st.text(), st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.none()))
def test_hostile_values_give_one_parseable_line(key: str, what: str, new: Any) -> None:
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        log_record("record.sent", key, what=what, new=new)
    finally:
        logger.registered_handler.setStream(previous)
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # JSON escapes every line break inside a value
    line = json.loads(text)
    assert line["key"] == observability.shorten(observability.mask_email(key))
    assert line["what"] == observability.mask_email(what)
    assert line.get("new") == (observability.mask_email(new) if isinstance(new, str) else new)


def test_the_loggers_level_is_respected(task_log: TaskLog) -> None:
    previous = logger.log_level
    logger.setLevel("WARNING")
    try:
        log_record("record.sent", "quiet")
        log_record("record.rejected", "loud", reason="refused", level="WARNING")
        log_record("price_list.unknown", "PL9", reason="missing", level="ERROR")
    finally:
        logger.setLevel(previous)
    assert [(line["level"], line["key"]) for line in task_log.lines] == [("WARNING", "loud"), ("ERROR", "PL9")]


def test_a_terminal_gets_its_text_lines_through_the_logger() -> None:
    text = io.StringIO()
    with log_to(text, text=True):
        log_record("record.sent", "3760000100045")
    assert text.getvalue().rstrip().endswith(" INFO record.sent 3760000100045") and "{" not in text.getvalue()


def test_a_filter_on_the_logger_is_honoured(task_log: TaskLog) -> None:
    def drop_quiet(record: logging.LogRecord) -> bool:
        return "quiet" not in record.getMessage()

    logger.addFilter(drop_quiet)
    try:
        log_record("record.sent", "quiet")
        log_record("record.sent", "kept")
    finally:
        logger.removeFilter(drop_quiet)
    assert [line["key"] for line in task_log.lines] == ["kept"]


def test_masking_reaches_every_kind_of_json_like_value() -> None:
    class Text(str):
        pass

    value = {
        "buyers": [{"email": "jeanne.durand@example.fr", "age": 3, "vip": True, "rate": 1.5, "none": None}],
        "pair": ("paul@ex.co", 2),
        "proxy": MappingProxyType({"to": "paul@ex.co"}),
        "subclass": Text("paul@ex.co"),
    }
    assert observability.masked(value) == {
        "buyers": [{"email": "j***@example.fr", "age": 3, "vip": True, "rate": 1.5, "none": None}],
        "pair": ["p***@ex.co", 2],
        "proxy": {"to": "p***@ex.co"},
        "subclass": "p***@ex.co",
    }
    assert value["buyers"][0]["email"] == "jeanne.durand@example.fr"  # the payload itself is left as it was


class _CountedWrites(io.StringIO):
    """A stream that counts its writes: a batch of record lines is one write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def counted_stream() -> Iterator[_CountedWrites]:
    stream = _CountedWrites()
    previous = logger.registered_handler.setStream(stream)
    try:
        yield stream
    finally:
        logger.registered_handler.setStream(previous)


def _keys(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["key"] for line in stream.getvalue().splitlines()]


def test_batched_lines_are_written_a_batch_at_a_time_in_order_and_the_rest_on_the_way_out(
    counted_stream: _CountedWrites,
) -> None:
    size = observability._RecordLines.BATCH_LINES
    with observability.record_lines_batched():
        for number in range(size + 5):
            log_record("record.sent", f"K{number}")
        assert counted_stream.writes == 1  # the first full batch
        assert len(_keys(counted_stream)) == size
    assert counted_stream.writes == 2  # the 5 left, on the way out
    assert _keys(counted_stream) == [f"K{number}" for number in range(size + 5)]
    log_record("record.sent", "after")  # outside: written at once, as before
    assert counted_stream.writes == 3


def test_batched_lines_held_when_the_block_raises_are_still_written(counted_stream: _CountedWrites) -> None:
    def send_then_fail() -> None:
        with observability.record_lines_batched():
            log_record("record.sent", "K1")
            log_record("record.rejected", "K2", reason="refused", level="WARNING")
            raise RuntimeError("LNB unreachable")

    with pytest.raises(RuntimeError, match="unreachable"):
        send_then_fail()
    assert _keys(counted_stream) == ["K1", "K2"]


def test_batched_lines_are_the_lines_written_one_by_one(counted_stream: _CountedWrites) -> None:
    def log_both() -> None:
        log_record("record.sent", "PL1|REF-1|NOIR", http_status=200, new="12.50")
        log_record("record.warned", "jeanne.durand@example.fr", reason="no EAN13", level="WARNING", what="Robe")

    log_both()
    one_by_one = counted_stream.getvalue().splitlines()
    counted_stream.seek(0)
    counted_stream.truncate()
    with observability.record_lines_batched():
        log_both()
        assert counted_stream.getvalue() == ""  # held
    batched = counted_stream.getvalue().splitlines()

    def without_time(lines: list[str]) -> list[dict[str, Any]]:
        return [{key: value for key, value in json.loads(line).items() if key != "timestamp"} for line in lines]

    assert len(batched) == 2
    assert without_time(batched) == without_time(one_by_one)


def test_another_threads_lines_are_not_held_by_a_batching_thread(counted_stream: _CountedWrites) -> None:
    import threading

    with observability.record_lines_batched():
        log_record("record.sent", "held")
        worker = threading.Thread(target=log_record, args=("record.sent", "worker"))
        worker.start()
        worker.join()
        assert _keys(counted_stream) == ["worker"]
        with observability.record_lines_batched():  # nested: the outer block writes
            log_record("record.sent", "nested")
        assert _keys(counted_stream) == ["worker"]
    assert _keys(counted_stream) == ["worker", "held", "nested"]


def test_a_stream_changed_while_batching_gets_the_lines_held_for_it_first(counted_stream: _CountedWrites) -> None:
    other = io.StringIO()
    with observability.record_lines_batched():
        log_record("record.sent", "first")
        logger.registered_handler.setStream(other)
        log_record("record.sent", "second")
        assert _keys(counted_stream) == ["first"]
    assert _keys(other) == ["second"]
