"""HTTP server of the relay: /health, /api/v1/build and /api/v1/status, loopback only."""

from __future__ import annotations

import json
import signal
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.loopback import bind_listener, listening_line


class _StopRequested(Exception):  # noqa: N818 (a signal, not an error)
    """Raised from a signal handler to leave serve_forever()."""


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
            uptime = round(time.monotonic() - self.server.started, 3)
            self._send_json(
                200,
                {
                    "status": "operational",
                    "service": identity.service,
                    "version": identity.version,
                    "uptime_seconds": uptime,
                },
            )
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


def _stop(signum, frame) -> None:
    raise _StopRequested


def serve(host: str, port: int, identity: BuildInfo) -> int:
    """Serve until SIGTERM or SIGINT, then return 0."""
    listener = bind_listener(host, port)
    server = _RelayServer(listener, identity)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(listening_line(listener), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (_StopRequested, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0
