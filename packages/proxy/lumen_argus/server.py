"""Runs the proxy port and the dashboard port until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web
from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.loopback import bind_listener, listening_line

from lumen_argus.dashboard import create_dashboard


def create_proxy(identity: BuildInfo) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "version": identity.version})

    app = web.Application()
    app.router.add_get("/health", health)
    return app


def _on_stop_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows event loops
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))


async def _serve(
    host: str, proxy_port: int, dashboard_port: int, password: str | None, identity: BuildInfo
) -> None:
    stop = asyncio.Event()
    _on_stop_signals(asyncio.get_running_loop(), stop)
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
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def serve(
    host: str, proxy_port: int, dashboard_port: int, password: str | None, identity: BuildInfo
) -> int:
    """Serve both ports until asked to stop, then return 0."""
    try:
        asyncio.run(_serve(host, proxy_port, dashboard_port, password, identity))
    except KeyboardInterrupt:
        pass
    return 0
