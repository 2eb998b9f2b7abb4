"""SIGTERM and SIGINT stop a service with exit code 0, however often and to whom they are sent.

A PyInstaller one-file sidecar is two processes: a bootloader that forwards the signals it gets
to its Python child. A signal sent to the whole process group (a terminal's Ctrl-C, ``timeout``,
most supervisors) therefore reaches the Python process twice, and the second copy can land at any
moment of the shutdown. Three things make that harmless:

- the handler only records the request in a flag (no exception raised into whatever code is
  running, no lock taken, no asyncio wakeup fd that a closed loop leaves dangling), so a repeat is
  a no-op;
- it stays installed for the whole shutdown;
- once the service has stopped, the stop signals are ignored. Python restores the default action
  (death by signal) for every handled signal as the interpreter finalizes, so a late copy would
  otherwise end a process that was about to exit 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from types import FrameType

# Windows has Ctrl-Break (SIGBREAK) too: how `cargo xtask` asks a service it started in a process
# group of its own to stop (Ctrl-C does not reach such a group there).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT) + (
    (signal.SIGBREAK,) if hasattr(signal, "SIGBREAK") else ()
)

# How long the service's main thread sleeps between two looks at the stop request.
POLL_SECONDS = 0.1


class StopRequest:
    """Whether a stop signal has arrived.

    A plain flag, not a ``threading.Event``: a Python signal handler runs in the main thread
    between two bytecodes of whatever it interrupted, and ``Event.set()`` takes the lock that an
    interrupted ``Event.wait()`` may be holding at that moment: the process would hang for good.
    """

    def __init__(self) -> None:
        self._requested = False

    def set(self) -> None:
        self._requested = True

    def is_set(self) -> bool:
        return self._requested

    def wait(self) -> None:
        """Block until a stop is requested (short sleeps: Ctrl-C interrupts them everywhere)."""
        while not self._requested:
            time.sleep(POLL_SECONDS)


def exit_zero_on_stop_signals() -> None:
    """Until the service installs its own handlers (``stop_requested_by_signals``), a stop signal
    ends the process at once with exit code 0. Called first thing by each entry point: a service
    stopped while it imports and reads its options has nothing to clean up, and Python's defaults
    would end it by the signal (SIGTERM) or with a KeyboardInterrupt traceback (SIGINT)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _exit_zero)


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    os._exit(0)


@contextlib.contextmanager
def stop_requested_by_signals() -> Iterator[StopRequest]:
    """A stop request set by SIGTERM or SIGINT while the block runs; ignored after it.

    Enter it before the service announces its ports, and return from the process soon after the
    block: nothing after it can be stopped by SIGTERM or SIGINT any more.
    """
    stop_request = StopRequest()

    def record_stop_request(signum: int, frame: FrameType | None) -> None:
        stop_request.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, record_stop_request)
    try:
        yield stop_request
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
