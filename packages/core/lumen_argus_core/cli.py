"""The command line every service shares: ``PROG --version``, one command, ports, refusals."""

from __future__ import annotations

import argparse
from typing import NoReturn

HIGHEST_PORT = 65535


def service_parser(
    *, prog: str, description: str, version: str, command: str, command_help: str
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``PROG [--version] COMMAND ...``: the parser, and the parser of its one required COMMAND,
    to which the service adds its own options."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    commands = parser.add_subparsers(dest="command", required=True)
    return parser, commands.add_parser(command, help=command_help)


def port_range_problem(port: int) -> str | None:
    """``<port> is out of range 0-65535``, or None for a port a service can bind (0 picks one)."""
    if 0 <= port <= HIGHEST_PORT:
        return None
    return f"{port} is out of range 0-{HIGHEST_PORT}"


def exit_with_error(parser: argparse.ArgumentParser, problem: str, hint: str = "") -> NoReturn:
    """Exit 2 with ``PROG: error: PROBLEM`` and, when there is one, ``hint: HINT`` on stderr."""
    hint_line = f"hint: {hint}\n" if hint else ""
    parser.exit(2, f"{parser.prog}: error: {problem}\n{hint_line}")
