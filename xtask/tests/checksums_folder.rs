//! `cargo xtask checksums` on real folders: the written files pass the standard tools, re-runs
//! change nothing, every refusal leaves the folder as it was, and `--verify` names bad files.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn artifact(dir: &Path, name: &str, contents: &[u8]) {
    std::fs::write(dir.join(name), contents).unwrap();
    std::fs::write(dir.join(format!("{name}.sha256")), format!("{}  {name}\n", sha256_hex(&dir.join(name)))).unwrap();
}

fn release_folder() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    artifact(folder.path(), "lumen-argus-x86_64-unknown-linux-gnu", b"proxy binary");
    artifact(folder.path(), "lumen-argus-agent-x86_64-pc-windows-msvc.exe", b"agent binary");
    artifact(folder.path(), "lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz", b"archive");
    folder
}

fn checksums(args: &[&str]) -> std::process::Output {
    xtask(&repository_root(), &[&["checksums"], args].concat())
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

fn tool_accepts(tool: &[&str], dir: &Path) -> Option<bool> {
    let output = Command::new(tool[0])
        .args(&tool[1..])
        .args(["-c", "--strict", "checksums.txt"])
        .current_dir(dir)
        .output()
        .ok()?;
    Some(output.status.success())
}

#[test]
fn writes_checksums_and_notes_that_standard_tools_accept_and_reruns_change_nothing() {
    let folder = release_folder();
    let dir = folder.path();
    succeeded(&checksums(&[dir.to_str().unwrap()]), "checksums");
    let listing = std::fs::read_to_string(dir.join("checksums.txt")).unwrap();
    let names: Vec<&str> = listing.lines().map(|line| line.split_once("  ").unwrap().1).collect();
    assert_eq!(
        names,
        [
            "lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz",
            "lumen-argus-agent-x86_64-pc-windows-msvc.exe",
            "lumen-argus-x86_64-unknown-linux-gnu"
        ]
    );
    assert!(listing.ends_with('\n') && !listing.contains("\n\n") && !listing.contains('\r'));
    for tool in [&["sha256sum"][..], &["shasum", "-a", "256"][..]] {
        if let Some(accepted) = tool_accepts(tool, dir) {
            assert!(accepted, "{tool:?} rejected checksums.txt:\n{listing}");
        }
    }
    let notes = std::fs::read_to_string(dir.join("release-notes.md")).unwrap();
    let proxy_hash = sha256_hex(&dir.join("lumen-argus-x86_64-unknown-linux-gnu"));
    assert!(notes.contains(&format!("- `lumen-argus-x86_64-unknown-linux-gnu` — `sha256:{proxy_hash}`")), "{notes}");
    assert!(notes.contains("docker pull ghcr.io/lumen-argus/lumen-argus-community:"), "{notes}");
    let before = snapshot(dir);
    succeeded(&checksums(&[dir.to_str().unwrap()]), "second run");
    assert_eq!(snapshot(dir), before);
    succeeded(&checksums(&[dir.to_str().unwrap(), "--verify"]), "verify");
}

fn assert_refused_untouched(dir: &Path, args: &[&str], expected: &str) {
    let before = snapshot(dir);
    let output = checksums(args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "expected {expected:?} in {stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    assert_eq!(snapshot(dir), before, "a refused run changed the folder");
}

#[test]
fn conflicts_mismatches_and_bad_names_are_refused_without_touching_anything() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    succeeded(&checksums(&[path]), "first run");

    std::fs::write(dir.join("extra.sha256"), format!("{}  lumen-argus-x86_64-unknown-linux-gnu\n", "0".repeat(64)))
        .unwrap();
    assert_refused_untouched(dir, &[path], "conflicting checksums: lumen-argus-x86_64-unknown-linux-gnu");
    std::fs::remove_file(dir.join("extra.sha256")).unwrap();

    std::fs::write(dir.join("lumen-argus-x86_64-unknown-linux-gnu"), b"tampered").unwrap();
    assert_refused_untouched(dir, &[path], "do not match their .sha256: lumen-argus-x86_64-unknown-linux-gnu");
    std::fs::write(dir.join("lumen-argus-x86_64-unknown-linux-gnu"), b"proxy binary").unwrap();

    for bad_name in ["../escape", "/etc/passwd", "sub/file"] {
        std::fs::write(dir.join("bad.sha256"), format!("{}  {bad_name}\n", "a".repeat(64))).unwrap();
        assert_refused_untouched(dir, &[path], "not a plain file name");
    }
}

#[test]
fn verify_names_every_bad_file() {
    let folder = release_folder();
    let dir = folder.path();
    let path = dir.to_str().unwrap();
    succeeded(&checksums(&[path]), "checksums");
    std::fs::write(dir.join("lumen-argus-x86_64-unknown-linux-gnu"), b"tampered").unwrap();
    std::fs::remove_file(dir.join("lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz")).unwrap();
    std::fs::write(dir.join("lumen-argus-aarch64-apple-darwin"), b"stray").unwrap();
    let output = checksums(&[path, "--verify"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lumen-argus-x86_64-unknown-linux-gnu: hash is"), "{stderr}");
    assert!(stderr.contains("lumen-argus-0.0.1-x86_64-unknown-linux-gnu.tar.gz: missing"), "{stderr}");
    assert!(stderr.contains("lumen-argus-aarch64-apple-darwin: not listed"), "{stderr}");
    assert!(!stderr.contains("lumen-argus-agent-x86_64-pc-windows-msvc.exe"), "a good file was reported: {stderr}");
}
