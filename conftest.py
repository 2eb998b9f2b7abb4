"""Fixtures shared by the package test suites: start a service as a real process on loopback,
talk to it, and read the command line's refusals."""

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

LISTENING = re.compile(r"^(?:(?P<label>\w+) )?listening on (?P<host>[^\s]+):(?P<port>\d+)$")
STARTUP_DEADLINE_SECONDS = 20
STOP_DEADLINE_SECONDS = 10
# How long a service given options it refuses (or --version) takes at most to exit.
RUN_DEADLINE_SECONDS = 30
# Where the system cannot say when a service handles SIGTERM (no /proc: macOS), it is taken to be
# starting this long after its launch: true of the proxy (importing aiohttp), while the relay has
# usually announced its port by then.
STARTING_SECONDS = 0.3
# Seen handling SIGTERM, a service is given this long to handle SIGINT too (its next statement;
# /proc cannot tell Python's own SIGINT handler from the service's).
SIGINT_AFTER_SIGTERM_SECONDS = 0.02

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

# The proxy's dashboard password when a test locks it (``start_service("proxy", locked=True)``).
DASHBOARD_PASSWORD = "correct horse battery staple"
PASSWORD_ENV = "LUMEN_ARGUS_DASHBOARD_PASSWORD"


@dataclass(frozen=True)
class Service:
    """How the tests run one service: ``python -m MODULE``, and the command serving it on ports
    the system picks, announced with these labels ("" is the unlabelled line)."""

    module: str
    on_free_ports: tuple[str, ...]
    labels: tuple[str, ...]


