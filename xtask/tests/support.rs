//! Helpers for the integration tests: a fresh clone of this repository and the xtask run in it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A `git clone` of this repository's HEAD in a temporary folder.
pub fn fresh_clone() -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    let clone = folder.path().join("clone");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
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
    command.current_dir(dir).args(args).env_remove("GITHUB_ACTIONS").env_remove("SOURCE_DATE_EPOCH");
    if let Some(uv) = find_uv() {
        command.env("XTASK_UV", uv);
    }
    command
}

pub fn xtask(dir: &Path, args: &[&str]) -> Output {
    xtask_command(dir, args).output().unwrap()
}

/// `XTASK_UV` (set by `cargo xtask test`), else the repository's bootstrapped uv.
fn find_uv() -> Option<PathBuf> {
    std::env::var_os("XTASK_UV")
        .map(PathBuf::from)
        .or_else(|| Some(repository_root().join("target/xtask-tools/uv/bin/uv")))
        .filter(|path| path.is_file())
}

/// The uv for tests that call it directly.
pub fn uv_path() -> PathBuf {
    find_uv().expect("no uv: run the suite with `cargo xtask test`, which installs one")
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

pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn host_triple() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
        ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        ("windows", "x86_64") => "x86_64-pc-windows-msvc",
        other => panic!("unsupported host {other:?}"),
    }
}
