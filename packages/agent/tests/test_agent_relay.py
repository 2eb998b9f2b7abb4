"""The relay as a real process on loopback: endpoints and refusal of other hosts (its stop signals
are tested with the proxy's, in packages/core/tests/test_core_stop_signals.py)."""

import sys

import pytest
from lumen_argus_core.build_info import compute_build_id


@pytest.fixture
def relay(start_service):
    return start_service("agent")


def test_health_reports_ready_and_version(relay, http, pyproject_version):
    status, _, body = http(relay.url("/health"))
    assert status == 200
    assert body == {"status": "ready", "version": pyproject_version("agent")}


def test_build_reports_identity_of_the_running_executable(relay, http, pyproject_version):
    status, headers, body = http(relay.url("/api/v1/build"))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body == {
        "service": "lumen-argus-agent",
        "version": pyproject_version("agent"),
        "git_commit": "unknown",
        "build_id": compute_build_id(sys.executable),
        "built_at": "unknown",
        "plugins": [],
    }


def test_status_is_operational(relay, http, pyproject_version):
    status, _, body = http(relay.url("/api/v1/status"))
    assert status == 200
    assert body["status"] == "operational"
    assert body["version"] == pyproject_version("agent")
    assert body["uptime_seconds"] >= 0


def test_unknown_path_is_404_json(relay, http):
    status, _, body = http(relay.url("/nope"))
    assert (status, body) == (404, {"error": "not_found"})


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::"])
def test_refuses_a_non_loopback_host(run_service, host):
    result = run_service("agent", "relay", "--host", host, "--port", "0")
    assert result.returncode == 2
    assert f"refusing to bind to {host}" in result.stderr
    assert "listening on" not in result.stdout


def test_version_flag(run_service, pyproject_version):
    result = run_service("agent", "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"lumen-argus-agent {pyproject_version('agent')}"
