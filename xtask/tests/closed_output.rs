//! The real xtask with its stdout (and stderr) already closed, as in `cargo xtask ... | head -1`:
//! no command may print a panic message or a backtrace, whatever `RUST_BACKTRACE` says.

// Unix only: stdout is a `libc::pipe` whose read end is closed, so every write fails with EPIPE.
#![cfg(unix)]

mod support;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::*;

/// A pipe whose read end is already closed: every write to the returned end fails with EPIPE.
fn closed_pipe() -> OwnedFd {
    let mut ends = [0; 2];
    // SAFETY: pipe writes two descriptors into the array of two it is given.
    assert_eq!(unsafe { libc::pipe(ends.as_mut_ptr()) }, 0, "pipe() failed");
    // SAFETY: both descriptors were just created and nothing else owns them.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    drop(read_end);
    write_end
}

/// Run the xtask in `dir` with stdout closed, stderr captured, and backtraces asked for.
fn with_stdout_closed(dir: &Path, args: &[&str]) -> Output {
    xtask_command(dir, args)
        .env("RUST_BACKTRACE", "full")
        .stdin(Stdio::null())
        .stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn assert_quiet_stop(output: &Output, what: &str) {
    let stderr = text(&output.stderr);
    for sign in ["panicked", "RUST_BACKTRACE", "stack backtrace", "internal error"] {
        assert!(!stderr.contains(sign), "{what}: {sign:?} in stderr:\n{stderr}");
    }
    assert_eq!(output.status.code(), Some(141), "{what}: a closed stdout stops like SIGPIPE would\n{stderr}");
}

#[test]
fn commands_that_print_stop_quietly_when_stdout_is_closed() {
    let (_folder, clone) = fresh_clone();
    let artifacts = tempfile::tempdir().unwrap();
    let binary = artifacts.path().join("lumen-argus-x86_64-unknown-linux-gnu");
    std::fs::write(&binary, b"binary").unwrap();
    std::fs::write(
        artifacts.path().join("lumen-argus-x86_64-unknown-linux-gnu.sha256"),
        format!("{}  lumen-argus-x86_64-unknown-linux-gnu\n", sha256_hex(&binary)),
    )
    .unwrap();
    let artifacts_dir = artifacts.path().to_str().unwrap();

    for args in [
        &["bump", "core", "1.0", "--dry-run"][..],
        &["bump", "--show"],
        &["bump", "--show", "--json"],
        &["doctor"],
        &["checksums", artifacts_dir],
        &["checksums", "--verify", artifacts_dir],
    ] {
        let output = with_stdout_closed(&clone, args);
        assert_quiet_stop(&output, &args.join(" "));
    }
    // No half-written file: the folder holds the inputs and, at most, complete outputs.
    let mut names: Vec<String> = std::fs::read_dir(artifacts.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let expected = ["checksums.txt", "release-notes.md"].contains(&name.as_str())
            || name.starts_with("lumen-argus-x86_64-unknown-linux-gnu");
        assert!(expected, "left behind: {name} (all: {names:?})");
    }
    if names.iter().any(|name| name == "checksums.txt") {
        assert_standard_tools_accept(artifacts.path(), "checksums.txt");
    }
    // The bump printed its diff only: nothing in the clone changed on the way out.
    let status = Command::new("git").args(["status", "--porcelain"]).current_dir(&clone).output().unwrap();
    assert_eq!(text(&status.stdout), "", "the interrupted dry run changed files");
}

#[test]
fn help_and_usage_errors_survive_a_closed_stdout() {
    for args in [&["--help"][..], &["smoke", "--help"], &["--version-of-nothing"]] {
        let output = with_stdout_closed(&repository_root(), args);
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{args:?}:\n{stderr}");
        assert!(matches!(output.status.code(), Some(0 | 2)), "{args:?}: {:?}\n{stderr}", output.status);
    }
}

#[test]
fn a_failure_with_stdout_and_stderr_closed_still_exits_with_its_code() {
    // A usage error (exit 2) and any other failure (exit 1).
    let cases: [(&[&str], i32); 2] =
        [(&["bump", "no-such-package", "patch", "--dry-run"], 2), (&["checksums", "no/such/folder"], 1)];
    for (args, code) in cases {
        let output = xtask_command(&repository_root(), args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(closed_pipe()))
            .stderr(Stdio::from(closed_pipe()))
            .status()
            .unwrap();
        assert_eq!(
            output.code(),
            Some(code),
            "{args:?}: the error could not be printed, but the exit code still says why"
        );
    }
}
