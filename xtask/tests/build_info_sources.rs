//! `cargo xtask build-info` where the source comes from: a shallow clone (the commit is HEAD), an
//! export without `.git` (`unknown`, a warning, exit 0), and `SOURCE_DATE_EPOCH` for the time; its lock follows
//! `CARGO_TARGET_DIR`.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn generated(root: &Path) -> String {
    std::fs::read_to_string(root.join("packages/agent/lumen_argus_agent/_build_info.py")).unwrap()
}

#[test]
fn a_shallow_clone_records_head_and_source_date_epoch_sets_the_time() {
    let folder = tempfile::tempdir().unwrap();
    let clone = folder.path().join("shallow");
    // `file://C:/...` on Windows: git takes a drive letter after `file://`, with forward slashes.
    let url = format!("file://{}", repository_root().display().to_string().replace('\\', "/"));
    let status = Command::new("git").args(["clone", "--quiet", "--depth", "1", &url]).arg(&clone).status().unwrap();
    assert!(status.success());
    let head = text(&Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&clone).output().unwrap().stdout);
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build-info", "--package", "agent"])
        .current_dir(&clone)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    succeeded(&output, "build-info");
    let text_of_file = generated(&clone);
    assert!(text_of_file.contains(&format!("GIT_COMMIT = \"{}\"", head.trim())), "{text_of_file}");
    assert!(text_of_file.contains("BUILT_AT = \"2023-11-14T22:13:20Z\""), "{text_of_file}");
    assert!(!clone.join("packages/proxy/lumen_argus/_build_info.py").exists(), "--package agent touched proxy");
}

#[test]
fn an_export_without_git_reports_unknown_with_a_warning() {
    let folder = tempfile::tempdir().unwrap();
    let archive =
        Command::new("git").args(["archive", "--format=tar", "HEAD"]).current_dir(repository_root()).output().unwrap();
    assert!(archive.status.success());
    let export = folder.path().join("export");
    std::fs::create_dir(&export).unwrap();
    let mut untar = Command::new("tar")
        .arg("-xf")
        .arg("-")
        .current_dir(&export)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(untar.stdin.as_mut().unwrap(), &archive.stdout).unwrap();
    drop(untar.stdin.take());
    assert!(untar.wait().unwrap().success());
    let output = xtask(&export, &["build-info"]);
    let stderr = succeeded(&output, "build-info in an export");
    assert!(stderr.contains("warning:") && stderr.contains("GIT_COMMIT will be `unknown`"), "{stderr}");
    assert!(generated(&export).contains("GIT_COMMIT = \"unknown\""));
    let version_line = generated(&export).lines().find(|line| line.starts_with("VERSION = ")).unwrap().to_string();
    assert!(version_line.len() > "VERSION = \"\"".len(), "{version_line}");
}

/// The xtask's own files follow `CARGO_TARGET_DIR` as Cargo's do, in a folder per clone: the build
/// lock lands there, the clone gets no `target/` of its own, and two clones sharing one
/// `CARGO_TARGET_DIR` build at the same time without taking each other's lock.
#[test]
fn the_xtask_files_follow_cargo_target_dir() {
    let (_folder, clone) = fresh_clone();
    let (_other_folder, other_clone) = fresh_clone();
    let shared = tempfile::tempdir().unwrap();
    let locks = || -> Vec<std::path::PathBuf> {
        let per_clone = std::fs::read_dir(shared.path().join("xtask")).unwrap();
        per_clone.map(|entry| entry.unwrap().path().join("xtask-build.lock")).filter(|lock| lock.is_file()).collect()
    };
    let mut first = xtask_command(&clone, &["build-info", "--package", "agent"])
        .env("CARGO_TARGET_DIR", shared.path())
        .spawn()
        .unwrap();
    let second = xtask_command(&other_clone, &["build-info", "--package", "agent"])
        .env("CARGO_TARGET_DIR", shared.path())
        .output()
        .unwrap();
    assert!(first.wait().unwrap().success(), "build-info in the first clone");
    succeeded(&second, "build-info in a second clone with the same CARGO_TARGET_DIR");
    assert_eq!(locks().len(), 2, "one build lock per clone in CARGO_TARGET_DIR/xtask/");
    assert!(!clone.join("target").exists() && !other_clone.join("target").exists(), "a clone got a target/ folder");
}
