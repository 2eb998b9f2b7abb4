//! Helpers for the integration tests: a fresh clone of this repository and the xtask run in it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A `git clone` of this repository's HEAD in a temporary folder, holding the committed bytes on
/// every platform: `core.autocrlf=false`, since Git for Windows checks text out with CRLF by default.
pub fn fresh_clone() -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    let clone = folder.path().join("clone");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks", "--config", "core.autocrlf=false"])
        .arg(repository_root())
        .arg(&clone)
        .status()
        .unwrap();
    assert!(status.success(), "git clone failed");
    (folder, clone)
}

/// The xtask binary under test, to run in `dir`. Reuses the repository's uv when it has one.
pub fn xtask_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    // Each clone keeps its own target/: a CARGO_TARGET_DIR meant for the outer build would put the
    // clones' files outside the temporary folders the tests remove.
    command
        .current_dir(dir)
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("CARGO_TARGET_DIR");
    if let Some(uv) = find_uv() {
        command.env("XTASK_UV", uv);
    }
    command
}

pub fn xtask(dir: &Path, args: &[&str]) -> Output {
    xtask_command(dir, args).output().unwrap()
}

/// `XTASK_UV` (set by `cargo xtask test`), else the repository's bootstrapped uv (a virtualenv's
/// `bin/uv`, or `Scripts\uv.exe` on Windows).
fn find_uv() -> Option<PathBuf> {
    let bootstrapped =
        if cfg!(windows) { "target/xtask-tools/uv/Scripts/uv.exe" } else { "target/xtask-tools/uv/bin/uv" };
    std::env::var_os("XTASK_UV")
        .map(PathBuf::from)
        .or_else(|| Some(repository_root().join(bootstrapped)))
        .filter(|path| path.is_file())
}

/// The uv for tests that call it directly.
pub fn uv_path() -> PathBuf {
    find_uv().expect("no uv: run the suite with `cargo xtask test`, which installs one")
}

/// The system's Python 3 by the name it has on PATH: `python3`, and `python` on Windows (where a
/// `python3` on PATH is at best the Microsoft Store's stub).
pub fn python() -> &'static str {
    if cfg!(windows) { "python" } else { "python3" }
}

/// `text` as the xtask's hints write one shell word (plain, else single-quoted). A Windows temp
/// path (`C:\Users\RUNNER~1\...`) is never plain.
pub fn shell_word(text: &str) -> String {
    xtask::shell_quote(text)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Assert success and show both streams otherwise.
pub fn succeeded(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

/// The SHA-256 of a file as the xtask computes it (the same module, not a copy).
pub fn sha256_hex(path: &Path) -> String {
    xtask::hashing::sha256_hex_of_file(path).unwrap()
}

/// This machine's target triple, as the xtask decides it.
pub fn host_triple() -> &'static str {
    xtask::targets::host().unwrap().triple
}

/// `sha256sum -c --strict LIST` and `shasum -a 256 -c --strict LIST` in `dir`, each that is
/// installed, must accept every line of `LIST`. At least one must be installed: a check that ran
/// no tool fails rather than passing without having looked. Windows has neither of its own (Git
/// for Windows brings sha256sum, on PATH in Git Bash): there, none is a note, not a failure.
pub fn assert_standard_tools_accept(dir: &Path, list: &str) {
    let mut ran = Vec::new();
    for tool in [&["sha256sum"][..], &["shasum", "-a", "256"][..]] {
        let Ok(output) =
            Command::new(tool[0]).args(&tool[1..]).args(["-c", "--strict", list]).current_dir(dir).output()
        else {
            continue;
        };
        assert!(
            output.status.success(),
            "`{} -c --strict {list}` rejected it in {}:\n{}{}\n{list}:\n{}",
            tool.join(" "),
            dir.display(),
            text(&output.stdout),
            text(&output.stderr),
            std::fs::read_to_string(dir.join(list)).unwrap_or_default()
        );
        ran.push(tool[0]);
    }
    if ran.is_empty() && cfg!(windows) {
        eprintln!("note: neither sha256sum nor shasum is on PATH, so {list} was not checked with them (Windows)");
        return;
    }
    assert!(
        !ran.is_empty(),
        "neither sha256sum nor shasum is installed, so {list} was not checked: install coreutils (sha256sum) or perl (shasum)"
    );
}
