"""How long and how many: the services' limits on connections and sessions, read from the
environment once at startup (each has a default; a bad value stops the service with its name)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Seconds and counts; the environment variable of each is its name upper-cased after
    ``LUMEN_ARGUS_`` (``read_timeout_seconds`` -> ``LUMEN_ARGUS_READ_TIMEOUT_SECONDS``)."""

    # A connection must deliver a request's headers (and a login its body) within this time of
    # opening or of its previous answer; an idle keep-alive connection is closed after it too.
    read_timeout_seconds: float = 10.0
    # Connections open at once, per listening port; one more is answered 503 and closed.
    max_connections: int = 64
    # A dashboard session ends after this long without a request...
    session_idle_seconds: float = 30 * 60.0
    # ...and this long after its login, however busy.
    session_lifetime_seconds: float = 12 * 60 * 60.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The defaults, with each ``LUMEN_ARGUS_<NAME>`` that is set; ValueError naming the
        variable and what it takes for a value that is not a positive number."""
        values = {}
        for limit in fields(cls):
            variable = f"LUMEN_ARGUS_{limit.name.upper()}"
            text = environ.get(variable, "").strip()
            if not text:
                continue
            values[limit.name] = _positive(variable, text, whole=limit.type == "int")
        return cls(**values)


def _positive(variable: str, text: str, whole: bool) -> float | int:
    kind = "a whole number" if whole else "a number of seconds"
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{variable}={text!r} is not valid: it takes {kind} above 0 (or unset it)")
    return value
