"""Answers both of the proxy's ports give the same way: every error as JSON, and requests that
name another host than loopback refused when the port is bound to loopback (DNS rebinding)."""

from __future__ import annotations

from aiohttp import web
from lumen_argus_core.request_guards import loopback_host_allowed


def error_name(reason: str) -> str:
    """``Method Not Allowed`` -> ``method_not_allowed``."""
    return "_".join(reason.lower().replace("-", " ").split())


@web.middleware
async def json_errors(request: web.Request, handler):
    """aiohttp's own error pages (404, 405, 413, ...) as ``{"error": "<reason>"}``."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {name: value for name, value in error.headers.items() if name == "Allow"}
        return web.json_response(
            {"error": error_name(error.reason)}, status=error.status, headers=headers
        )


def loopback_host_only(port: int):
    """A middleware answering 403 ``host_not_allowed`` to a Host other than a loopback name
    for ``port``."""

    @web.middleware
    async def check_host(request: web.Request, handler):
        if not loopback_host_allowed(request.headers.get("Host"), port):
            return web.json_response({"error": "host_not_allowed"}, status=403)
        return await handler(request)

    return check_host
