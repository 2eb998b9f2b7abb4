"""What the PyInstaller specs of the sidecars share: one file, stripped, no UPX, unsigned.

A spec (``packages/<name>/<binary>.spec``, run by ``cargo xtask sidecar``) passes these to
PyInstaller's own ``Analysis`` and ``EXE``. Build tooling only: no service imports it, so it is
never frozen into a sidecar, and the core wheel and sdist leave it out.
"""

from __future__ import annotations

import os
import sys


def analysis_options(spec_folder: str, import_package: str) -> dict[str, object]:
    """Keyword arguments of ``Analysis`` for the sidecar whose entry point is
    ``<spec_folder>/<import_package>/__main__.py``."""
    return {
        "scripts": [os.path.join(spec_folder, import_package, "__main__.py")],
        "pathex": [spec_folder],
        # Loaded with importlib at run time, so the analysis cannot see it.
        "hiddenimports": [f"{import_package}._build_info"],
        "excludes": ["tkinter", "unittest", "pydoc", "doctest"],
        "noarchive": False,
        "optimize": 0,
    }


def exe_options(binary: str) -> dict[str, object]:
    """Keyword arguments of ``EXE`` for the one-file binary ``binary``.

    No code signing here: ``cargo xtask sidecar`` signs the finished binary itself when
    ``CODESIGN_IDENTITY`` is set, after the build cache and before anything hashes the file, so
    there is one signer and every checksum describes the signed bytes.
    """
    return {
        "name": binary,
        "debug": False,
        "bootloader_ignore_signals": False,
        # strip(1) is a Unix tool; Windows builds carry no symbols to strip.
        "strip": sys.platform != "win32",
        "upx": False,
        "console": True,
        "runtime_tmpdir": None,
    }
