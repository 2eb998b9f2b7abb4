"""SIGTERM and SIGINT, however many copies, end a wait and never kill the process on its way out;
the same assertions against each service built on it (the agent and the proxy), as a real process:
exit code 0 and no traceback whether it is starting, serving, or holding slow clients."""

import signal
import subprocess
import sys
import textwrap
import time

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


# Every service the stop signals stop, by its folder under packages/ (see the root conftest.py).
SERVICES = ["agent", "proxy"]
STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.mark.needs_stop_signals
@pytest.mark.parametrize("signum", STOP_SIGNALS)
@pytest.mark.parametrize("package", SERVICES)
def test_a_stop_signal_ends_a_service_with_exit_zero(start_service, package, signum):
    service = start_service(package)
    assert service.stop(signum) == 0
    assert "Traceback" not in service.full_output()


@pytest.mark.needs_stop_signals
@pytest.mark.parametrize("round_number", range(3))
@pytest.mark.parametrize("signum", STOP_SIGNALS)
@pytest.mark.parametrize("package", SERVICES)
def test_repeated_stop_signals_end_a_service_with_exit_zero_without_a_traceback(
    start_service, package, signum, round_number
):
    service = start_service(package)
    assert service.stop_under_repeated_signals(signum) == 0
    assert "Traceback" not in service.full_output()


@pytest.mark.needs_stop_signals
@pytest.mark.parametrize("signum", STOP_SIGNALS)
@pytest.mark.parametrize("package", SERVICES)
def test_a_stop_while_a_service_starts_exits_zero_without_a_traceback(
    starting_service, package, signum
):
    service = starting_service(package)
    service.process.send_signal(signum)
    output, _ = service.process.communicate(timeout=30)
    assert service.process.returncode == 0, output
    assert "Traceback" not in output
    if service.caught_at_first_handler:
        assert "listening on" not in output, "the stop was handled only once the service served"


@pytest.mark.needs_stop_signals
@pytest.mark.parametrize("client", ["half-open request", "idle"])
@pytest.mark.parametrize("package", SERVICES)
def test_a_stop_does_not_wait_for_slow_clients(start_service, slow_client, package, client):
    service = start_service(package)
    # One slow client on every port the service announced.
    for port in service.ports.values():
        held = slow_client(port)
        if client == "half-open request":
            held.sendall(b"GET /health HTTP/1.1\r\n")
    time.sleep(0.3)
    started = time.monotonic()
    assert service.stop() == 0
    assert time.monotonic() - started < 3, "the stop waited for a slow client"
