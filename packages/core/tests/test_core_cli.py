"""The command line the services share: --version, one required command, port range, refusals."""

import pytest
from lumen_argus_core.cli import exit_with_error, port_range_problem, service_parser


def gadget_parser():
    parser, command = service_parser(
        prog="gadget",
        description="A gadget.",
        version="1.2.3",
        command="run",
        command_help="run the gadget",
    )
    command.add_argument("--port", type=int, default=9)
    return parser


def test_version_flag_prints_prog_and_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gadget_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "gadget 1.2.3\n"


def test_the_command_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gadget_parser().parse_args([])
    assert exit_info.value.code == 2
    assert "gadget: error: the following arguments are required: command" in capsys.readouterr().err


def test_the_command_carries_its_options():
    options = gadget_parser().parse_args(["run", "--port", "0"])
    assert (options.command, options.port) == ("run", 0)


def test_help_names_the_command(capsys):
    with pytest.raises(SystemExit):
        gadget_parser().parse_args(["--help"])
    help_text = capsys.readouterr().out
    assert "A gadget." in help_text
    assert "run the gadget" in help_text


@pytest.mark.parametrize("port", [0, 1, 8080, 65535])
def test_ports_a_service_can_bind(port):
    assert port_range_problem(port) is None


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_ports_out_of_range(port):
    assert port_range_problem(port) == f"{port} is out of range 0-65535"


def test_exit_with_error_and_hint(capsys):
    with pytest.raises(SystemExit) as exit_info:
        exit_with_error(gadget_parser(), "refusing to run", hint="run it elsewhere")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "gadget: error: refusing to run\nhint: run it elsewhere\n"


def test_exit_with_error_without_hint(capsys):
    with pytest.raises(SystemExit) as exit_info:
        exit_with_error(gadget_parser(), "port 70000 is out of range 0-65535")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "gadget: error: port 70000 is out of range 0-65535\n"
