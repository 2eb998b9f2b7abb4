"""How long and how many: the services' limits on connections and sessions, read from the
environment once at startup (each has a default; a bad value stops the service with its name)."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# The largest value each limit takes: a read timeout past an hour protects nothing (and past
# about 24 days no socket takes it), sessions past a year do not end, and a thread or connection
# per client past this many is not a bound.
HOUR = 3600.0
YEAR = 365 * 24 * HOUR
# On Windows the proxy runs on asyncio's selector loop (see lumen_argus.server), whose select()
# watches at most 512 sockets for everything: two ports' connections, turned-away ones lingering,
# and the listeners. 200 per port keeps it well inside.
MOST_CONNECTIONS = 200 if sys.platform == "win32" else 4096


@dataclass(frozen=True)
class Limits:
    """Seconds and counts; the environment variable of each is its name upper-cased after
    ``LUMEN_ARGUS_`` (``read_timeout_seconds`` -> ``LUMEN_ARGUS_READ_TIMEOUT_SECONDS``)."""

    # A connection must deliver a request's headers (and a login its body) within this time of
    # opening or of its previous answer; an idle keep-alive connection is closed after it too.
    read_timeout_seconds: float = field(default=10.0, metadata={"max": HOUR})
    # Connections open at once, per listening port; one more is answered 503 and closed.
    max_connections: int = field(default=64, metadata={"max": MOST_CONNECTIONS})
    # A dashboard session ends after this long without a request...
    session_idle_seconds: float = field(default=30 * 60.0, metadata={"max": YEAR})
    # ...and this long after its login, however busy.
    session_lifetime_seconds: float = field(default=12 * HOUR, metadata={"max": YEAR})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The defaults, with each ``LUMEN_ARGUS_<NAME>`` that is set; ValueError naming the
        variable and what it takes for a value that is not a number in the limit's range."""
        # Any: each value has its own field's type (``whole`` for the int fields).
        values: dict[str, Any] = {}
        for limit in fields(cls):
            variable = f"LUMEN_ARGUS_{limit.name.upper()}"
            text = environ.get(variable, "").strip()
            if not text:
                continue
            values[limit.name] = _in_range(
                variable, text, whole=limit.type == "int", highest=limit.metadata["max"]
            )
        return cls(**values)


def _in_range(variable: str, text: str, whole: bool, highest: float) -> float | int:
    kind = "a whole number" if whole else "a number of seconds"
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not 0 < value <= highest:
        shown = f"{highest:g}"
        raise ValueError(
            f"{variable}={text!r} is not valid: it takes {kind} above 0 and at most {shown}"
            " (or unset it)"
        )
    return value
