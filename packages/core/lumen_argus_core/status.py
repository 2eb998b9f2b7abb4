"""What ``GET /api/v1/status`` answers for every service: operational, which one, for how long."""

from __future__ import annotations

import time
from typing import TypedDict

from lumen_argus_core.build_info import BuildInfo


class OperationalStatus(TypedDict):
    status: str
    service: str
    version: str
    uptime_seconds: float


def operational_status(identity: BuildInfo, started: float) -> OperationalStatus:
    """The status of a service that started at ``started`` (a ``time.monotonic()`` reading).

    A service with more to say adds its fields after these (the proxy: ``auth_required``).
    """
    return {
        "status": "operational",
        "service": identity.service,
        "version": identity.version,
        "uptime_seconds": round(time.monotonic() - started, 3),
    }
