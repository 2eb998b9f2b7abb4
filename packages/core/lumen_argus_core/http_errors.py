"""How every service names an HTTP refusal in its JSON answer: ``{"error": "<name>"}``."""

from __future__ import annotations


def error_name(reason: str) -> str:
    """``Method Not Allowed`` -> ``method_not_allowed``, ``Request-URI Too Long`` ->
    ``request_uri_too_long``."""
    return "_".join(reason.lower().replace("-", " ").split())
