"""The proxy and its dashboard against hostile clients, as a real process on loopback: password
guessing, sessions that end, slow and greedy connections, DNS rebinding, cross-site logins,
JSON for every refusal. Limits are set small through the environment so each case is quick."""

import socket
import struct
import time
import urllib.parse

import pytest


def form(password):
    return urllib.parse.urlencode({"password": password}).encode()


def login(proxy, raw_http, password, headers=""):
    """(status, raw answer) of a login sent as is, with extra header lines."""
    body = form(password)
    port = proxy.ports["dashboard"]
    request = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    answer = raw_http(port, request)
    return int(answer.split(b" ", 2)[1]), answer


def cookie_of(answer: bytes) -> str:
    for line in answer.decode().split("\r\n"):
        if line.lower().startswith("set-cookie: lumen_argus_session="):
            return line.split(":", 1)[1].strip().split(";", 1)[0]
    raise AssertionError(f"no session cookie in {answer!r}")


def dashboard_status(proxy, http, cookie):
    return http(proxy.url("/api/v1/status", "dashboard"), cookie=cookie)[0]


def test_password_guessing_is_slowed_and_the_right_password_waits_too(start_service, http):
    proxy = start_service("proxy", locked=True)
    started = time.monotonic()
    answers = [http(proxy.url("/login", "dashboard"), data=form(f"guess {n}")) for n in range(300)]
    assert time.monotonic() - started < 60
    statuses = [status for status, _, _ in answers]
    assert statuses[:5] == [401] * 5, "the first few wrong passwords are answered as wrong"
    assert statuses.count(429) >= 290, statuses
    status, headers, body = answers[-1]
    assert body["error"] == "too_many_attempts"
    assert int(headers["Retry-After"]) == body["retry_after_seconds"] >= 1
    status, headers, body = http(proxy.url("/login", "dashboard"), data=form(proxy.password))
    assert status == 429, "the right password must not work while guesses are being slowed"
    assert "Set-Cookie" not in headers


def test_guesses_sent_in_parallel_are_counted_one_by_one(start_service, slow_client):
    proxy = start_service("proxy", locked=True)
    port = proxy.ports["dashboard"]
    body = form("a guess")
    head = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    # Every guess has sent its headers before any sends its body: the service holds 40 logins
    # waiting for their bodies at once.
    connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
    try:
        for connection in connections:
            connection.sendall(head)
        time.sleep(0.3)
        for connection in connections:
            connection.sendall(body)
        statuses = [
            int(slow_client.read_until_closed(connection).split(b" ", 2)[1])
            for connection in connections
        ]
    finally:
        for connection in connections:
            connection.close()
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 35, statuses


def test_logout_ends_the_session(start_service, http, raw_http):
    proxy = start_service("proxy", locked=True)
    status, answer = login(proxy, raw_http, proxy.password)
    cookie = cookie_of(answer)
    assert dashboard_status(proxy, http, cookie) == 200
    status, headers, body = http(proxy.url("/logout", "dashboard"), data=b"", cookie=cookie)
    assert (status, body) == (200, {"status": "logged_out"})
    assert 'lumen_argus_session=""' in headers["Set-Cookie"]
    assert dashboard_status(proxy, http, cookie) == 401
    status, _, body = http(proxy.url("/logout", "dashboard"), data=b"", cookie=cookie)
    assert (status, body) == (200, {"status": "no_session"})


def test_sessions_end_when_idle_and_at_their_lifetime(start_service, http, raw_http):
    proxy = start_service(
        "proxy", locked=True, session_idle_seconds=0.6, session_lifetime_seconds=1.6
    )
    idle_cookie = cookie_of(login(proxy, raw_http, proxy.password)[1])
    busy_cookie = cookie_of(login(proxy, raw_http, proxy.password)[1])
    started = time.monotonic()
    while time.monotonic() - started < 1.2:
        assert dashboard_status(proxy, http, busy_cookie) == 200, "an active session stays open"
        time.sleep(0.2)
    assert dashboard_status(proxy, http, idle_cookie) == 401, "an idle session ended"
    while time.monotonic() - started < 1.8:
        time.sleep(0.2)
        dashboard_status(proxy, http, busy_cookie)
    assert dashboard_status(proxy, http, busy_cookie) == 401, "a session ends at its lifetime"


def test_the_session_store_is_bounded(start_service, http, raw_http):
    proxy = start_service("proxy", locked=True)
    first = cookie_of(login(proxy, raw_http, proxy.password)[1])
    later = [cookie_of(login(proxy, raw_http, proxy.password)[1]) for _ in range(40)]
    assert dashboard_status(proxy, http, later[-1]) == 200
    assert dashboard_status(proxy, http, first) == 401, "the oldest session made room"


