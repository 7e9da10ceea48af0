"""An HTTP server serving from a daemon thread, for the simulators: started on a free port, stopped quickly."""

from __future__ import annotations

import socketserver
import threading


class BackgroundServer:
    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self.server = server
        # A short poll interval keeps stop() (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=name, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        # server_address is typed for every socket family; these servers are all TCP over IPv4.
        host_and_port: tuple[str, int] = self.server.server_address  # type: ignore[assignment]
        return host_and_port[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
