"""Runs the proxy port and the dashboard port until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import socket
import sys

from aiohttp import web
from aiohttp.typedefs import Middleware
from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.limits import Limits
from lumen_argus_core.loopback import bind_listener, is_loopback, listening_line
from lumen_argus_core.stop_signals import POLL_SECONDS, StopRequest, stop_requested_by_signals

from lumen_argus.connection_guard import ConnectionGuard
from lumen_argus.dashboard import create_dashboard
from lumen_argus.http_answers import json_errors, loopback_host_only, one_request_per_connection

# What a stop waits at most for requests in progress (they are all quick).
SHUTDOWN_SECONDS = 1.0
# asyncio's default loop on Windows (proactor) closes a listening socket for good when a client
# resets its connection before it is accepted (CPython gh-93821): any client that hangs up at once
# would take a port down. The selector loop loses only that connection. Its select() watches at
# most 512 sockets, far more than the default limits let open (None: the platform's default loop).
EVENT_LOOP = asyncio.SelectorEventLoop if sys.platform == "win32" else None


def create_proxy(identity: BuildInfo, loopback_port: int | None = None) -> web.Application:
    """The proxy port's application; with ``loopback_port`` (bound to loopback) only loopback
    Host values for that port are answered."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "version": identity.version})

    middlewares: list[Middleware] = [one_request_per_connection, json_errors]
    if loopback_port is not None:
        middlewares.append(loopback_host_only(loopback_port))
    app = web.Application(middlewares=middlewares)
    app.router.add_get("/health", health)
    return app


def _loopback_port(listener: socket.socket) -> int | None:
    """The port of a listener bound to a loopback address, else None."""
    host, port = listener.getsockname()[:2]
    return port if is_loopback(host) else None


async def _serve(
    host: str,
    proxy_port: int,
    dashboard_port: int,
    password: str | None,
    identity: BuildInfo,
    limits: Limits,
    stop_request: StopRequest,
) -> None:
    proxy_listener = bind_listener(host, proxy_port)
    dashboard_listener = bind_listener(host, dashboard_port)
    apps = [
        create_proxy(identity, _loopback_port(proxy_listener)),
        create_dashboard(identity, password, limits, _loopback_port(dashboard_listener)),
    ]
    # An idle kept-alive connection is closed after the read timeout (aiohttp's default is an
    # hour). At shutdown every connection is dropped first, so nothing is left to wait for.
    runners = [
        web.AppRunner(
            app,
            access_log=None,
            keepalive_timeout=limits.read_timeout_seconds,
            # A body a handler did not read is drained for at most this long (default 10 s).
            lingering_time=limits.read_timeout_seconds,
            shutdown_timeout=SHUTDOWN_SECONDS,
            # No endpoint takes a compressed body: one that does not decompress would fail
            # while aiohttp drains it, with a traceback per request.
            auto_decompress=False,
        )
        for app in apps
    ]
    servers: list[asyncio.Server] = []
    guards: list[ConnectionGuard] = []
    loop = asyncio.get_running_loop()
    try:
        for runner, listener in zip(runners, (proxy_listener, dashboard_listener), strict=True):
            await runner.setup()
            assert runner.server is not None, "AppRunner.setup() makes its server"
            guards.append(ConnectionGuard(limits, runner.server))
            servers.append(await loop.create_server(guards[-1], sock=listener))
        print(listening_line(proxy_listener), flush=True)
        print(listening_line(dashboard_listener, "dashboard"), flush=True)
        while not stop_request.is_set():
            await asyncio.sleep(POLL_SECONDS)
    finally:
        for server in servers:
            server.close()
        for guard in guards:
            guard.abort_all()
        for runner in runners:
            await runner.cleanup()


def serve(
    host: str,
    proxy_port: int,
    dashboard_port: int,
    password: str | None,
    identity: BuildInfo,
    limits: Limits,
) -> int:
    """Serve both ports until SIGTERM or SIGINT, then return 0.

    The stop signals are plain handlers installed before the event loop exists, not
    ``loop.add_signal_handler``: that one routes signals through a wakeup fd and puts the default
    action back when the loop closes, so a second copy of the signal (a one-file sidecar gets a
    group-wide signal twice) killed the process or wrote to a closed fd. With a handler already in
    place, ``asyncio.Runner`` installs no SIGINT handler of its own either.
    """
    with (
        stop_requested_by_signals() as stop_request,
        asyncio.Runner(loop_factory=EVENT_LOOP) as runner,
    ):
        runner.run(
            _serve(host, proxy_port, dashboard_port, password, identity, limits, stop_request)
        )
    return 0
