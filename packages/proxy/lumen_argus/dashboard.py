"""The dashboard application: build and status endpoints behind an optional password."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from aiohttp import web
from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.status import operational_status

SESSION_COOKIE = "lumen_argus_session"
PROTECTED_PREFIX = "/api/v1/"

IDENTITY = web.AppKey("identity", BuildInfo)
STARTED = web.AppKey("started", float)


class SessionStore:
    """Sessions opened by a correct password. Only token digests are kept in memory."""

    def __init__(self, password: str | None) -> None:
        self._password = password.encode() if password is not None else None
        self._token_digests: set[str] = set()

    @property
    def required(self) -> bool:
        return self._password is not None

    def password_matches(self, candidate: str) -> bool:
        if self._password is None:
            return False
        return hmac.compare_digest(candidate.encode(), self._password)

    def open(self) -> str:
        token = secrets.token_urlsafe(32)
        self._token_digests.add(_digest(token))
        return token

    def is_valid(self, token: str | None) -> bool:
        return bool(token) and _digest(token) in self._token_digests


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


SESSIONS = web.AppKey("sessions", SessionStore)


@web.middleware
async def require_session(request: web.Request, handler):
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


async def login(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    if not sessions.required:
        return web.json_response({"error": "no_password_configured"}, status=400)
    form = await request.post()
    candidate = form.get("password")
    if not isinstance(candidate, str) or not sessions.password_matches(candidate):
        return web.json_response({"error": "invalid_password"}, status=401)
    response = web.json_response({"status": "ok"})
    response.set_cookie(SESSION_COOKIE, sessions.open(), httponly=True, samesite="Strict", path="/")
    return response


def create_dashboard(identity: BuildInfo, password: str | None) -> web.Application:
    app = web.Application(middlewares=[require_session])
    app[IDENTITY] = identity
    app[STARTED] = time.monotonic()
    app[SESSIONS] = SessionStore(password)
    app.router.add_get("/api/v1/build", build)
    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/login", login)
    return app
