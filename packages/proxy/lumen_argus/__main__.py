"""Entry point for ``python -m lumen_argus`` and the PyInstaller sidecar."""

import sys

from lumen_argus_core.stop_signals import exit_zero_on_stop_signals

# Before the heavy imports: a stop signal during them ends the process with exit code 0.
exit_zero_on_stop_signals()

from lumen_argus.cli import main  # noqa: E402 (after the stop signals are handled)

if __name__ == "__main__":
    sys.exit(main())
