"""HTTP server of the relay: /health, /api/v1/build and /api/v1/status, loopback only."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.loopback import bind_listener, listening_line
from lumen_argus_core.status import operational_status
from lumen_argus_core.stop_signals import stop_requested_by_signals


class _RelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listener, identity: BuildInfo) -> None:
        # The socket is already bound and listening: skip bind/activate.
        super().__init__(listener.getsockname()[:2], _RelayHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.address_family = listener.family
        self.identity = identity
        self.started = time.monotonic()


class _RelayHandler(BaseHTTPRequestHandler):
    server: _RelayServer
    server_version = "lumen-argus-agent"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        identity = self.server.identity
        if self.path == "/health":
            self._send_json(200, {"status": "ready", "version": identity.version})
        elif self.path == "/api/v1/build":
            self._send_json(200, identity.as_json())
        elif self.path == "/api/v1/status":
            self._send_json(200, operational_status(identity, self.server.started))
        else:
            self._send_json(404, {"error": "not_found"})

    def _send_json(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (inherited signature)
        pass


def serve(host: str, port: int, identity: BuildInfo) -> int:
    """Serve until SIGTERM or SIGINT, then return 0.

    The server runs in a worker thread; the main thread only waits for a stop request, so a signal
    never lands inside the server's own code (see ``lumen_argus_core.stop_signals``).
    """
    with stop_requested_by_signals() as stop_request:
        listener = bind_listener(host, port)
        server = _RelayServer(listener, identity)
        worker = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="relay", daemon=True
        )
        worker.start()
        try:
            print(listening_line(listener), flush=True)
            stop_request.wait()
        finally:
            server.shutdown()
            server.server_close()
    return 0
