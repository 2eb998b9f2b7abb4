"""SIGTERM and SIGINT stop a service with exit code 0, however often and to whom they are sent.

A PyInstaller one-file sidecar is two processes: a bootloader that forwards the signals it gets
to its Python child. A signal sent to the whole process group (a terminal's Ctrl-C, ``timeout``,
most supervisors) therefore reaches the Python process twice, and the second copy can land at any
moment of the shutdown. Three things make that harmless:

- the handler only records the request (no exception raised into whatever code is running, no
  asyncio wakeup fd that a closed loop leaves dangling), so a repeat is a no-op;
- it stays installed for the whole shutdown;
- once the service has stopped, the stop signals are ignored. Python restores the default action
  (death by signal) for every handled signal as the interpreter finalizes, so a late copy would
  otherwise end a process that was about to exit 0.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stop_requested_by_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs; stop signals are ignored after it.

    Enter it before the service announces its ports, and return from the process soon after the
    block: nothing after it can be stopped by SIGTERM or SIGINT any more.
    """
    stop_requested = threading.Event()

    def record_stop_request(signum, frame) -> None:
        stop_requested.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, record_stop_request)
    try:
        yield stop_requested
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def wait_for(stop_requested: threading.Event, poll_seconds: float = 0.2) -> None:
    """Block the main thread until the event is set, waking up to let signal handlers run.

    A bare ``Event.wait()`` is not interrupted by Ctrl-C on Windows; short waits are, everywhere.
    """
    while not stop_requested.wait(poll_seconds):
        pass
