"""Entry point for ``python -m lumen_argus`` and the PyInstaller sidecar."""

import sys

from lumen_argus.cli import main

if __name__ == "__main__":
    sys.exit(main())