# Keyed by the package's folder under packages/ (as ``pyproject_version`` is).
SERVICES = {
    "agent": Service("lumen_argus_agent", ("relay", "--port", "0"), ("",)),
    "proxy": Service(
        "lumen_argus", ("serve", "--port", "0", "--dashboard-port", "0"), ("", "dashboard")
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_stop_signals: the test is about how a service ends on SIGTERM or SIGINT "
        "(skipped on Windows)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
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
    process: subprocess.Popen[str]
    ports: dict[str, int]
    # The dashboard password it was started with (a locked proxy), else None.
    password: str | None = None
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


# (status, headers, parsed JSON body) of one request.
JsonAnswer = tuple[int, Message, Any]


@pytest.fixture
def http() -> Callable[..., JsonAnswer]:
    """http(url, data=None, cookie=None) -> (status, headers, JSON body)."""
    return request_json


# urllib sends through the system's proxy (macOS network settings, the Windows registry, the
# *_proxy variables) when one is set: the services under test are reached directly.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request_json(url: str, data: bytes | None = None, cookie: str | None = None) -> JsonAnswer:
    """(status, headers, parsed JSON body) of one request; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, data=data)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with DIRECT.open(request, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def service_environment(
    locked: bool, limits: Mapping[str, float], env: Mapping[str, str]
) -> dict[str, str]:
    """This process's environment for a service: the dashboard password only when ``locked``,
    each limit as its ``LUMEN_ARGUS_<NAME>`` variable, then ``env``."""
    environment = {name: value for name, value in os.environ.items() if name != PASSWORD_ENV}
    if locked:
        environment[PASSWORD_ENV] = DASHBOARD_PASSWORD
    environment.update(
        {f"LUMEN_ARGUS_{name.upper()}": str(value) for name, value in limits.items()}
    )
    return {**environment, **env}


@pytest.fixture
def start_service() -> Iterator[Callable[..., RunningService]]:
    """start_service("agent" | "proxy", locked=False, **limits): the service serving on ports the
    system picks, once it has announced them; a RunningService, killed after the test if it still
    runs. ``locked`` sets the proxy's dashboard password (``RunningService.password``); each
    limit (``read_timeout_seconds=1``) is set as its ``LUMEN_ARGUS_<NAME>`` variable."""
    started: list[RunningService] = []

    def start(package: str, locked: bool = False, **limits: float) -> RunningService:
        service = SERVICES[package]
        process = subprocess.Popen(
            [sys.executable, "-m", service.module, *service.on_free_ports],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=service_environment(locked, limits, {}),
        )
        running = RunningService(process, {}, DASHBOARD_PASSWORD if locked else None)
        started.append(running)
        announced = threading.Event()

        def read_output(stdout: Iterator[str]) -> None:
            for line in stdout:
                running.output.append(line.rstrip("\n"))
                match = LISTENING.match(line.strip())
                if match:
                    running.ports[match["label"] or ""] = int(match["port"])
                    if all(label in running.ports for label in service.labels):
                        announced.set()
            announced.set()

        assert process.stdout is not None
        running.reader = threading.Thread(target=read_output, args=(process.stdout,), daemon=True)
        running.reader.start()
        announced.wait(STARTUP_DEADLINE_SECONDS)
        if not all(label in running.ports for label in service.labels):
            process.kill()
            process.wait(timeout=STOP_DEADLINE_SECONDS)
            raise AssertionError(f"{service.module} did not announce its ports: {running.output}")
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=10)


def handles_sigterm(pid: int) -> bool | None:
    """Whether process ``pid`` has a SIGTERM handler, read from its caught-signal mask in
    /proc/PID/status (Linux); None where the system has no such file."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return None


@dataclass
class StartingService:
    process: subprocess.Popen[str]
    # True when it was caught at its first stop-signal handler (Linux), long before it could
    # announce a port; False when it was only given STARTING_SECONDS.
    caught_at_first_handler: bool


@pytest.fixture
def starting_service() -> Iterator[Callable[[str], StartingService]]:
    """starting_service("agent" | "proxy") -> the service caught while it starts, its output piped:
    on Linux as soon as it handles SIGTERM (its entry point's first act, before its imports), on
    other systems STARTING_SECONDS after its launch. Killed after the test if it still runs."""
    launched: list[subprocess.Popen[str]] = []

    def launch(package: str) -> StartingService:
        service = SERVICES[package]
        process = subprocess.Popen(
            [sys.executable, "-m", service.module, *service.on_free_ports],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=service_environment(False, {}, {}),
        )
        launched.append(process)
        # Popen returns once the child has exec'd: no handler of this process is left in it.
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while (handled := handles_sigterm(process.pid)) is False and process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{service.module} never handled SIGTERM")
            time.sleep(0.0005)
        time.sleep(STARTING_SECONDS if handled is None else SIGINT_AFTER_SIGTERM_SECONDS)
        return StartingService(process, caught_at_first_handler=handled is True)

    yield launch
    for process in launched:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_DEADLINE_SECONDS)


@pytest.fixture
def run_service() -> Callable[..., subprocess.CompletedProcess[str]]:
    """run_service("agent" | "proxy", *args, env={}) -> the finished ``python -m MODULE ARGS``
    (a refusal, ``--version``), its output as text. No dashboard password unless ``env`` sets
    one."""

    def run(
        package: str, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", SERVICES[package].module, *args],
            env=service_environment(False, {}, env or {}),
            capture_output=True,
            text=True,
            timeout=RUN_DEADLINE_SECONDS,
        )

    return run


@pytest.fixture
def pyproject_version() -> Callable[[str], str]:
    """pyproject_version("agent") -> the version written in packages/agent/pyproject.toml."""

    def read(package_dir: str) -> str:
        path = Path(__file__).parent / "packages" / package_dir / "pyproject.toml"
        version: str = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["version"]
        return version

    return read


@pytest.fixture
def cli_refusal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[object, str]]:
    """cli_refusal(main, *args) -> (exit code, stderr) of a command line ``main`` refuses."""
    # argparse wraps its usage line to the terminal's width: fix it to the width of a pipe.
    monkeypatch.setenv("COLUMNS", "80")

    def refusal(main: Callable[[list[str]], object], *args: str) -> tuple[object, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        return exit_info.value.code, capsys.readouterr().err

    return refusal


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
def raw_http() -> Callable[[int, bytes], bytes]:
    """raw_http(port, request_bytes) -> every byte answered on a connection of its own."""
    return raw_request


class SlowClients:
    """Connections a test holds open to a service, closed after the test."""

    closed_within = staticmethod(closed_within)
    seconds_until_cut = staticmethod(seconds_until_cut)
    read_until_closed = staticmethod(read_until_closed)

    def __init__(self) -> None:
        self.opened: list[socket.socket] = []

    def __call__(self, port: int) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.opened.append(connection)
        return connection


@pytest.fixture
def slow_client() -> Iterator[SlowClients]:
    """slow_client(port) -> a connected socket (closed after the test); see ``closed_within``,
    ``seconds_until_cut`` and ``read_until_closed``."""
    clients = SlowClients()
    yield clients
    for connection in clients.opened:
        connection.close()
