"""The proxy and its dashboard as a real process: endpoints, password auth, refusals (its stop
signals are tested with the relay's, in packages/core/tests/test_core_stop_signals.py)."""

import sys
import urllib.parse

import pytest
from lumen_argus_core.build_info import compute_build_id


@pytest.fixture
def open_proxy(start_service):
    return start_service("proxy")


@pytest.fixture
def locked_proxy(start_service):
    return start_service("proxy", locked=True)


def login(http, proxy, password):
    form = urllib.parse.urlencode({"password": password}).encode()
    return http(proxy.url("/login", "dashboard"), data=form)


def session_cookie(headers):
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    return cookie.split(";", 1)[0]


def test_health_on_the_proxy_port(open_proxy, http, pyproject_version):
    status, _, body = http(open_proxy.url("/health"))
    assert status == 200
    assert body == {"status": "ready", "version": pyproject_version("proxy")}


def test_open_dashboard_on_loopback_reports_build(open_proxy, http, pyproject_version):
    status, _, body = http(open_proxy.url("/api/v1/build", "dashboard"))
    assert status == 200
    assert body == {
        "service": "lumen-argus",
        "version": pyproject_version("proxy"),
        "git_commit": "unknown",
        "build_id": compute_build_id(sys.executable),
        "built_at": "unknown",
        "plugins": [],
    }


def test_status_shape(open_proxy, http, pyproject_version):
    status, _, body = http(open_proxy.url("/api/v1/status", "dashboard"))
    assert status == 200
    assert body["status"] == "operational"
    assert body["version"] == pyproject_version("proxy")
    assert isinstance(body["uptime_seconds"], float | int)


@pytest.mark.parametrize("path", ["/api/v1/build", "/api/v1/status", "/api/v1/anything"])
def test_no_session_is_refused(locked_proxy, http, path):
    status, headers, body = http(locked_proxy.url(path, "dashboard"))
    assert status == 401
    assert headers["Content-Type"].startswith("application/json")
    assert body == {"error": "authentication_required"}


def test_wrong_password_opens_no_session(locked_proxy, http):
    status, headers, body = login(http, locked_proxy, locked_proxy.password + "x")
    assert status == 401
    assert body == {"error": "invalid_password"}
    assert "Set-Cookie" not in headers


def test_right_password_opens_a_session(locked_proxy, http):
    status, headers, _ = login(http, locked_proxy, locked_proxy.password)
    assert status == 200
    cookie = session_cookie(headers)
    status, _, body = http(locked_proxy.url("/api/v1/build", "dashboard"), cookie=cookie)
    assert status == 200
    assert body["build_id"] == compute_build_id(sys.executable)
    status, _, body = http(locked_proxy.url("/api/v1/status", "dashboard"), cookie=cookie)
    assert (status, body["status"]) == (200, "operational")


def test_forged_cookie_is_refused(locked_proxy, http):
    status, _, body = http(
        locked_proxy.url("/api/v1/build", "dashboard"), cookie="lumen_argus_session=forged"
    )
    assert (status, body) == (401, {"error": "authentication_required"})


def test_health_needs_no_session(locked_proxy, http):
    status, _, body = http(locked_proxy.url("/health"))
    assert (status, body["status"]) == (200, "ready")


def test_non_loopback_without_password_refuses_to_start(run_service):
    result = run_service("proxy", "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "without a password" in result.stderr
    assert "LUMEN_ARGUS_DASHBOARD_PASSWORD" in result.stderr
    assert "listening on" not in result.stdout


def test_version_flag(run_service, pyproject_version):
    result = run_service("proxy", "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"lumen-argus {pyproject_version('proxy')}"
