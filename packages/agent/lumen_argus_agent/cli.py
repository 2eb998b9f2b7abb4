"""Command line of ``lumen-argus-agent``."""

from __future__ import annotations

import argparse
import sys

from lumen_argus_core.build_info import load_build_info, package_version
from lumen_argus_core.cli import exit_with_error, port_range_problem, service_parser
from lumen_argus_core.limits import Limits
from lumen_argus_core.loopback import is_loopback

from lumen_argus_agent import DISTRIBUTION, SERVICE

DEFAULT_PORT = 8070


def build_parser() -> argparse.ArgumentParser:
    parser, relay = service_parser(
        prog="lumen-argus-agent",
        description="Loopback relay of lumen-argus.",
        version=package_version("lumen_argus_agent", DISTRIBUTION),
        command="relay",
        command_help="serve the relay on a loopback address",
    )
    relay.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    relay.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port, 0 picks a free one (default 8070)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if not is_loopback(options.host):
        exit_with_error(
            parser,
            f"refusing to bind to {options.host}: the relay serves unauthenticated endpoints and "
            "only listens on loopback",
            hint="use --host 127.0.0.1 (or ::1)",
        )
    if problem := port_range_problem(options.port):
        exit_with_error(parser, f"port {problem}")

    try:
        limits = Limits.from_environment()
    except ValueError as error:
        exit_with_error(parser, str(error))

    from lumen_argus_agent.server import serve

    identity = load_build_info("lumen_argus_agent", DISTRIBUTION, SERVICE)
    try:
        return serve(options.host, options.port, identity, limits)
    except OSError as error:
        print(
            f"lumen-argus-agent: error: cannot listen on {options.host}:{options.port}: {error}",
            file=sys.stderr,
        )
        return 1
