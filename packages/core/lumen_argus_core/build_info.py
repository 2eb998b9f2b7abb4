"""Build identity: which bytes this process runs, and what they were built from.

``build_id`` is ``sha256:<hex>`` of the file at ``sys.executable``. For a PyInstaller one-file
sidecar that is the sidecar itself, so the value equals the hash published in ``checksums.txt``.
It is computed once, when a service starts (``process_build_id()``), so it describes the bytes
that were spawned even if the file is replaced later.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType

UNKNOWN = "unknown"
UNKNOWN_BUILD_ID = "sha256:unknown"
_READ_CHUNK_BYTES = 1024 * 1024


def compute_build_id(path: str | os.PathLike[str] | None = None) -> str:
    """Return ``sha256:<64 lowercase hex>`` of the file at ``path`` (default ``sys.executable``).

    The file is streamed, never read whole. Returns ``sha256:unknown`` when the path is empty or
    the file cannot be read.
    """
    target = sys.executable if path is None else path
    if not target:
        return UNKNOWN_BUILD_ID
    digest = hashlib.sha256()
    try:
        with open(target, "rb") as executable:
            while chunk := executable.read(_READ_CHUNK_BYTES):
                digest.update(chunk)
    except OSError:
        return UNKNOWN_BUILD_ID
    return "sha256:" + digest.hexdigest()


@functools.cache
def process_build_id() -> str:
    """The build id of this process's executable, computed on the first call and kept.

    Services call it while starting up, before they accept a request.
    """
    return compute_build_id()


@dataclass(frozen=True)
class BuildInfo:
    """What ``GET /api/v1/build`` reports for one service."""

    service: str
    version: str
    git_commit: str
    built_at: str
    build_id: str
    plugins: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, object]:
        return {
            "service": self.service,
            "version": self.version,
            "git_commit": self.git_commit,
            "build_id": self.build_id,
            "built_at": self.built_at,
            "plugins": list(self.plugins),
        }


def _generated_module(import_package: str) -> ModuleType | None:
    """The ``<import_package>._build_info`` module, or None when it was not generated."""
    module_name = f"{import_package}._build_info"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise


def installed_version(distribution: str) -> str:
    """The version of an installed distribution, or ``unknown``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN


def _baked(import_package: str, name: str) -> str | None:
    generated = _generated_module(import_package)
    value = getattr(generated, name, None) if generated else None
    return value or None


def package_version(import_package: str, distribution: str) -> str:
    """The version baked into a frozen build, else the installed distribution's version."""
    return _baked(import_package, "VERSION") or installed_version(distribution)


def load_build_info(import_package: str, distribution: str, service: str) -> BuildInfo:
    """Read ``<import_package>._build_info`` (written by ``cargo xtask build-info``).

    Without it (a source checkout or an installed wheel) the version comes from the installed
    distribution's metadata and the commit and build time are ``unknown``.
    """
    return BuildInfo(
        service=service,
        version=package_version(import_package, distribution),
        git_commit=_baked(import_package, "GIT_COMMIT") or UNKNOWN,
        built_at=_baked(import_package, "BUILT_AT") or UNKNOWN,
        build_id=process_build_id(),
    )
