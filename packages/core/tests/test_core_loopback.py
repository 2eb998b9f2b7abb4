"""Which hosts count as loopback, and how a listening port is announced."""

import pytest
from lumen_argus_core.loopback import bind_listener, is_loopback, listening_line


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "", "127.0.0.1.evil"]
)
def test_non_loopback_hosts(host):
    assert not is_loopback(host)


def test_port_zero_is_announced_with_the_chosen_port():
    with bind_listener("127.0.0.1", 0) as listener:
        port = listener.getsockname()[1]
        assert port > 0
        assert listening_line(listener) == f"listening on 127.0.0.1:{port}"
        assert listening_line(listener, "dashboard") == f"dashboard listening on 127.0.0.1:{port}"
