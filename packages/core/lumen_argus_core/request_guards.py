"""What a loopback service refuses from a hostile web page: a ``Host`` that is not loopback (DNS
rebinding), a login sent from another site, and password guessing (``LoginThrottle``)."""

from __future__ import annotations

import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable

from lumen_argus_core.loopback import is_loopback

# Sec-Fetch-Site values of a request a page of the service itself (or the user) started.
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a Host header or URL authority (``[::1]:8081``, ``localhost``); the
    port is None when absent; None when the value is not a host."""
    try:
        parsed = urllib.parse.urlsplit(f"//{value}")
        host, port = parsed.hostname, parsed.port
    except ValueError:
        return None
    if not host or parsed.username is not None or parsed.password is not None or parsed.path:
        return None
    return host, port


def loopback_host_allowed(host_header: str | None, port: int) -> bool:
    """True when a request to a loopback service on ``port`` names it as a loopback host:
    ``127.0.0.1``, ``localhost`` or ``[::1]`` (any 127.0.0.0/8 address) with that port, or with no
    port only when ``port`` is 80. A page on ``evil.example`` that rebinds its name to 127.0.0.1
    still sends ``Host: evil.example:PORT`` and is refused."""
    parts = split_host(host_header.strip()) if host_header else None
    if parts is None:
        return False
    host, given_port = parts
    return is_loopback(host) and (given_port if given_port is not None else 80) == port


def cross_site_reason(
    origin: str | None, fetch_site: str | None, host_header: str | None
) -> str | None:
    """Why a state-changing request (a login, a logout) looks sent by another site, or None.

    A browser says where a request comes from: ``Sec-Fetch-Site`` other than same-origin or none
    (typed by the user), or an ``Origin`` that is not this service (``http://`` + its Host).
    Clients that send neither (curl, an app's HTTP library) are not browsers and pass.
    """
    if fetch_site is not None and fetch_site.strip().lower() not in SAME_SITE_FETCHES:
        return f"Sec-Fetch-Site is {fetch_site.strip()!r}"
    if origin is None:
        return None
    # The services speak plain HTTP: their own pages' origin is http://HOST[:PORT].
    parsed = urllib.parse.urlsplit(origin.strip())
    origin_parts = split_host(parsed.netloc) if parsed.scheme == "http" else None
    own_parts = split_host(host_header.strip()) if host_header else None
    if (
        origin_parts is None
        or own_parts is None
        or _with_port(origin_parts) != _with_port(own_parts)
    ):
        return f"Origin {origin.strip()!r} is not this service"
    return None


def _with_port(parts: tuple[str, int | None]) -> tuple[str, int]:
    host, port = parts
    return host, 80 if port is None else port


class LoginThrottle:
    """Failed logins cost time: after ``free_failures`` failures in a row a client must wait
    ``first_delay`` seconds, doubled on every further failure up to ``max_delay``; and the same
    across all clients together after ``overall_free_failures``, so guessing from many addresses
    is slowed too. While a wait runs every login (the right password too) is refused with the
    seconds left. A success clears the client's count; a count untouched for ``forget_after``
    seconds is forgotten. At most ``max_clients`` clients are remembered (the oldest go first).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        free_failures: int = 5,
        overall_free_failures: int = 20,
        first_delay: float = 1.0,
        max_delay: float = 300.0,
        forget_after: float = 900.0,
        max_clients: int = 1024,
    ) -> None:
        self._clock = clock
        self._free_failures = free_failures
        self._overall_free_failures = overall_free_failures
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._forget_after = forget_after
        self._max_clients = max_clients
        # client -> (failures in a row, time of the last failure, refused until)
        self._clients: OrderedDict[str, tuple[int, float, float]] = OrderedDict()
        self._overall: tuple[int, float, float] = (0, 0.0, 0.0)

    def retry_after(self, client: str) -> float:
        """Seconds before ``client`` may try a password again; 0 when it may now."""
        now = self._clock()
        waits = [self._overall[2] - now]
        if client in self._clients:
            waits.append(self._clients[client][2] - now)
        return max(0.0, *waits)

    def failed(self, client: str) -> None:
        now = self._clock()
        self._clients[client] = self._count(self._clients.get(client), now, self._free_failures)
        self._clients.move_to_end(client)
        while len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)
        self._overall = self._count(self._overall, now, self._overall_free_failures)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)

    def _count(
        self, record: tuple[int, float, float] | None, now: float, free: int
    ) -> tuple[int, float, float]:
        failures, last, until = record or (0, now, 0.0)
        if now - last > self._forget_after:
            failures, until = 0, 0.0
        failures += 1
        if failures >= free:
            delay = min(self._max_delay, self._first_delay * 2 ** min(failures - free, 32))
            until = now + delay
        return failures, now, until
