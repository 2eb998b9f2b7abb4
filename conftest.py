"""Fixtures shared by the package test suites: start a service as a real process on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LISTENING = re.compile(r"^(?:(?P<label>\w+) )?listening on (?P<host>[^\s]+):(?P<port>\d+)$")
STARTUP_DEADLINE_SECONDS = 20
STOP_DEADLINE_SECONDS = 10

STOP_SIGNALS_CANNOT_BE_SENT = sys.platform == "win32"
NO_STOP_SIGNALS_REASON = (
    "Windows cannot send a service SIGTERM or SIGINT: Popen.send_signal(SIGTERM) is "
    "TerminateProcess (no handler runs, exit code 1) and SIGINT exists only as a Ctrl-C sent to "
    "a whole console"
)
# A test that drops a connection it did not read from, or reads one the service dropped, sees a
# reset: ECONNRESET on Linux and macOS; on Windows WSAECONNRESET or, when its own stack gave up
# on the connection first, WSAECONNABORTED.
CONNECTION_DROPPED = (ConnectionResetError, ConnectionAbortedError)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_stop_signals: the test is about how a service ends on SIGTERM or SIGINT "
        "(skipped on Windows)",
    )


def pytest_collection_modifyitems(items):
    if not STOP_SIGNALS_CANNOT_BE_SENT:
        return
    for item in items:
        if item.get_closest_marker("needs_stop_signals"):
            item.add_marker(pytest.mark.skip(reason=NO_STOP_SIGNALS_REASON))


def skip_without_stop_signals() -> None:
    """Skip the rest of a test that stops a service by signal after checking something else."""
    if STOP_SIGNALS_CANNOT_BE_SENT:
        pytest.skip(f"checked up to its stop, the rest skipped: {NO_STOP_SIGNALS_REASON}")


@dataclass
class RunningService:
    process: subprocess.Popen
    ports: dict[str, int]
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def url(self, path: str, label: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[label]}{path}"

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send a stop signal (SIGTERM or SIGINT) and return the exit code. On Windows the rest of
        the test is skipped: what it checked before the stop still counts."""
        skip_without_stop_signals()
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=STOP_DEADLINE_SECONDS)

    def stop_under_repeated_signals(self, signum: int, pause_seconds: float = 0.005) -> int:
        """Send ``signum`` again and again until the process exits; return its exit code.

        Copies land at every stage of the shutdown, as when a one-file sidecar's bootloader
        forwards a group-wide signal its Python child also got.
        """
        skip_without_stop_signals()
        sent = 0
        while sent < STOP_DEADLINE_SECONDS / pause_seconds:
            if self.process.poll() is not None:
                break
            self.process.send_signal(signum)
            sent += 1
            try:
                return self.process.wait(timeout=pause_seconds)
            except subprocess.TimeoutExpired:
                continue
        return self.process.wait(timeout=STOP_DEADLINE_SECONDS)

    def full_output(self) -> str:
        """Everything the (exited) process printed, once its output has been read to the end."""
        if self.reader is not None:
            self.reader.join(timeout=STOP_DEADLINE_SECONDS)
        return "\n".join(self.output)


@pytest.fixture
def http():
    """http(url, data=None, cookie=None) -> (status, headers, JSON body)."""
    return request_json


# urllib sends through the system's proxy (macOS network settings, the Windows registry, the
# *_proxy variables) when one is set: the services under test are reached directly.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request_json(url: str, data: bytes | None = None, cookie: str | None = None):
    """(status, headers, parsed JSON body) of one request; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, data=data)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with DIRECT.open(request, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


@pytest.fixture
def start_service():
    """start_service(module, *args, env=..., expect=("",)): a RunningService, stopped after."""
    started: list[RunningService] = []

    def start(module: str, *args: str, env: dict[str, str] | None = None, expect=("",)):
        environment = {**os.environ, **(env or {})}
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        service = RunningService(process, {})
        started.append(service)
        announced = threading.Event()

        def read_output() -> None:
            for line in process.stdout:
                service.output.append(line.rstrip("\n"))
                match = LISTENING.match(line.strip())
                if match:
                    service.ports[match["label"] or ""] = int(match["port"])
                    if all(label in service.ports for label in expect):
                        announced.set()
            announced.set()

        service.reader = threading.Thread(target=read_output, daemon=True)
        service.reader.start()
        announced.wait(STARTUP_DEADLINE_SECONDS)
        if not all(label in service.ports for label in expect):
            service.process.kill()
            service.process.wait(timeout=STOP_DEADLINE_SECONDS)
            raise AssertionError(f"{module} did not announce its ports: {service.output}")
        return service

    yield start
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(timeout=10)


@pytest.fixture
def pyproject_version():
    """pyproject_version("agent") -> the version written in packages/agent/pyproject.toml."""

    def read(package_dir: str) -> str:
        path = Path(__file__).parent / "packages" / package_dir / "pyproject.toml"
        return tomllib.loads(path.read_text(encoding="utf-8"))["project"]["version"]

    return read


def raw_request(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` as it is on a new connection to 127.0.0.1:port; everything answered
    until the service closes or resets the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
        except TimeoutError:
            raise
        except OSError:
            # The service dropped the connection before taking all of it (a request line too
            # long): a reset, a broken pipe (macOS) or, from shutdown, "not connected". What it
            # answered before that is still there to read.
            pass
        return read_until_closed(connection)


def read_until_closed(connection: socket.socket) -> bytes:
    """What the peer sends until it closes; a reset ends it like a close."""
    received = b""
    while True:
        try:
            chunk = connection.recv(65536)
        except CONNECTION_DROPPED:
            return received
        if not chunk:
            return received
        received += chunk


def closed_within(connection: socket.socket, seconds: float) -> bool:
    """True when the peer closes ``connection`` (or resets it) within ``seconds``."""
    connection.settimeout(seconds)
    try:
        read_until_closed(connection)
    except TimeoutError:
        return False
    return True


def seconds_until_cut(
    connection: socket.socket, pieces: list[bytes], pause: float = 0.3, give_up: float = 4.0
) -> float:
    """Send ``pieces`` one every ``pause`` seconds (the last one again and again) until the peer
    closes ``connection``; the seconds that took, or ``give_up`` when it never did."""
    started = time.monotonic()
    connection.settimeout(pause)
    sent = 0
    while time.monotonic() - started < give_up:
        try:
            connection.sendall(pieces[min(sent, len(pieces) - 1)])
            sent += 1
            if connection.recv(4096) == b"":
                break
        except TimeoutError:
            continue
        except OSError:
            break
    return min(time.monotonic() - started, give_up)


@pytest.fixture
def raw_http():
    """raw_http(port, request_bytes) -> every byte answered on a connection of its own."""
    return raw_request


@pytest.fixture
def slow_client():
    """slow_client(port) -> a connected socket (closed after the test); see ``closed_within``
    and ``seconds_until_cut``."""
    opened: list[socket.socket] = []

    def connect(port: int) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        opened.append(connection)
        return connection

    connect.closed_within = closed_within
    connect.seconds_until_cut = seconds_until_cut
    yield connect
    for connection in opened:
        connection.close()
