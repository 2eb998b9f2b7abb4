//! `scripts/install.sh` against a local `python3 -m http.server`: a good release installs, a
//! tampered binary or a missing file installs nothing and says why.

// Unix only: scripts/install.sh is a POSIX shell installer for Linux and macOS.
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use support::*;

/// A static file server on loopback, killed when dropped.
struct FileServer {
    child: Child,
    port: u16,
}

impl FileServer {
    fn serve(dir: &Path) -> FileServer {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port =
            line.split(" port ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap().parse().unwrap();
        FileServer { child, port }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn release(dir: &Path, proxy_contents: &[u8]) -> String {
    let file = format!("lumen-argus-{}", host_triple());
    std::fs::write(dir.join(&file), b"#!/bin/sh\necho proxy\n").unwrap();
    let listed = format!("{}  {file}\n", sha256_hex(&dir.join(&file)));
    std::fs::write(dir.join("checksums.txt"), listed).unwrap();
    std::fs::write(dir.join(&file), proxy_contents).unwrap();
    file
}

fn install(server: &FileServer, destination: &Path, extra: &[&str]) -> Output {
    Command::new("sh")
        .arg(repository_root().join("scripts/install.sh"))
        .args(["--base-url", &format!("http://127.0.0.1:{}", server.port), "--to"])
        .arg(destination)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_verified_binary_is_installed_with_mode_0755() {
    let served = tempfile::tempdir().unwrap();
    release(served.path(), b"#!/bin/sh\necho proxy\n");
    let server = FileServer::serve(served.path());
    let destination = tempfile::tempdir().unwrap();
    let output = install(&server, &destination.path().join("bin"), &["--version", "v0.0.0"]);
    succeeded(&output, "install.sh");
    let installed = destination.path().join("bin/lumen-argus");
    assert_eq!(std::fs::read(&installed).unwrap(), b"#!/bin/sh\necho proxy\n");
    assert_eq!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(text(&output.stdout).contains("installed lumen-argus-"));
    let leftovers: Vec<_> = std::fs::read_dir(destination.path().join("bin")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the binary is left");
}

#[test]
fn a_tampered_binary_installs_nothing_and_keeps_the_old_one() {
    let served = tempfile::tempdir().unwrap();
    release(served.path(), b"#!/bin/sh\necho evil\n");
    let server = FileServer::serve(served.path());
    let destination = tempfile::tempdir().unwrap();
    std::fs::write(destination.path().join("lumen-argus"), b"old version").unwrap();
    let output = install(&server, destination.path(), &[]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: checksum mismatch for lumen-argus-"), "{stderr}");
    assert!(stderr.contains("hint: nothing was installed"), "{stderr}");
    assert_eq!(std::fs::read(destination.path().join("lumen-argus")).unwrap(), b"old version");
    assert_eq!(std::fs::read_dir(destination.path()).unwrap().count(), 1);
}

#[test]
fn a_failed_download_installs_nothing() {
    let served = tempfile::tempdir().unwrap();
    release(served.path(), b"#!/bin/sh\necho proxy\n");
    let server = FileServer::serve(served.path());
    let destination = tempfile::tempdir().unwrap();
    let output = install(&server, &destination.path().join("bin"), &["--binary", "lumen-argus-agent"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("error: could not download"), "{}", text(&output.stderr));
    assert!(!destination.path().join("bin/lumen-argus-agent").exists());
}

/// A command line the script cannot take exits 2 (as the xtask's usage errors do) with the fix,
/// before anything is downloaded.
#[test]
fn bad_options_are_usage_errors() {
    let cases: [(&[&str], &str); 16] = [
        (&["--binary", "nope"], "error: unknown binary: nope"),
        (&["--to"], "error: --to needs a value"),
        (&["--version", ""], "error: --version needs a value"),
        (&["--bogus"], "error: unknown option: --bogus"),
        (&["extra"], "error: unknown option: extra"),
        (&["--version", "1.2.3"], "error: --version 1.2.3 is not a release tag"),
        (&["--version", "v"], "error: --version v is not a release tag"),
        (&["--version", "vX"], "error: --version vX is not a release tag"),
        (&["--version", "v1.2.3 "], "is not a release tag"),
        (&["--version", "v1.2 3"], "is not a release tag"),
        (&["--version", "v1.2.3/../../x"], "is not a release tag"),
        (&["--version", "v1.2.3;true"], "is not a release tag"),
        (&["--base-url", "ftp://mirror.example/x"], "error: --base-url ftp://mirror.example/x is not an https://"),
        (&["--base-url", "mirror.example/x"], "is not an https://, http:// or file:// address"),
        (&["--base-url", "https://"], "is not an https://, http:// or file:// address"),
        (&["--base-url", " https://mirror.example/x"], "is not an https://, http:// or file:// address"),
    ];
    // The server holds a release that installs: a bad flag value must stop the script before that.
    let served = tempfile::tempdir().unwrap();
    release(served.path(), b"#!/bin/sh\necho proxy\n");
    let server = FileServer::serve(served.path());
    let destination = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", server.port);
    for (args, expected) in cases {
        // Flags before the bad one that would otherwise download: a mirror and a destination.
        let output = Command::new("sh")
            .arg(repository_root().join("scripts/install.sh"))
            .args(["--base-url", &url, "--to"])
            .arg(destination.path())
            .args(args)
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains("\nhint: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("download"), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(destination.path()).unwrap().count(), 0, "something was installed");
    // Release tags as GitHub has them are taken.
    for version in ["v1.2.3", "v1.2.3rc1", "v0.2.0.post1", "v1!2.0"] {
        let output = install(&server, &destination.path().join(version), &["--version", version]);
        succeeded(&output, version);
    }
}

/// The names in a folder, sorted (not following links).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Regression (issue 12, class 11): when `DEST/<binary>` was a folder, the binary was moved inside
/// it as a hidden file and the script reported success. Any destination that is not a regular file
/// (a folder, a symlink to a folder or to a file, a fifo) is refused, and nothing is left behind.
#[test]
fn a_destination_that_is_not_a_regular_file_is_refused_and_nothing_is_left() {
    let served = tempfile::tempdir().unwrap();
    release(served.path(), b"#!/bin/sh\necho proxy\n");
    let server = FileServer::serve(served.path());
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("file"), b"someone else's file").unwrap();
    type Make = fn(&Path, &Path);
    let cases: [(&str, Make, &str); 4] = [
        ("a folder", |target, _| std::fs::create_dir(target).unwrap(), "is not a regular file"),
        ("a symlink to a folder", |target, other| std::os::unix::fs::symlink(other, target).unwrap(), "is a symlink"),
        (
            "a symlink to a file",
            |target, other| std::os::unix::fs::symlink(other.join("file"), target).unwrap(),
            "is a symlink",
        ),
        (
            "a fifo",
            |target, _| assert!(Command::new("mkfifo").arg(target).status().unwrap().success()),
            "is not a regular file",
        ),
    ];
    for (what, make, expected) in cases {
        let destination = tempfile::tempdir().unwrap();
        let target = destination.path().join("lumen-argus");
        make(&target, elsewhere.path());
        let before_destination = listing(destination.path());
        let before_elsewhere = listing(elsewhere.path());
        let output = install(&server, destination.path(), &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("error: {}", target.display())) && stderr.contains(expected),
            "{what}: {stderr}"
        );
        assert!(stderr.contains("hint: ") && !text(&output.stdout).contains("installed"), "{what}: {stderr}");
        assert_eq!(listing(destination.path()), before_destination, "{what}: the destination changed");
        assert_eq!(listing(elsewhere.path()), before_elsewhere, "{what}: the link's target changed");
        if std::fs::symlink_metadata(&target).unwrap().is_dir() {
            assert!(listing(&target).is_empty(), "{what}: something was put inside the folder");
        }
    }
    assert_eq!(std::fs::read(elsewhere.path().join("file")).unwrap(), b"someone else's file");
}
