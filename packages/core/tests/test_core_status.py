"""The body of GET /api/v1/status every service answers."""

import time

from lumen_argus_core.build_info import BuildInfo
from lumen_argus_core.status import operational_status

IDENTITY = BuildInfo(
    service="gadget",
    version="1.2.3",
    git_commit="unknown",
    built_at="unknown",
    build_id="sha256:unknown",
)


def test_status_names_the_service_and_its_version():
    body = operational_status(IDENTITY, time.monotonic())
    assert list(body) == ["status", "service", "version", "uptime_seconds"]
    assert body["status"] == "operational"
    assert (body["service"], body["version"]) == ("gadget", "1.2.3")


def test_uptime_counts_from_the_start_in_milliseconds():
    before = time.monotonic()
    uptime = operational_status(IDENTITY, before - 2.5)["uptime_seconds"]
    elapsed = time.monotonic() - before
    assert 2.5 <= uptime <= 2.5 + elapsed + 0.001
    assert uptime == round(uptime, 3)
