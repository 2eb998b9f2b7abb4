"""Runs the proxy port and the dashboard port until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from aiohttp import web
from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.loopback import bind_listener, listening_line
from lumen_argus_core.stop_signals import POLL_SECONDS, StopRequest, stop_requested_by_signals

from lumen_argus.dashboard import create_dashboard


def create_proxy(identity: BuildInfo) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "version": identity.version})

    app = web.Application()
    app.router.add_get("/health", health)
    return app


async def _serve(
    host: str,
    proxy_port: int,
    dashboard_port: int,
    password: str | None,
    identity: BuildInfo,
    stop_request: StopRequest,
) -> None:
    proxy_listener = bind_listener(host, proxy_port)
    dashboard_listener = bind_listener(host, dashboard_port)
    runners = [
        web.AppRunner(create_proxy(identity), access_log=None),
        web.AppRunner(create_dashboard(identity, password), access_log=None),
    ]
    try:
        for runner, listener in zip(runners, (proxy_listener, dashboard_listener), strict=True):
            await runner.setup()
            await web.SockSite(runner, listener).start()
        print(listening_line(proxy_listener), flush=True)
        print(listening_line(dashboard_listener, "dashboard"), flush=True)
        while not stop_request.is_set():
            await asyncio.sleep(POLL_SECONDS)
    finally:
        for runner in runners:
            await runner.cleanup()


def serve(
    host: str, proxy_port: int, dashboard_port: int, password: str | None, identity: BuildInfo
) -> int:
    """Serve both ports until SIGTERM or SIGINT, then return 0.

    The stop signals are plain handlers installed before the event loop exists, not
    ``loop.add_signal_handler``: that one routes signals through a wakeup fd and puts the default
    action back when the loop closes, so a second copy of the signal (a one-file sidecar gets a
    group-wide signal twice) killed the process or wrote to a closed fd. With a handler already in
    place, ``asyncio.run`` installs no SIGINT handler of its own either.
    """
    with stop_requested_by_signals() as stop_request:
        asyncio.run(_serve(host, proxy_port, dashboard_port, password, identity, stop_request))
    return 0
