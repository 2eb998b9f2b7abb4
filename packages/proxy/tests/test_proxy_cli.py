"""The proxy's command line in process: the exact refusals a user reads, and their exit code."""

import pytest
from lumen_argus.cli import main

USAGE = (
    "usage: lumen-argus serve [-h] [--host HOST] [--port PORT]\n"
    "                         [--dashboard-port DASHBOARD_PORT]\n"
)


@pytest.mark.parametrize("flag", ["--port", "--dashboard-port"])
@pytest.mark.parametrize("port", ["70000", "-1"])
def test_refuses_a_port_out_of_range(cli_refusal, flag, port):
    assert cli_refusal(main, "serve", flag, port) == (
        2,
        f"{USAGE}lumen-argus serve: error: argument {flag}: {port} is out of range 0-65535\n",
    )


def test_a_port_out_of_range_is_refused_before_the_host(cli_refusal, monkeypatch):
    monkeypatch.delenv("LUMEN_ARGUS_DASHBOARD_PASSWORD", raising=False)
    code, stderr = cli_refusal(main, "serve", "--host", "0.0.0.0", "--port", "70000")
    assert (code, stderr.splitlines()[-1]) == (
        2,
        "lumen-argus serve: error: argument --port: 70000 is out of range 0-65535",
    )


def test_a_foreign_host_without_a_password_is_refused(cli_refusal, monkeypatch):
    monkeypatch.delenv("LUMEN_ARGUS_DASHBOARD_PASSWORD", raising=False)
    assert cli_refusal(main, "serve", "--host", "0.0.0.0") == (
        2,
        "lumen-argus: error: refusing to serve the dashboard on 0.0.0.0 without a password\n"
        "hint: set LUMEN_ARGUS_DASHBOARD_PASSWORD, or bind to 127.0.0.1\n",
    )
