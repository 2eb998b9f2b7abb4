"""Binding rules shared by the services: what counts as loopback, and how ports are announced."""

from __future__ import annotations

import ipaddress
import socket

LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the name localhost; False for anything else."""
    if host.lower() in LOCALHOST_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; port 0 lets the system pick a free one."""
    bare_host = host.strip("[]")
    if bare_host.lower() in LOCALHOST_NAMES:
        bare_host = "127.0.0.1"
    family = socket.AF_INET6 if ":" in bare_host else socket.AF_INET
    return socket.create_server((bare_host, port), family=family, backlog=128)


def listening_line(listener: socket.socket, label: str = "") -> str:
    """``listening on HOST:PORT`` (with a label such as ``dashboard`` in front when given)."""
    host, port = listener.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    line = f"listening on {shown_host}:{port}"
    return f"{label} {line}" if label else line
