"""Connections a slow or greedy client cannot hold: at most ``max_connections`` open per port
(one more is answered 503 and closed), each must finish sending its request's headers within
``read_timeout_seconds`` of opening (a connection carries one request: ``http_answers``), and a
client that stops reading its answer for that long is cut off (reset, so the kernel does not keep
the unsent answer either).

aiohttp itself has no limit on the time a client takes to send its headers or to read its
answers: each connection's protocol (aiohttp's request handler) is wrapped here, and the listening
socket is served with ``loop.create_server`` and that wrapper instead of ``web.SockSite``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Callable
from typing import cast

from lumen_argus_core.limits import Limits

HEADERS_END = b"\r\n\r\n"
# How long a turned-away client is given to read its 503 before the connection is dropped.
REFUSAL_LINGER_SECONDS = 1.0


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
        self.connections: set[_GuardedConnection] = set()

    def __call__(self) -> asyncio.Protocol:
        """The protocol of one new connection (the ``protocol_factory`` of ``create_server``)."""
        if len(self.connections) >= self.limits.max_connections:
            return _TurnedAway()
        return _GuardedConnection(self)

    def abort_all(self) -> None:
        """Drop every open connection at once (at shutdown: nothing is waited for)."""
        for connection in list(self.connections):
            connection.abort()


class _TurnedAway(asyncio.Protocol):
    """Answers 503 and closes once the client has read it (or after a short linger). What the
    client sent is read and dropped: closing with it unread would reset the connection and lose
    the answer."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server's connections are given a Transport (asyncio types the base class).
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._linger = asyncio.get_running_loop().call_later(
            REFUSAL_LINGER_SECONDS, transport.abort
        )
        try:
            transport.write(BUSY_ANSWER)
            if transport.can_write_eof():
                transport.write_eof()
        except OSError:
            # The client is already gone.
            transport.abort()

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        self._transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._linger.cancel()


class _GuardedConnection(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._handler: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._read_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._headers_tail: bytes | None = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._guard.connections.add(self)
        self._handler = self._guard.make_handler()
        self._handler.connection_made(transport)
        self._read_deadline = self._deadline()

    def data_received(self, data: bytes) -> None:
        if self._handler is None:
            return
        if self._headers_tail is not None:
            seen = self._headers_tail + data
            if HEADERS_END in seen:
                # The headers are in; what follows (a body) is the handler's to time.
                if self._read_deadline is not None:
                    self._read_deadline.cancel()
                self._read_deadline = None
                self._headers_tail = None
            else:
                self._headers_tail = seen[-(len(HEADERS_END) - 1) :]
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._handler is not None else None

    def pause_writing(self) -> None:
        # The client has stopped reading: it has the read timeout to start again.
        if self._write_deadline is None:
            self._write_deadline = self._deadline()
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None
        if self._handler is not None:
            self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        for deadline in (self._read_deadline, self._write_deadline):
            if deadline is not None:
                deadline.cancel()
        self._read_deadline = self._write_deadline = None
        self._guard.connections.discard(self)
        if self._handler is not None:
            handler, self._handler = self._handler, None
            handler.connection_lost(exc)

    def abort(self) -> None:
        if self._transport is None:
            return
        connection = self._transport.get_extra_info("socket")
        if connection is not None:
            # Linger 0: the close is a reset, and an answer the client never read is dropped.
            try:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._transport.abort()

    def _deadline(self) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(self._guard.limits.read_timeout_seconds, self.abort)
