"""HTTP server of the relay: /health, /api/v1/build and /api/v1/status, loopback only, every answer
JSON; a bounded number of connections, each with a deadline for its request."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any, cast

from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.http_errors import error_name
from lumen_argus_core.limits import Limits
from lumen_argus_core.loopback import bind_listener, listening_line
from lumen_argus_core.request_guards import loopback_host_allowed
from lumen_argus_core.status import operational_status
from lumen_argus_core.stop_signals import stop_requested_by_signals

# How often the watchdog looks for connections past their deadline.
DEADLINE_CHECK_SECONDS = 0.1
BUSY_BODY = json.dumps({"error": "too_many_connections"}).encode()
BUSY_ANSWER = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(BUSY_BODY)}\r\nRetry-After: 1\r\n\r\n".encode()
    + BUSY_BODY
)

# What socketserver hands a server for each request: a TCP server's is the connection's socket
# (the tuple is a datagram server's).
_Request = socket.socket | tuple[bytes, socket.socket]


class _RelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listener: socket.socket, identity: BuildInfo, limits: Limits) -> None:
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
        self.deadlines = _ConnectionDeadlines()

    def process_request(self, request: _Request, client_address: object) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                cast(socket.socket, request).sendall(BUSY_ANSWER)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: _Request, client_address: object) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: _Request, client_address: object) -> None:
        """A client that reset, hung up or ran out of time is not news; anything else is one line
        on stderr, not a traceback a client can repeat at will."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        print(
            f"lumen-argus-agent: error: {type(error).__name__}: {error}",
            file=sys.stderr,
            flush=True,
        )


class _ConnectionDeadlines:
    """One deadline per connection, kept by one watchdog thread: a connection still open at its
    deadline is shut down, which ends any read or write blocked on it. A per-read socket timeout
    alone would let a client that sends a byte now and then hold a connection for days."""

    def __init__(self) -> None:
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="relay-deadlines", daemon=True)
        self._watchdog.start()

    def add(self, connection: socket.socket, seconds: float) -> None:
        with self._lock:
            self._deadlines[connection] = time.monotonic() + seconds

    def remove(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(connection, None)

    def stop(self) -> None:
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(DEADLINE_CHECK_SECONDS):
            now = time.monotonic()
            with self._lock:
                expired = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
                for connection in expired:
                    del self._deadlines[connection]
            for connection in expired:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _LastLineKept:
    """The request stream, remembering the last line read from it: the headers end at a blank
    line, or, for a request never finished, at the end of the stream."""

    def __init__(self, stream: BufferedIOBase) -> None:
        self._stream = stream
        self.last_line = b""

    def readline(self, limit: int = -1) -> bytes:
        self.last_line = self._stream.readline(limit)
        return self.last_line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _RelayHandler(BaseHTTPRequestHandler):
    server: _RelayServer
    # Set by http.server before it parses a request (its stub does not declare it).
    raw_requestline: bytes
    server_version = "lumen-argus-agent"
    sys_version = ""
    error_content_type = "application/json"

    def setup(self) -> None:
        # One request per connection (HTTP/1.0): the whole connection has the read timeout.
        seconds = self.server.limits.read_timeout_seconds
        self.server.deadlines.add(self.request, seconds)
        super().setup()
        self.connection.settimeout(seconds)
        self._request_stream = _LastLineKept(self.rfile)
        # http.server only calls readline on it (the relay reads no request body).
        self.rfile = cast(BufferedIOBase, self._request_stream)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.deadlines.remove(self.request)

    def parse_request(self) -> bool:
        if len(self.raw_requestline.split()) == 2:
            # A bare "GET /path" line (HTTP/0.9) has no headers to wait for, and its answer would
            # have no status line.
            self.command, self.request_version = "", "HTTP/1.0"
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
            return False
        if not super().parse_request():
            return False
        if self._request_stream.last_line not in (b"\r\n", b"\n"):
            # The headers ended at the end of the stream (a hang-up or the deadline), not at a
            # blank line: the request was never finished, and gets no answer.
            self.close_connection = True
            return False
        return True

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        if self._refused_host():
            return
        identity = self.server.identity
        try:
            # Origin-form only ("/path?query"): an absolute URL names some other host.
            path = urllib.parse.urlsplit(self.path).path if self.path.startswith("/") else None
        except ValueError:
            path = None
        if path is None:
            self.send_error(HTTPStatus.BAD_REQUEST)
            return
        if path == "/health":
            self._send_json(HTTPStatus.OK, {"status": "ready", "version": identity.version})
        elif path == "/api/v1/build":
            self._send_json(HTTPStatus.OK, identity.as_json())
        elif path == "/api/v1/status":
            status = operational_status(identity, self.server.started)
            self._send_json(HTTPStatus.OK, status)
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server looks up do_<METHOD> and answers an HTML 501 when there is none: every
        # method but GET is a JSON 405 instead.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _refused_host(self) -> bool:
        """Answer 403 to a Host that is not a loopback name for this port (DNS rebinding)."""
        hosts = self.headers.get_all("Host") or []
        if len(hosts) == 1 and loopback_host_allowed(hosts[0], self.server.port):
            return False
        self._send_json(HTTPStatus.FORBIDDEN, {"error": "host_not_allowed"})
        return True

    def _method_not_allowed(self) -> None:
        if self._refused_host():
            return
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
        self._send_json(status, {"error": error_name(status.phrase)})

    def _send_json(
        self,
        status: HTTPStatus,
        body: Mapping[str, object],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (inherited signature)
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
            server.deadlines.stop()
            server.server_close()
    return 0
