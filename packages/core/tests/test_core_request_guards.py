"""The rules the services apply to hostile clients: loopback Host values, cross-site logins, the
login throttle (with a clock the test moves) and the limits read from the environment."""

import pytest
from lumen_argus_core.limits import Limits
from lumen_argus_core.request_guards import (
    LoginThrottle,
    cross_site_reason,
    loopback_host_allowed,
)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8081", "localhost:8081", "LOCALHOST:8081", "[::1]:8081", "127.0.0.2:8081"],
)
def test_loopback_names_with_the_port_are_allowed(host):
    assert loopback_host_allowed(host, 8081)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "evil.example:8081",
        "evil.example",
        "127.0.0.1:8082",
        "127.0.0.1",
        "localhost.evil.example:8081",
        "127.0.0.1.nip.io:8081",
        "user@127.0.0.1:8081",
        "127.0.0.1:8081/path",
        "[::1",
        "127.0.0.1:port",
        "0.0.0.0:8081",
        "10.0.0.1:8081",
    ],
)
def test_other_hosts_and_other_ports_are_refused(host):
    assert not loopback_host_allowed(host, 8081)


def test_no_port_means_port_80():
    assert loopback_host_allowed("localhost", 80)
    assert not loopback_host_allowed("localhost", 8081)


@pytest.mark.parametrize(
    ("origin", "fetch_site"),
    [
        (None, None),
        (None, "same-origin"),
        (None, "none"),
        ("http://127.0.0.1:8081", None),
        ("http://127.0.0.1:8081", "same-origin"),
    ],
)
def test_same_origin_and_non_browser_logins_pass(origin, fetch_site):
    assert cross_site_reason(origin, fetch_site, "127.0.0.1:8081") is None


@pytest.mark.parametrize(
    ("origin", "fetch_site"),
    [
        ("http://evil.example", None),
        ("http://evil.example:8081", None),
        ("http://localhost:8081", None),
        ("http://127.0.0.1:9999", None),
        ("https://127.0.0.1:8081", None),
        ("null", None),
        ("", None),
        (None, "cross-site"),
        (None, "same-site"),
        ("http://127.0.0.1:8081", "cross-site"),
    ],
)
def test_logins_from_another_origin_are_refused(origin, fetch_site):
    assert cross_site_reason(origin, fetch_site, "127.0.0.1:8081") is not None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_past_the_free_ones_cost_a_doubling_wait_up_to_the_maximum():
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free_failures=3, first_delay=1.0, max_delay=8.0)
    for _ in range(2):
        throttle.failed("a")
        assert throttle.retry_after("a") == 0
    waits = []
    for _ in range(6):
        throttle.failed("a")
        waits.append(throttle.retry_after("a"))
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0], "the third failure starts the wait"
    assert throttle.retry_after("b") == 0, "another client is not slowed by a's failures"
    clock.now += 8.0
    assert throttle.retry_after("a") == 0


def test_a_success_clears_the_count_and_a_quiet_client_is_forgotten():
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free_failures=2, forget_after=60.0)
    for _ in range(2):
        throttle.failed("a")
    assert throttle.retry_after("a") == 1.0
    clock.now += 1.0
    throttle.succeeded("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 0, "the count started again after the success"
    clock.now += 61.0
    throttle.failed("a")
    assert throttle.retry_after("a") == 0, "a failure after a quiet spell is the first again"


def test_guessing_from_many_clients_is_slowed_as_a_whole():
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free_failures=5, overall_free_failures=10)
    for number in range(9):
        throttle.failed(f"client-{number}")
    assert throttle.retry_after("a-new-client") == 0
    throttle.failed("client-9")
    assert throttle.retry_after("a-new-client") == 1.0


def test_the_clients_remembered_are_bounded():
    throttle = LoginThrottle(clock=Clock(), max_clients=3, overall_free_failures=10**6)
    for number in range(100):
        throttle.failed(f"client-{number}")
    assert len(throttle._clients) == 3


def test_limits_come_from_the_environment_or_their_defaults():
    assert Limits.from_environment({}) == Limits()
    limits = Limits.from_environment(
        {"LUMEN_ARGUS_READ_TIMEOUT_SECONDS": "0.5", "LUMEN_ARGUS_MAX_CONNECTIONS": " 4 "}
    )
    assert (limits.read_timeout_seconds, limits.max_connections) == (0.5, 4)
    assert limits.session_idle_seconds == Limits().session_idle_seconds


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LUMEN_ARGUS_READ_TIMEOUT_SECONDS", "0"),
        ("LUMEN_ARGUS_READ_TIMEOUT_SECONDS", "-1"),
        ("LUMEN_ARGUS_READ_TIMEOUT_SECONDS", "nan"),
        ("LUMEN_ARGUS_READ_TIMEOUT_SECONDS", "inf"),
        ("LUMEN_ARGUS_READ_TIMEOUT_SECONDS", "1e300"),
        ("LUMEN_ARGUS_SESSION_LIFETIME_SECONDS", "1e12"),
        ("LUMEN_ARGUS_MAX_CONNECTIONS", "100000"),
        ("LUMEN_ARGUS_SESSION_IDLE_SECONDS", "ten"),
        ("LUMEN_ARGUS_MAX_CONNECTIONS", "2.5"),
        ("LUMEN_ARGUS_MAX_CONNECTIONS", "0"),
    ],
)
def test_a_bad_limit_is_refused_with_its_name(variable, value):
    with pytest.raises(ValueError, match=variable):
        Limits.from_environment({variable: value})
