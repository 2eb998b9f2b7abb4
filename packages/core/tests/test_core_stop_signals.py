"""SIGTERM and SIGINT, however many copies, end a wait and never kill the process on its way out."""

import subprocess
import sys
import textwrap

import pytest

# Signals itself the way a one-file sidecar's Python child is signalled after a group-wide
# Ctrl-C: once directly, once forwarded by the bootloader, and once more late in the shutdown.
# raise_signal, not os.kill(os.getpid(), ...): on Windows os.kill is TerminateProcess and no
# handler would run.
SCRIPT = textwrap.dedent(
    """
    import signal, sys
    from lumen_argus_core.stop_signals import stop_requested_by_signals

    signum = getattr(signal, sys.argv[1])
    with stop_requested_by_signals() as stop_request:
        signal.raise_signal(signum)
        signal.raise_signal(signum)
        stop_request.wait()
        print("stop requested", flush=True)
    signal.raise_signal(signal.SIGTERM)
    signal.raise_signal(signal.SIGINT)
    print("still alive after late copies", flush=True)
    """
)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_copies_of_a_stop_signal_end_the_wait_and_later_ones_are_ignored(signal_name):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, signal_name], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["stop requested", "still alive after late copies"]
    assert "Traceback" not in result.stderr
