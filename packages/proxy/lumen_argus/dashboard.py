"""The dashboard application: build and status endpoints behind an optional password, with
sessions that end, a login that cannot be guessed at speed or sent from another site."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestPayloadError
from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.limits import Limits
from lumen_argus_core.request_guards import LoginThrottle, cross_site_reason
from lumen_argus_core.status import operational_status

from lumen_argus.http_answers import json_errors, loopback_host_only, one_request_per_connection

SESSION_COOKIE = "lumen_argus_session"
PROTECTED_PREFIX = "/api/v1/"
# Sessions open at once; a login beyond this ends the least recently used one.
MAX_SESSIONS = 32

IDENTITY = web.AppKey("identity", BuildInfo)
STARTED = web.AppKey("started", float)
LIMITS = web.AppKey("limits", Limits)


class SessionStore:
    """Sessions opened by a correct password. Only token digests are kept in memory, each with
    when it was opened and last used: a session ends after ``idle_seconds`` without a request, or
    ``lifetime_seconds`` after its login, or at logout; at most ``max_sessions`` are kept."""

    def __init__(
        self,
        password: str | None,
        idle_seconds: float,
        lifetime_seconds: float,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._password = password.encode() if password is not None else None
        self._idle_seconds = idle_seconds
        self._lifetime_seconds = lifetime_seconds
        self._max_sessions = max_sessions
        self._clock = clock
        # digest -> (opened, last used), least recently used first
        self._sessions: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def required(self) -> bool:
        return self._password is not None

    def __len__(self) -> int:
        return len(self._sessions)

    def password_matches(self, candidate: str) -> bool:
        if self._password is None:
            return False
        return hmac.compare_digest(candidate.encode(), self._password)

    def open(self) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        self._forget_ended(now)
        self._sessions[_digest(token)] = (now, now)
        while len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)
        return token

    def is_valid(self, token: str | None) -> bool:
        """True for a session that has not ended; using it counts as activity."""
        if not token:
            return False
        now = self._clock()
        self._forget_ended(now)
        digest = _digest(token)
        if digest not in self._sessions:
            return False
        opened, _ = self._sessions[digest]
        self._sessions[digest] = (opened, now)
        self._sessions.move_to_end(digest)
        return True

    def close(self, token: str | None) -> bool:
        """End the session of ``token``; False when there was none."""
        if not token:
            return False
        return self._sessions.pop(_digest(token), None) is not None

    def _forget_ended(self, now: float) -> None:
        ended = [
            digest
            for digest, (opened, used) in self._sessions.items()
            if now - used >= self._idle_seconds or now - opened >= self._lifetime_seconds
        ]
        for digest in ended:
            del self._sessions[digest]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


SESSIONS = web.AppKey("sessions", SessionStore)
THROTTLE = web.AppKey("throttle", LoginThrottle)


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    if (
        sessions.required
        and request.path.startswith(PROTECTED_PREFIX)
        and not sessions.is_valid(request.cookies.get(SESSION_COOKIE))
    ):
        return web.json_response({"error": "authentication_required"}, status=401)
    return await handler(request)


async def build(request: web.Request) -> web.Response:
    return web.json_response(request.app[IDENTITY].as_json())


async def status(request: web.Request) -> web.Response:
    body = operational_status(request.app[IDENTITY], request.app[STARTED])
    return web.json_response({**body, "auth_required": request.app[SESSIONS].required})


def _cross_site_refusal(request: web.Request) -> web.Response | None:
    headers = request.headers
    reason = cross_site_reason(
        headers.get("Origin"), headers.get("Sec-Fetch-Site"), headers.get("Host")
    )
    if reason is None:
        return None
    return web.json_response({"error": "cross_origin_request", "reason": reason}, status=403)


async def login(request: web.Request) -> web.Response:
    sessions, throttle = request.app[SESSIONS], request.app[THROTTLE]
    if not sessions.required:
        return web.json_response({"error": "no_password_configured"}, status=400)
    if refusal := _cross_site_refusal(request):
        return refusal
    try:
        form = await asyncio.wait_for(request.post(), request.app[LIMITS].read_timeout_seconds)
    except TimeoutError:
        return web.json_response({"error": "request_timeout"}, status=408)
    except (ValueError, LookupError, AssertionError, BadHttpMessage, RequestPayloadError):
        # An unknown charset, a multipart body without its boundary, a broken chunked body.
        return web.json_response({"error": "unreadable_form"}, status=400)
    # From here to the end nothing awaits: logins sent in parallel are checked against the
    # throttle and counted one after the other, never all checked before any is counted.
    client = request.remote or "unknown"
    if wait := throttle.retry_after(client):
        seconds = math.ceil(wait)
        return web.json_response(
            {"error": "too_many_attempts", "retry_after_seconds": seconds},
            status=429,
            headers={"Retry-After": str(seconds)},
        )
    candidate = form.get("password")
    if not isinstance(candidate, str) or not sessions.password_matches(candidate):
        throttle.failed(client)
        return web.json_response({"error": "invalid_password"}, status=401)
    throttle.succeeded(client)
    response = web.json_response({"status": "ok"})
    response.set_cookie(SESSION_COOKIE, sessions.open(), httponly=True, samesite="Strict", path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    if not sessions.required:
        return web.json_response({"error": "no_password_configured"}, status=400)
    if refusal := _cross_site_refusal(request):
        return refusal
    ended = sessions.close(request.cookies.get(SESSION_COOKIE))
    response = web.json_response({"status": "logged_out" if ended else "no_session"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def create_dashboard(
    identity: BuildInfo,
    password: str | None,
    limits: Limits,
    loopback_port: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The dashboard; with ``loopback_port`` (bound to loopback) only loopback Host values for
    that port are answered."""
    middlewares: list[Middleware] = [one_request_per_connection, json_errors]
    if loopback_port is not None:
        middlewares.append(loopback_host_only(loopback_port))
    app = web.Application(middlewares=[*middlewares, require_session])
    app[IDENTITY] = identity
    app[STARTED] = time.monotonic()
    app[LIMITS] = limits
    app[SESSIONS] = SessionStore(
        password, limits.session_idle_seconds, limits.session_lifetime_seconds, clock=clock
    )
    app[THROTTLE] = LoginThrottle(clock=clock)
    app.router.add_get("/api/v1/build", build)
    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    return app
