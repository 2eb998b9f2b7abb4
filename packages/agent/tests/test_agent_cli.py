"""The relay's command line in process: the exact refusals a user reads, and their exit code."""

import pytest
from lumen_argus_agent.cli import main


@pytest.mark.parametrize("port", ["70000", "65536", "-1"])
def test_refuses_a_port_out_of_range(cli_refusal, port):
    assert cli_refusal(main, "relay", "--port", port) == (
        2,
        f"lumen-argus-agent: error: port {port} is out of range 0-65535\n",
    )


def test_a_foreign_host_is_refused_before_the_port(cli_refusal):
    assert cli_refusal(main, "relay", "--host", "0.0.0.0", "--port", "70000") == (
        2,
        "lumen-argus-agent: error: refusing to bind to 0.0.0.0: the relay serves unauthenticated "
        "endpoints and only listens on loopback\n"
        "hint: use --host 127.0.0.1 (or ::1)\n",
    )


def test_a_port_that_is_not_a_number_is_a_usage_error(cli_refusal):
    code, stderr = cli_refusal(main, "relay", "--port", "abc")
    assert code == 2
    assert stderr.startswith("usage: lumen-argus-agent relay [-h] [--host HOST] [--port PORT]\n")
    assert stderr.endswith(
        "lumen-argus-agent relay: error: argument --port: invalid int value: 'abc'\n"
    )
