"""Answers both of the proxy's ports give the same way: one request per connection, every error
as JSON, and requests that name another host than loopback refused when the port is bound to
loopback (DNS rebinding)."""

from __future__ import annotations

import sys

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from lumen_argus_core.http_errors import error_name
from lumen_argus_core.request_guards import loopback_host_allowed


@web.middleware
async def one_request_per_connection(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer closes its connection (``Connection: close``). aiohttp answers every request
    a client has pipelined on a connection without giving other connections a turn, so 40
    connections of 20,000 requests each starved the service (and its stop) for seconds."""
    response = await handler(request)
    response.force_close()
    return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own error pages (404, 405, 413, ...) as ``{"error": "<reason>"}``; a failure in
    a handler as a JSON 500 and one line on stderr, not a traceback a client can repeat at will."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {name: value for name, value in error.headers.items() if name == "Allow"}
        return web.json_response(
            {"error": error_name(error.reason)}, status=error.status, headers=headers
        )
    except Exception as error:
        print(
            f"lumen-argus: error: {request.method} {request.path}: {type(error).__name__}: {error}",
            file=sys.stderr,
            flush=True,
        )
        return web.json_response({"error": "internal_server_error"}, status=500)


def loopback_host_only(port: int) -> Middleware:
    """A middleware answering 403 ``host_not_allowed`` to a Host other than a loopback name
    for ``port``."""

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not loopback_host_allowed(request.headers.get("Host"), port):
            return web.json_response({"error": "host_not_allowed"}, status=403)
        return await handler(request)

    return check_host
