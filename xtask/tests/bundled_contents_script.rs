//! `bundled_contents.py` on PyInstaller work folders written by hand, in the repository's locked
//! environment: every kind of entry PyInstaller writes gets its owner, and entries that are not
//! files of their own (links, namespace packages, settings) are no one's and never "unowned".

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// Runs `python -I` in the repository's locked environment and returns its stdout.
fn locked_python(args: &[&str]) -> String {
    let output = Command::new(uv_path())
        .args(["run", "--locked", "--no-sync", "python", "-I"])
        .args(args)
        .current_dir(repository_root())
        .output()
        .unwrap();
    succeeded(&output, "python in the locked environment");
    text(&output.stdout)
}

/// The report the script prints for `work_folder`.
fn report_for(work_folder: &Path) -> serde_json::Value {
    let script = std::fs::read_to_string(repository_root().join("xtask/src/bundled_contents.py")).unwrap();
    let stdout = locked_python(&["-c", &script, work_folder.to_str().unwrap()]);
    let line = stdout.lines().find_map(|line| line.strip_prefix("xtask-bundled-contents ")).expect("no report line");
    serde_json::from_str(line).unwrap()
}

/// A TOC file as PyInstaller writes it: a Python literal whose `position`th item lists the entries.
fn write_toc(path: &Path, position: usize, entries: &[(&str, &str, &str)]) {
    let listed: Vec<String> =
        entries.iter().map(|(name, source, typecode)| format!("({name:?}, {source:?}, {typecode:?})")).collect();
    let mut items = vec!["'name'".to_string(); position];
    items.push(format!("[{}]", listed.join(", ")));
    std::fs::write(path, format!("({},)", items.join(", "))).unwrap();
}

#[test]
fn each_entry_gets_its_owner_and_links_and_namespace_packages_are_skipped() {
    let folder = tempfile::tempdir().unwrap();
    let work = folder.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let paths = locked_python(&["-c", "import os, pytest; print(os.__file__); print(pytest.__file__)"]);
    // `lines()`, not a split on '\n': Python's stdout ends its lines with "\r\n" on Windows.
    let mut paths = paths.lines();
    let (runtime_module, installed_module) = (paths.next().unwrap(), paths.next().unwrap());
    let stray = folder.path().join("stray.txt");
    let library = folder.path().join("libstray.so.1");
    std::fs::write(&stray, "not from any package").unwrap();
    std::fs::write(&library, "a shared library").unwrap();
    let pyz = work.join("PYZ-00.pyz");
    write_toc(
        &work.join("PKG-00.toc"),
        2,
        &[
            ("pyi-contents-directory _internal", "", "OPTION"),
            ("PYZ-00.pyz", pyz.to_str().unwrap(), "PYZ"),
            // macOS framework links name another entry of the archive, not a file.
            ("Python", "Python.framework/Versions/3.12/Python", "SYMLINK"),
            ("libstray.so.1", library.to_str().unwrap(), "BINARY"),
            ("stray.txt", stray.to_str().unwrap(), "DATA"),
        ],
    );
    write_toc(
        &work.join("PYZ-00.toc"),
        1,
        &[
            ("os", runtime_module, "PYMODULE"),
            ("pytest", installed_module, "PYMODULE"),
            // A namespace package has no file: PyInstaller writes "-" as its source.
            ("namespace_only", "-", "PYMODULE"),
        ],
    );

    let report = report_for(&work);

    let distributions = report["distributions"].as_array().unwrap();
    let pytest = distributions.iter().find(|entry| entry["name"] == "pytest").expect("pytest is not listed");
    assert_eq!(pytest["files"], 1, "{report}");
    assert_eq!(distributions.len(), 1, "only pytest's file belongs to a distribution: {report}");
    assert_eq!(report["system_libraries"], serde_json::json!(["libstray.so.1"]), "{report}");
    let unowned = report["unowned"].as_array().unwrap();
    assert_eq!(unowned.len(), 1, "only the stray data file has no owner: {report}");
    assert!(unowned[0].as_str().unwrap().starts_with("stray.txt (DATA) from "), "{report}");
    assert!(!report.to_string().contains("namespace_only") && !report.to_string().contains("SYMLINK"), "{report}");
}
