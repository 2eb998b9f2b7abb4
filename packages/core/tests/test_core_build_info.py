"""Build identity: the hash of the running executable and the baked-in build facts."""

import hashlib
import sys
import textwrap

import pytest
from lumen_argus_core import build_info
from lumen_argus_core.build_info import (
    UNKNOWN_BUILD_ID,
    compute_build_id,
    load_build_info,
    process_build_id,
)


def test_build_id_of_a_known_file(tmp_path):
    sample = tmp_path / "hello"
    sample.write_bytes(b"hello")
    assert compute_build_id(sample) == (
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )


def test_build_id_streams_files_larger_than_one_read(tmp_path):
    payload = bytes(range(256)) * 20_000  # 5 MB, several read chunks
    sample = tmp_path / "large"
    sample.write_bytes(payload)
    assert compute_build_id(sample) == "sha256:" + hashlib.sha256(payload).hexdigest()


def test_build_id_defaults_to_the_running_executable():
    with open(sys.executable, "rb") as executable:
        expected = "sha256:" + hashlib.sha256(executable.read()).hexdigest()
    assert compute_build_id() == expected


@pytest.mark.parametrize("unreadable", ["missing-file", "a-directory", ""])
def test_unreadable_executable_gives_unknown(tmp_path, unreadable):
    (tmp_path / "a-directory").mkdir()
    path = str(tmp_path / unreadable) if unreadable else ""
    assert compute_build_id(path) == UNKNOWN_BUILD_ID


def test_process_build_id_is_computed_once(monkeypatch, tmp_path):
    process_build_id.cache_clear()
    first = process_build_id()
    replacement = tmp_path / "replaced"
    replacement.write_bytes(b"other bytes")
    monkeypatch.setattr(sys, "executable", str(replacement))
    assert process_build_id() == first
    process_build_id.cache_clear()


def _make_package(root, name, build_info_source=None):
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    if build_info_source is not None:
        (package / "_build_info.py").write_text(textwrap.dedent(build_info_source))
    return package


def test_source_run_without_build_info_falls_back(tmp_path, monkeypatch, pyproject_version):
    _make_package(tmp_path, "fixture_source_run")
    monkeypatch.syspath_prepend(str(tmp_path))
    info = load_build_info("fixture_source_run", "lumen-argus-core", "fixture")
    assert info.version == pyproject_version("core")
    assert info.git_commit == "unknown"
    assert info.built_at == "unknown"
    assert info.build_id == process_build_id()


def test_generated_build_info_is_reported(tmp_path, monkeypatch):
    _make_package(
        tmp_path,
        "fixture_frozen",
        """
        VERSION = "9.8.7"
        GIT_COMMIT = "0123456789abcdef0123456789abcdef01234567"
        BUILT_AT = "2026-01-02T03:04:05Z"
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    info = load_build_info("fixture_frozen", "lumen-argus-core", "fixture-service")
    assert info.as_json() == {
        "service": "fixture-service",
        "version": "9.8.7",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "build_id": process_build_id(),
        "built_at": "2026-01-02T03:04:05Z",
        "plugins": [],
    }


def test_a_broken_import_inside_build_info_is_not_hidden(tmp_path, monkeypatch):
    _make_package(tmp_path, "fixture_broken", "import module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        load_build_info("fixture_broken", "lumen-argus-core", "fixture")


def test_unknown_distribution_reports_unknown_version(tmp_path, monkeypatch):
    _make_package(tmp_path, "fixture_unpackaged")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert build_info.package_version("fixture_unpackaged", "no-such-distribution") == "unknown"
