"""What the sidecar specs pass to PyInstaller: names PyInstaller reads, the declared package."""

import inspect
import os
import re
import sys

import pytest
from lumen_argus_core.sidecar_spec import analysis_options, exe_options
from PyInstaller.building.api import EXE
from PyInstaller.building.build_main import Analysis


def test_analysis_freezes_the_package_entry_point_and_its_build_info():
    options = analysis_options(os.path.join("specs", "tool"), "tool_package")
    assert options["scripts"] == [os.path.join("specs", "tool", "tool_package", "__main__.py")]
    assert options["pathex"] == [os.path.join("specs", "tool")]
    assert options["hiddenimports"] == ["tool_package._build_info"]


def test_analysis_options_are_parameters_of_analysis():
    # Analysis swallows unknown keyword arguments: a misspelt one would be dropped silently.
    parameters = inspect.signature(Analysis.__init__).parameters.values()
    named = {each.name for each in parameters if each.kind is not each.VAR_KEYWORD}
    assert set(analysis_options("specs", "tool_package")) <= named


def test_exe_options_are_ones_exe_reads():
    # EXE reads its options with kwargs.get: a misspelt one would be dropped silently.
    source = inspect.getsource(EXE.__init__)
    read = set(re.findall(r"kwargs\.get\(\s*['\"](\w+)['\"]", source))
    assert set(exe_options("tool")) <= read


def test_one_file_stripped_without_upx():
    options = exe_options("tool")
    assert options["name"] == "tool"
    assert options["strip"] is (sys.platform != "win32")
    assert options["upx"] is False
    assert options["console"] is True


@pytest.mark.parametrize("identity", ["", "Developer ID Application: Example (TEAM)"])
def test_the_spec_never_signs_the_xtask_does(monkeypatch, identity):
    # One signer: `cargo xtask sidecar` signs a copy after the build cache, so PyInstaller must not.
    monkeypatch.setenv("CODESIGN_IDENTITY", identity)
    monkeypatch.setenv("ENTITLEMENTS_FILE", "app.plist")
    options = exe_options("tool")
    assert "codesign_identity" not in options
    assert "entitlements_file" not in options
