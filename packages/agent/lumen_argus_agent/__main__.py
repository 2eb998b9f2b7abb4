"""Entry point for ``python -m lumen_argus_agent`` and the PyInstaller sidecar."""

import sys

from lumen_argus_agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