@pytest.mark.parametrize("label", ["", "dashboard"])
def test_slow_and_idle_connections_are_closed_after_the_read_timeout(
    start_service, slow_client, label
):
    proxy = start_service("proxy", locked=True, read_timeout_seconds=1)
    port = proxy.ports[label]
    idle = slow_client(port)
    trickling = slow_client(port)
    lines = [b"GET /health HTTP/1.1\r\n", b"X-Slow: 1\r\n"]
    seconds = slow_client.seconds_until_cut(trickling, lines, pause=0.2)
    assert seconds < 2.5, "a client sending a header line now and then was kept"
    assert slow_client.closed_within(idle, 2), "an idle connection was kept"


def small_buffer_connection(port: int) -> socket.socket:
    """A connection whose receive buffer fills after a few answers when nobody reads it."""
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    connection.connect(("127.0.0.1", port))
    return connection


def health_requests(port: int, copies: int) -> bytes:
    return f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() * copies


def pipelined_without_reading(port: int, seconds: float) -> socket.socket:
    """A connection that sends pipelined requests for ``seconds`` and never reads the answers:
    the service's writes to it stall."""
    connection = small_buffer_connection(port)
    request = health_requests(port, 200)
    connection.settimeout(0.2)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            connection.sendall(request)
        except TimeoutError:
            continue
        except OSError:
            break
    return connection


def test_a_client_that_stops_reading_is_cut_off(start_service, http):
    proxy = start_service("proxy", locked=True, max_connections=2, read_timeout_seconds=1)
    port = proxy.ports[""]
    stalled = [pipelined_without_reading(port, 1.5) for _ in range(2)]
    try:
        time.sleep(1.5)
        assert http(proxy.url("/health"))[0] == 200, "stalled readers still hold every connection"
    finally:
        for connection in stalled:
            connection.close()


def test_pipelined_floods_do_not_starve_other_clients_or_the_stop(start_service, http):
    proxy = start_service("proxy", locked=True, read_timeout_seconds=2)
    port = proxy.ports[""]
    flood = health_requests(port, 20000)
    floods = []
    try:
        for _ in range(40):
            connection = small_buffer_connection(port)
            connection.setblocking(False)
            try:
                connection.send(flood)
            except OSError:
                pass
            floods.append(connection)
        time.sleep(0.5)
        started = time.monotonic()
        status, headers, _ = http(proxy.url("/api/v1/status", "dashboard"))
        assert status == 401 and headers["Connection"] == "close"
        assert time.monotonic() - started < 1.5, "a flood of pipelined requests starved others"
        started = time.monotonic()
        assert proxy.stop() == 0
        assert time.monotonic() - started < 3, "a flood of pipelined requests delayed the stop"
    finally:
        for connection in floods:
            connection.close()


def test_clients_turned_away_that_hang_up_at_once_leave_no_traceback(
    start_service, slow_client, http
):
    proxy = start_service("proxy", locked=True, max_connections=1)
    port = proxy.ports[""]
    held = slow_client(port)
    time.sleep(0.2)
    for _ in range(100):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    time.sleep(0.5)
    held.close()
    # On Windows asyncio's proactor loop closed the listening socket when a client reset before
    # its connection was accepted (CPython gh-93821).
    assert http(proxy.url("/health"))[0] == 200, "the port stopped accepting connections"
    assert proxy.stop() == 0
    assert "Traceback" not in proxy.full_output()


# Idle clients and half-open requests, which the relay has too, are in
# packages/core/tests/test_core_stop_signals.py.
@pytest.mark.needs_stop_signals
@pytest.mark.parametrize("client", ["stalled reader", "pending login body"])
def test_a_stop_does_not_wait_for_slow_clients(start_service, slow_client, client):
    proxy = start_service("proxy", locked=True)
    port = proxy.ports["dashboard"]
    if client == "stalled reader":
        held = pipelined_without_reading(proxy.ports[""], 1.0)
    else:
        held = slow_client(port)
        held.sendall(
            f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 100\r\n\r\n".encode()
        )
    time.sleep(0.3)
    started = time.monotonic()
    try:
        assert proxy.stop() == 0
    finally:
        held.close()
    assert time.monotonic() - started < 3, "the stop waited for a slow client"


@pytest.mark.parametrize(
    ("content_type", "body", "extra_headers", "expected"),
    [
        ("application/x-www-form-urlencoded; charset=foo", b"password=x", "", "unreadable_form"),
        ("multipart/form-data", b"garbage", "", "unreadable_form"),
        ("multipart/form-data; boundary=XX", b"garbage", "", "unreadable_form"),
        # Bodies are never decompressed: this one is a wrong password, not a failure.
        (
            "application/x-www-form-urlencoded",
            b"not gzip",
            "Content-Encoding: gzip\r\n",
            "invalid_password",
        ),
    ],
)
def test_an_unreadable_login_form_is_a_json_refusal_without_a_traceback(
    start_service, raw_http, content_type, body, extra_headers, expected
):
    proxy = start_service("proxy", locked=True)
    port = proxy.ports["dashboard"]
    request = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Type: {content_type}\r\n{extra_headers}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    answer = raw_http(port, request)
    assert answer.endswith(f'{{"error": "{expected}"}}'.encode()), answer
    assert answer.startswith(b"HTTP/1.1 40"), answer
    assert proxy.stop() == 0
    assert "Traceback" not in proxy.full_output()


