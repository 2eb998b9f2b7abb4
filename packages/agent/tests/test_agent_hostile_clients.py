"""The relay against hostile clients, as a real process on loopback: DNS rebinding, every method
and malformed request answered as JSON, slow and greedy connections bounded in time and threads."""

import json
import os
import socket
import struct
import time

import pytest


def split_answer(answer: bytes) -> tuple[int, str, dict[str, object]]:
    """(status, head, JSON body) of a whole HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.decode(), json.loads(body)


def get(port: int, path: str, host: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "[::2]:{port}", ""]
)
@pytest.mark.parametrize("path", ["/health", "/api/v1/build", "/api/v1/status"])
def test_a_foreign_host_is_refused(start_service, raw_http, host, path):
    relay = start_service("agent")
    port = relay.ports[""]
    answer = raw_http(port, get(port, path, host.format(port=port)))
    assert split_answer(answer)[::2] == (403, {"error": "host_not_allowed"})


def test_two_hosts_or_an_absolute_target_are_refused(start_service, raw_http):
    relay = start_service("agent")
    port = relay.ports[""]
    two_hosts = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n\r\n"
    assert split_answer(raw_http(port, two_hosts.encode()))[0] == 403
    absolute = f"GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    assert split_answer(raw_http(port, absolute.encode()))[::2] == (400, {"error": "bad_request"})


def test_a_request_never_finished_gets_no_answer_and_clients_that_reset_no_traceback(
    start_service, raw_http
):
    relay = start_service("agent", read_timeout_seconds=1)
    port = relay.ports[""]
    # Headers without their blank line, then a hang-up: not a request.
    unfinished = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    assert raw_http(port, unfinished) == b""
    for _ in range(50):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\n")
        time.sleep(1.5)
    assert relay.stop() == 0
    assert "Traceback" not in relay.full_output()


def test_an_http_0_9_request_is_answered_at_once(start_service, slow_client):
    relay = start_service("agent", read_timeout_seconds=5)
    connection = slow_client(relay.ports[""])
    started = time.monotonic()
    connection.sendall(b"GET /health\r\n")
    connection.settimeout(3)
    answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.0 505"), answer
    assert time.monotonic() - started < 2, (
        "the relay waited for headers an HTTP/0.9 client never sends"
    )


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_loopback_hosts_are_answered(start_service, raw_http, host):
    relay = start_service("agent")
    port = relay.ports[""]
    status, _, body = split_answer(raw_http(port, get(port, "/health", host.format(port=port))))
    assert (status, body["status"]) == (200, "ready")


@pytest.mark.parametrize("method", ["POST", "HEAD", "OPTIONS"])
def test_a_foreign_host_is_refused_whatever_the_method(start_service, raw_http, method):
    relay = start_service("agent")
    port = relay.ports[""]
    answer = raw_http(port, f"{method} /health HTTP/1.1\r\nHost: evil.example\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.0 403"), answer


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"])
def test_every_other_method_is_a_json_405(start_service, raw_http, method):
    relay = start_service("agent")
    port = relay.ports[""]
    request = f"{method} /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
    status, head, body = split_answer(raw_http(port, request.encode()))
    assert (status, body) == (405, {"error": "method_not_allowed"})
    assert "Allow: GET" in head and "Content-Type: application/json" in head


def test_head_is_a_405_without_a_body(start_service, raw_http):
    relay = start_service("agent")
    port = relay.ports[""]
    answer = raw_http(port, f"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.0 405") and answer.endswith(b"\r\n\r\n"), answer


@pytest.mark.parametrize(
    ("request_line", "error"),
    [
        ("GARBAGE", "bad_request"),
        ("GET /health HTTP/9.9", "http_version_not_supported"),
        ("GET /health", "http_version_not_supported"),
        ("GET http://[/health HTTP/1.1", "bad_request"),
        ("GET /" + "a" * 70000 + " HTTP/1.1", "request_uri_too_long"),
    ],
)
def test_malformed_requests_are_answered_as_json(start_service, raw_http, request_line, error):
    relay = start_service("agent")
    port = relay.ports[""]
    answer = raw_http(port, f"{request_line}\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    status, head, body = split_answer(answer)
    assert status >= 400 and body == {"error": error}, answer
    assert "Content-Type: application/json" in head
    assert relay.stop() == 0
    assert "Traceback" not in relay.full_output()


@pytest.mark.parametrize("path", ["/health?probe=1", "/health?", "/api/v1/build?x=y#frag"])
def test_query_strings_are_ignored(start_service, raw_http, path):
    relay = start_service("agent")
    port = relay.ports[""]
    status, _, body = split_answer(raw_http(port, get(port, path, f"127.0.0.1:{port}")))
    assert status == 200 and "error" not in body


def thread_count(pid: int) -> int | None:
    """Threads of a process on Linux (None elsewhere: no /proc)."""
    tasks = f"/proc/{pid}/task"
    return len(os.listdir(tasks)) if os.path.isdir(tasks) else None


def test_slow_clients_are_bounded_in_time_and_in_threads(start_service, slow_client, http):
    relay = start_service("agent", read_timeout_seconds=1.5, max_connections=8)
    port = relay.ports[""]
    threads_before = thread_count(relay.process.pid)
    half_open = [slow_client(port) for _ in range(50)]
    for connection in half_open:
        try:
            connection.sendall(b"GET /health HTTP/1.1\r\n")
        except OSError:
            pass
    time.sleep(0.5)
    if threads_before is not None:
        threads_during = thread_count(relay.process.pid)
        assert threads_during is not None and threads_during <= threads_before + 8, (
            "a thread per client"
        )
    started = time.monotonic()
    for connection in half_open:
        assert slow_client.closed_within(connection, 3)
    assert time.monotonic() - started < 3, "half-open requests were held past the read timeout"
    assert http(relay.url("/health"))[0] == 200, "the relay answers once they are gone"


def test_a_header_sent_a_line_at_a_time_is_cut_at_the_read_timeout(start_service, slow_client):
    relay = start_service("agent", read_timeout_seconds=1)
    connection = slow_client(relay.ports[""])
    lines = [b"GET /health HTTP/1.1\r\n", b"X-Slow: 1\r\n"]
    seconds = slow_client.seconds_until_cut(connection, lines)
    assert seconds < 2.5, "a client sending a line every 0.3 s was kept"


def test_a_request_line_sent_a_byte_at_a_time_is_cut_at_the_read_timeout(
    start_service, slow_client
):
    relay = start_service("agent", read_timeout_seconds=1, max_connections=1)
    connection = slow_client(relay.ports[""])
    seconds = slow_client.seconds_until_cut(connection, [bytes([byte]) for byte in b"GET /health"])
    assert seconds < 2.5, "a byte every 0.3 s held the connection"


def test_connections_beyond_the_bound_get_a_503(start_service, slow_client):
    relay = start_service("agent", read_timeout_seconds=5, max_connections=2)
    port = relay.ports[""]
    held = [slow_client(port) for _ in range(2)]
    time.sleep(0.3)
    extra = slow_client(port)
    extra.settimeout(1.5)
    answer = extra.recv(4096)
    assert answer.startswith(b"HTTP/1.0 503"), answer
    assert answer.endswith(b'{"error": "too_many_connections"}')
    assert len(held) == 2


def test_a_bad_limit_stops_the_relay_with_its_name(run_service):
    result = run_service(
        "agent", "relay", "--port", "0", env={"LUMEN_ARGUS_READ_TIMEOUT_SECONDS": "0"}
    )
    assert result.returncode == 2
    assert "LUMEN_ARGUS_READ_TIMEOUT_SECONDS='0' is not valid" in result.stderr
    assert "listening on" not in result.stdout
