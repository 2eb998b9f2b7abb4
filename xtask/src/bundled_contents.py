"""What a PyInstaller build bundled, by owner: run by `cargo xtask sidecar` in the locked
environment right after PyInstaller, with the build's work folder as its only argument.

PyInstaller writes what goes into the one-file binary as Python literals in the work folder:
``PKG-00.toc`` (the archive appended to the bootloader) and ``PYZ-00.toc`` (the pure modules inside
``PYZ-00.pyz``). Each entry is ``(dest_name, source_path, typecode)``. Every source file is given
to its owner:

- an installed distribution, by the files its RECORD lists, or, for one installed editable (its
  ``direct_url.json`` says so), by its project folder;
- the Python runtime, for files under the interpreter's base prefix (the standard library, its
  extension modules, libpython), and the standard library PyInstaller compiles into its work folder;
- PyInstaller, for its bootstrap modules (``pyimod*``, ``pyiboot*``, ``pyi_rth_*``);
- the system, for shared libraries found outside all of these (by file name only).

Prints one line on stdout: ``xtask-bundled-contents`` and a JSON object (sorted, so the same build
gives the same text). A file no owner
claims is listed under ``unowned``: the xtask refuses to publish such a binary.
"""

import ast
import importlib.metadata
import json
import os
import platform
import sys
import urllib.parse
import urllib.request

# Entries that are containers, settings or links, not files of their own: the PYZ's contents are
# read from PYZ-00.toc, OPTION entries are bootloader flags, a SYMLINK (macOS frameworks) names
# another entry of the archive as its source.
SKIPPED_TYPECODES = {"PYZ", "OPTION", "DEPENDENCY", "SPLASH", "SYMLINK"}
# What PyInstaller writes as the source of an entry with no file (a namespace package).
NO_SOURCE = "-"
PYINSTALLER_MODULE_PREFIXES = ("pyimod", "pyiboot", "pyi_rth_")
# What PyInstaller compiles from the standard library into its work folder.
RUNTIME_FILES_IN_WORK_FOLDER = {"base_library.zip", "struct"}
# Starts the report's line: other output (a warning) is never taken for it.
REPORT_PREFIX = "xtask-bundled-contents"


def real(path):
    return os.path.normcase(os.path.realpath(path))


def is_within(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def toc_entries(work_folder):
    """(dest_name, source_path, typecode) of every file PKG-00.toc and PYZ-00.toc name."""
    entries = []
    for name, position in (("PKG-00.toc", 2), ("PYZ-00.toc", 1)):
        with open(os.path.join(work_folder, name), encoding="utf-8") as toc:
            table = ast.literal_eval(toc.read())
        for dest_name, source_path, typecode in table[position]:
            if typecode not in SKIPPED_TYPECODES and source_path and source_path != NO_SOURCE:
                entries.append((dest_name, source_path, typecode))
    return entries


def editable_folder(distribution):
    """The project folder of a distribution installed editable, else None."""
    text = distribution.read_text("direct_url.json")
    if not text:
        return None
    direct_url = json.loads(text)
    if not direct_url.get("dir_info", {}).get("editable"):
        return None
    parsed = urllib.parse.urlparse(direct_url.get("url", ""))
    if parsed.scheme != "file":
        return None
    return real(urllib.request.url2pathname(parsed.path))


def owners_of_installed_files():
    """Every file of every installed distribution, and every editable project folder.

    Distributions are read in order of name and version, so a file two of them list is always
    given to the same one, whatever order the environment lists them in.
    """
    by_file, by_folder = {}, []
    distributions = [
        (distribution.metadata["Name"] or "", distribution.version or "", distribution)
        for distribution in importlib.metadata.distributions()
    ]
    for name, version, distribution in sorted(distributions, key=lambda item: item[:2]):
        for listed in distribution.files or []:
            by_file.setdefault(real(distribution.locate_file(listed)), (name, version))
        folder = editable_folder(distribution)
        if folder:
            by_folder.append((folder, (name, version)))
    # The deepest folder first: a project inside another project's folder is its own owner.
    by_folder.sort(key=lambda item: len(item[0]), reverse=True)
    return by_file, by_folder


def main(work_folder):
    work_folder = real(work_folder)
    by_file, by_folder = owners_of_installed_files()
    runtime_prefix = real(sys.base_prefix)
    environment_prefix = real(sys.prefix)
    pyinstaller = ("pyinstaller", importlib.metadata.version("pyinstaller"))
    distributions, system_libraries, unowned = {}, set(), set()
    for dest_name, source_path, typecode in toc_entries(work_folder):
        source = real(source_path)
        owner = by_file.get(source)
        if owner is None:
            owner = next((owner for folder, owner in by_folder if is_within(source, folder)), None)
        if owner is None and dest_name.startswith(PYINSTALLER_MODULE_PREFIXES):
            owner = pyinstaller
        if owner is not None:
            distributions.setdefault(owner, 0)
            distributions[owner] += 1
        elif is_within(source, work_folder) and dest_name in RUNTIME_FILES_IN_WORK_FOLDER:
            continue
        elif is_within(source, runtime_prefix) and (
            runtime_prefix == environment_prefix or not is_within(source, environment_prefix)
        ):
            continue
        elif typecode == "BINARY":
            system_libraries.add(os.path.basename(dest_name))
        else:
            unowned.add(f"{dest_name} ({typecode}) from {source_path}")
    report = {
        "python": {"implementation": sys.implementation.name, "version": platform.python_version()},
        "distributions": [
            {"name": name, "version": version, "files": files}
            for (name, version), files in sorted(distributions.items())
        ],
        "system_libraries": sorted(system_libraries),
        "unowned": sorted(unowned),
    }
    print(REPORT_PREFIX, json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
