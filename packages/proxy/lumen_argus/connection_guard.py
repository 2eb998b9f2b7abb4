"""Connections a slow or greedy client cannot hold: at most ``max_connections`` open per port
(one more is answered 503 and closed), and each must finish sending a request's headers within
``read_timeout_seconds`` of its first byte, or of opening for the first request, or it is closed.

aiohttp itself has no limit on the time a client takes to send its headers: each connection's
protocol (aiohttp's request handler) is wrapped here, and the listening socket is served with
``loop.create_server`` and that wrapper instead of ``web.SockSite``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from lumen_argus_core.limits import Limits

HEADERS_END = b"\r\n\r\n"


def _busy_answer() -> bytes:
    body = json.dumps({"error": "too_many_connections"}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


BUSY_ANSWER = _busy_answer()


class ConnectionGuard:
    """The connections of one listening port."""

    def __init__(self, limits: Limits, make_handler: Callable[[], asyncio.Protocol]) -> None:
        self.limits = limits
        self.make_handler = make_handler
        self.open_connections = 0

    def __call__(self) -> asyncio.Protocol:
        """The protocol of one new connection (the ``protocol_factory`` of ``create_server``)."""
        return _GuardedConnection(self)


class _GuardedConnection(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._handler: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._headers_tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if self._guard.open_connections >= self._guard.limits.max_connections:
            transport.write(BUSY_ANSWER)
            transport.close()
            return
        self._guard.open_connections += 1
        self._handler = self._guard.make_handler()
        self._handler.connection_made(transport)
        self._start_deadline()

    def data_received(self, data: bytes) -> None:
        if self._handler is None:
            return
        if self._deadline is None:
            # The first bytes of the next request on a kept-alive connection.
            self._headers_tail = b""
            self._start_deadline()
        seen = self._headers_tail + data
        if HEADERS_END in seen:
            self._deadline.cancel()
            self._deadline = None
        self._headers_tail = seen[-(len(HEADERS_END) - 1) :]
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._handler is not None else None

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._handler is not None:
            self._guard.open_connections -= 1
            handler, self._handler = self._handler, None
            handler.connection_lost(exc)

    def _start_deadline(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._guard.limits.read_timeout_seconds, self._too_slow)

    def _too_slow(self) -> None:
        self._deadline = None
        if self._transport is not None:
            self._transport.abort()
