//! Ctrl-C (SIGINT) and SIGTERM sent to the real `cargo xtask` binary in the middle of `bump` and
//! `checksums`, at a moment the test observes (not after a guessed sleep): the command exits 130
//! with an `error: interrupted` line and writes nothing, and no child it started is left running.

// Linux only: the moment to signal is read from /proc/<pid>/fd, and the signals are sent with `kill`.
#![cfg(target_os = "linux")]

mod support;

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use support::*;

fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -{signal} failed");
}

fn alive(pid: &str) -> bool {
    Command::new("kill").args(["-0", pid]).stderr(std::process::Stdio::null()).status().unwrap().success()
}

fn assert_interrupted(output: &Output, what: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{what}: {stderr}");
    assert!(stderr.contains("error: interrupted"), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

fn git_status(clone: &Path) -> String {
    text(&Command::new("git").args(["status", "--porcelain", "--ignored"]).current_dir(clone).output().unwrap().stdout)
}

/// Regression (issue 12, class 6): `bump` ignored SIGINT/SIGTERM and finished writing (exit 0), or
/// exited 1 with an empty reason when its `uv lock` child died. A uv whose `lock` takes long (it
/// records its pid, then waits) gives the test a moment to observe; then the signal goes to the
/// xtask alone, as `kill` or a supervisor sends it.
#[test]
fn an_interrupted_bump_exits_130_and_writes_nothing() {
    let (folder, clone) = fresh_clone();
    let before = git_status(&clone);
    let slow_uv = folder.path().join("slow-uv");
    std::fs::write(
        &slow_uv,
        format!(
            "#!/bin/sh\nif [ \"$1\" = lock ]; then echo $$ > \"$UV_LOCK_PID\"; exec sleep 60; fi\nexec '{}' \"$@\"\n",
            uv_path().display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&slow_uv).status().unwrap();
    for signal in ["INT", "TERM"] {
        let pid_file = folder.path().join(format!("uv-lock-{signal}.pid"));
        let child = xtask_command(&clone, &["bump", "core", "minor"])
            .env("XTASK_UV", &slow_uv)
            .env("UV_LOCK_PID", &pid_file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_until("uv lock to start", Duration::from_secs(60), || {
            std::fs::read_to_string(&pid_file).is_ok_and(|pid| pid.ends_with('\n'))
        });
        send(&child, signal);
        let started = Instant::now();
        let output = child.wait_with_output().unwrap();
        assert_interrupted(&output, &format!("bump with SIG{signal}"));
        assert!(started.elapsed() < Duration::from_secs(20), "the interrupt took {:?}", started.elapsed());
        assert_eq!(git_status(&clone), before, "SIG{signal} during uv lock changed the clone");
        let uv_lock_pid = std::fs::read_to_string(&pid_file).unwrap();
        assert!(!alive(uv_lock_pid.trim()), "uv lock (pid {}) outlived the interrupt", uv_lock_pid.trim());
    }
    // The next run is not disturbed by the interrupted ones.
    succeeded(&xtask(&clone, &["bump", "core", "minor", "--dry-run"]), "dry run after the interrupts");
}

/// Ctrl-C while a short command runs (here `git log`, asked for the commit by `build-info`): the
/// signal goes to the xtask alone, the command still answers, and the xtask stops with 130 instead
/// of taking the answer and writing `_build_info.py`.
#[test]
fn an_interrupt_during_a_short_command_exits_130_and_writes_nothing() {
    let (folder, clone) = fresh_clone();
    let before = git_status(&clone);
    let real_git = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join("git"))
        .find(|path| path.is_file())
        .expect("git on PATH");
    let slow_git_folder = folder.path().join("slow-git");
    std::fs::create_dir(&slow_git_folder).unwrap();
    let slow_git = slow_git_folder.join("git");
    std::fs::write(
        &slow_git,
        format!(
            "#!/bin/sh\ncase \"$*\" in *\"log -1\"*) echo $$ > \"$GIT_LOG_PID\"; sleep 3;; esac\nexec '{}' \"$@\"\n",
            real_git.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&slow_git).status().unwrap();
    let path = std::env::join_paths(
        std::iter::once(slow_git_folder).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let pid_file = folder.path().join("git-log.pid");
    let child = xtask_command(&clone, &["build-info"])
        .env("PATH", path)
        .env("GIT_LOG_PID", &pid_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("git log to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|pid| pid.ends_with('\n'))
    });
    send(&child, "INT");
    let output = child.wait_with_output().unwrap();
    assert_interrupted(&output, "build-info with SIGINT during git log");
    // Only target/ (the build lock) may appear; no `_build_info.py` was written.
    let after = git_status(&clone).replace("!! target/\n", "");
    assert_eq!(after, before, "an interrupted build-info changed the clone");
}

/// The files of `dir` with their bytes (not following links).
fn snapshot(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.metadata().unwrap().len()))
        .collect();
    files.sort();
    files
}

/// Regression (issue 12, class 6): `checksums` ignored SIGINT/SIGTERM and wrote its files. A big
/// (sparse) artifact keeps it hashing long enough to see it open the file in /proc; the signal then
/// arrives before the commit point, so neither checksums.txt nor release-notes.md appears.
#[test]
fn an_interrupted_checksums_exits_130_and_writes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    let big = dir.join("lumen-argus-x86_64-unknown-linux-gnu");
    std::fs::File::create(&big).unwrap().set_len(768 << 20).unwrap();
    // The right hash (from the standard tool), so that without the interrupt the run would succeed
    // and write both files: what the test sees is the interrupt, not a mismatch.
    let listed = Command::new("sha256sum").arg(&big).current_dir(dir).output().unwrap();
    let hex = text(&listed.stdout).split_whitespace().next().unwrap().to_string();
    std::fs::write(
        dir.join("lumen-argus-x86_64-unknown-linux-gnu.sha256"),
        format!("{hex}  lumen-argus-x86_64-unknown-linux-gnu\n"),
    )
    .unwrap();
    let before = snapshot(dir);
    for signal in ["INT", "TERM"] {
        let child = xtask_command(&repository_root(), &["checksums", dir.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let fd_folder = format!("/proc/{}/fd", child.id());
        wait_until("checksums to open the artifact", Duration::from_secs(30), || {
            std::fs::read_dir(&fd_folder)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == big))
                })
                .unwrap_or(false)
        });
        send(&child, signal);
        let output = child.wait_with_output().unwrap();
        assert_interrupted(&output, &format!("checksums with SIG{signal}"));
        assert_eq!(snapshot(dir), before, "SIG{signal} left a file behind");
    }
}