def test_a_login_body_sent_slowly_times_out(start_service, slow_client):
    proxy = start_service("proxy", locked=True, read_timeout_seconds=1)
    port = proxy.ports["dashboard"]
    connection = slow_client(port)
    connection.sendall(
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n".encode()
    )
    started = time.monotonic()
    answer = b""
    connection.settimeout(0.2)
    while time.monotonic() - started < 4 and not answer:
        try:
            connection.sendall(b"p")
            answer = connection.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
    assert time.monotonic() - started < 3, "a login body sent a byte at a time was waited for"
    assert answer.startswith(b"HTTP/1.1 408") or answer == b"", answer


@pytest.mark.parametrize("label", ["", "dashboard"])
def test_connections_beyond_the_bound_are_turned_away_and_the_service_recovers(
    start_service, slow_client, http, label
):
    proxy = start_service("proxy", locked=True, max_connections=4, read_timeout_seconds=5)
    port = proxy.ports[label]
    held = [slow_client(port) for _ in range(4)]
    time.sleep(0.3)
    for _ in range(10):
        # Each sends its request at once: closing with it unread would reset the connection and
        # lose the answer.
        extra = slow_client(port)
        extra.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        time.sleep(0.1)
        extra.settimeout(1.5)
        answer = slow_client.read_until_closed(extra)
        assert answer.startswith(b"HTTP/1.1 503"), "one connection more is answered at once"
        assert answer.endswith(b'{"error": "too_many_connections"}'), answer
    for connection in held:
        connection.close()
    time.sleep(0.3)
    path = "/health" if label == "" else "/api/v1/status"
    assert http(proxy.url(path, label))[0] in (200, 401), "the service answers once they are gone"


@pytest.mark.parametrize("label", ["", "dashboard"])
@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "10.0.0.1:{port}"]
)
def test_a_foreign_host_is_refused_on_loopback(start_service, raw_http, label, host):
    proxy = start_service("proxy", locked=True)
    port = proxy.ports[label]
    path = "/health" if label == "" else "/api/v1/build"
    answer = raw_http(
        port, f"GET {path} HTTP/1.1\r\nHost: {host.format(port=port)}\r\n\r\n".encode()
    )
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert answer.endswith(b'{"error": "host_not_allowed"}')


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}"])
def test_loopback_hosts_are_answered(start_service, raw_http, host):
    proxy = start_service("proxy", locked=True)
    port = proxy.ports[""]
    request = f"GET /health HTTP/1.1\r\nHost: {host.format(port=port)}\r\nConnection: close\r\n\r\n"
    assert raw_http(port, request.encode()).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    "headers",
    ["Origin: http://evil.example\r\n", "Sec-Fetch-Site: cross-site\r\n", "Origin: null\r\n"],
)
def test_a_cross_site_login_is_refused_even_with_the_right_password(
    start_service, raw_http, headers
):
    proxy = start_service("proxy", locked=True)
    status, answer = login(proxy, raw_http, proxy.password, headers)
    assert status == 403, answer
    assert b'"cross_origin_request"' in answer
    assert b"Set-Cookie" not in answer


def test_a_same_origin_login_works(start_service, raw_http):
    proxy = start_service("proxy", locked=True)
    port = proxy.ports["dashboard"]
    headers = f"Origin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n"
    status, answer = login(proxy, raw_http, proxy.password, headers)
    assert status == 200, answer


@pytest.mark.parametrize("label", ["", "dashboard"])
def test_unknown_paths_and_methods_are_json(start_service, http, raw_http, label):
    proxy = start_service("proxy", locked=True)
    status, headers, body = http(proxy.url("/no/such/path", label))
    assert (status, body) == (404, {"error": "not_found"})
    assert headers["Content-Type"].startswith("application/json")
    port = proxy.ports[label]
    answer = raw_http(port, f"DELETE /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    if label == "":
        assert answer.startswith(b"HTTP/1.1 405"), answer
        assert b"Allow: GET" in answer
        assert answer.endswith(b'{"error": "method_not_allowed"}')


def test_a_bad_limit_stops_the_service_with_its_name(run_service):
    result = run_service(
        "proxy",
        *("serve", "--port", "0", "--dashboard-port", "0"),
        env={"LUMEN_ARGUS_MAX_CONNECTIONS": "lots"},
    )
    assert result.returncode == 2
    assert "LUMEN_ARGUS_MAX_CONNECTIONS='lots' is not valid" in result.stderr
    assert "listening on" not in result.stdout
