"""The benchmark credits CPU that ran while the remotes answered only where another thread's call was out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from bench.scenarios import _Overlap

ANSWER_SECONDS = 0.3


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(ANSWER_SECONDS)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def slow_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def overlap(monkeypatch: pytest.MonkeyPatch) -> _Overlap:
    from requests.adapters import HTTPAdapter

    monkeypatch.setattr(HTTPAdapter, "send", HTTPAdapter.send)  # undone after the test
    tracker = _Overlap()
    tracker.install()
    return tracker


def _spin(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_cpu_of_the_measured_thread_while_another_threads_call_is_out_is_credited(
    slow_url: str, overlap: _Overlap
) -> None:
    worker = threading.Thread(target=requests.get, args=(slow_url,))
    worker.start()
    time.sleep(0.02)  # the call is out
    _spin(0.15)
    worker.join()
    _spin(0.1)  # after the answer: not overlapped
    assert 0.12 <= overlap.seconds <= 0.2


def test_a_call_the_measured_thread_waits_for_itself_is_not_overlap(slow_url: str, overlap: _Overlap) -> None:
    requests.get(slow_url)
    _spin(0.1)
    assert overlap.seconds < 0.02


def test_waiting_idle_while_another_thread_calls_is_not_credited(slow_url: str, overlap: _Overlap) -> None:
    worker = threading.Thread(target=requests.get, args=(slow_url,))
    worker.start()
    worker.join()  # blocked, no CPU
    assert overlap.seconds < 0.02
