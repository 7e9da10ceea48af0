"""The benchmark credits CPU that ran while the remotes answered only where another thread's call was out.

The test server answers when the test lets it, not after a time: the checks hold however busy the machine is."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from bench.scenarios import _Overlap


class _Held(BaseHTTPRequestHandler):
    """Answers only once the test lets it: the call stays out for exactly as long as the test needs."""

    arrived = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:
        type(self).arrived.set()
        type(self).release.wait(10)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def held_url() -> Iterator[str]:
    _Held.arrived.clear()
    _Held.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Held)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    _Held.release.set()
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


def _answered_later(url: str) -> threading.Thread:
    """Another thread's call, out until `_Held.release` is set."""
    worker = threading.Thread(target=requests.get, args=(url,))
    worker.start()
    assert _Held.arrived.wait(10)
    return worker


def test_cpu_of_the_measured_thread_while_another_threads_call_is_out_is_credited(
    held_url: str, overlap: _Overlap
) -> None:
    worker = _answered_later(held_url)
    _spin(0.15)
    _Held.release.set()
    worker.join()
    _spin(0.1)  # after the answer: not overlapped
    assert 0.14 <= overlap.seconds <= 0.2


def test_a_call_the_measured_thread_waits_for_itself_is_not_overlap(held_url: str, overlap: _Overlap) -> None:
    _Held.release.set()
    requests.get(held_url)
    _spin(0.1)
    assert overlap.seconds < 0.02


def test_waiting_idle_while_another_thread_calls_is_not_credited(held_url: str, overlap: _Overlap) -> None:
    worker = _answered_later(held_url)
    time.sleep(0.2)  # blocked, no CPU
    _Held.release.set()
    worker.join()
    assert overlap.seconds < 0.02
