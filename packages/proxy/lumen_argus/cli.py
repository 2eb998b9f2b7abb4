"""Command line of ``lumen-argus``."""

from __future__ import annotations

import argparse
import os
import sys

from lumen_argus_core.build_info import load_build_info, package_version
from lumen_argus_core.cli import exit_with_error, port_range_problem, service_parser
from lumen_argus_core.limits import Limits
from lumen_argus_core.loopback import is_loopback

from lumen_argus import DISTRIBUTION, PASSWORD_ENV, SERVICE

DEFAULT_PROXY_PORT = 8080
DEFAULT_DASHBOARD_PORT = 8081


def _port(text: str) -> int:
    port = int(text)
    if problem := port_range_problem(port):
        raise argparse.ArgumentTypeError(problem)
    return port


def build_parser() -> argparse.ArgumentParser:
    parser, serve = service_parser(
        prog="lumen-argus",
        description="lumen-argus proxy.",
        version=package_version("lumen_argus", DISTRIBUTION),
        command="serve",
        command_help="serve the proxy and the dashboard",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PROXY_PORT, help="proxy port, 0 picks a free one"
    )
    serve.add_argument(
        "--dashboard-port",
        type=_port,
        default=DEFAULT_DASHBOARD_PORT,
        help="dashboard port, 0 picks a free one",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    password = os.environ.get(PASSWORD_ENV) or None
    if password is None and not is_loopback(options.host):
        exit_with_error(
            parser,
            f"refusing to serve the dashboard on {options.host} without a password",
            hint=f"set {PASSWORD_ENV}, or bind to 127.0.0.1",
        )

    try:
        limits = Limits.from_environment()
    except ValueError as error:
        exit_with_error(parser, str(error))

    from lumen_argus.server import serve

    identity = load_build_info("lumen_argus", DISTRIBUTION, SERVICE)
    try:
        return serve(options.host, options.port, options.dashboard_port, password, identity, limits)
    except OSError as error:
        print(f"lumen-argus: error: cannot listen on {options.host}: {error}", file=sys.stderr)
        return 1
