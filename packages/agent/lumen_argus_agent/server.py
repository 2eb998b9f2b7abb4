"""HTTP server of the relay: /health, /api/v1/build and /api/v1/status, loopback only, every answer
JSON; a bounded number of connections, each with a deadline for its request."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.limits import Limits
from lumen_argus_core.loopback import bind_listener, listening_line
from lumen_argus_core.request_guards import loopback_host_allowed
from lumen_argus_core.status import operational_status
from lumen_argus_core.stop_signals import stop_requested_by_signals

BUSY_BODY = json.dumps({"error": "too_many_connections"}).encode()
BUSY_ANSWER = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(BUSY_BODY)}\r\nRetry-After: 1\r\n\r\n".encode()
    + BUSY_BODY
)


class _RelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listener, identity: BuildInfo, limits: Limits) -> None:
        # The socket is already bound and listening: skip bind/activate.
        super().__init__(listener.getsockname()[:2], _RelayHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.address_family = listener.family
        self.identity = identity
        self.limits = limits
        self.port = listener.getsockname()[1]
        self.started = time.monotonic()
        # A thread per connection, and no more threads than this.
        self._slots = threading.BoundedSemaphore(limits.max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(BUSY_ANSWER)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _DeadlineReader:
    """The request stream, with one deadline for everything read from it (the request line and
    headers): a client that sends a byte now and then cannot hold the connection past it."""

    def __init__(self, stream, connection: socket.socket, seconds: float) -> None:
        self._stream = stream
        self._connection = connection
        self._deadline = time.monotonic() + seconds

    def readline(self, limit: int = -1) -> bytes:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request took longer than the read timeout")
        self._connection.settimeout(remaining)
        return self._stream.readline(limit)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class _RelayHandler(BaseHTTPRequestHandler):
    server: _RelayServer
    server_version = "lumen-argus-agent"
    sys_version = ""
    error_content_type = "application/json"

    def setup(self) -> None:
        self.timeout = self.server.limits.read_timeout_seconds
        super().setup()
        self.rfile = _DeadlineReader(self.rfile, self.connection, self.timeout)

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        if not loopback_host_allowed(self.headers.get("Host"), self.server.port):
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "host_not_allowed"})
            return
        identity = self.server.identity
        path = urllib.parse.urlsplit(self.path).path
        if path == "/health":
            self._send_json(HTTPStatus.OK, {"status": "ready", "version": identity.version})
        elif path == "/api/v1/build":
            self._send_json(HTTPStatus.OK, identity.as_json())
        elif path == "/api/v1/status":
            status = operational_status(identity, self.server.started)
            self._send_json(HTTPStatus.OK, status)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def __getattr__(self, name: str):
        # http.server looks up do_<METHOD> and answers an HTML 501 when there is none: every
        # method but GET is a JSON 405 instead.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self) -> None:
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method_not_allowed"}, {"Allow": "GET"}
        )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, headers too long) as JSON too."""
        self.close_connection = True
        # A request line that did not parse leaves HTTP/0.9, whose answers have no status line.
        if self.request_version in ("", "HTTP/0.9"):
            self.request_version = "HTTP/1.0"
        status = HTTPStatus(code)
        self._send_json(status, {"error": "_".join(status.phrase.lower().split())})

    def _send_json(self, status: HTTPStatus, body: dict, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (inherited signature)
        pass


def serve(host: str, port: int, identity: BuildInfo, limits: Limits) -> int:
    """Serve until SIGTERM or SIGINT, then return 0.

    The server runs in a worker thread; the main thread only waits for a stop request, so a signal
    never lands inside the server's own code (see ``lumen_argus_core.stop_signals``).
    """
    with stop_requested_by_signals() as stop_request:
        listener = bind_listener(host, port)
        server = _RelayServer(listener, identity, limits)
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
