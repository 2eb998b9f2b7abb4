//! `cargo xtask smoke` against stand-in executables that misbehave on purpose: each failure is a
//! clear error within the deadline, and nothing the stand-in started is left running.

// Unix only: the stand-in sidecars exec shell scripts (std::os::unix) that misbehave.
#![cfg(unix)]

mod stand_ins;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::*;

/// A Python stand-in for the agent relay: announces a port and answers with `routes`.
const FAKE_SERVER: &str = r#"#!/usr/bin/env python3
import http.server, json, sys
ROUTES = json.load(open(sys.argv[0].removesuffix(".script") + ".routes"))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = ROUTES.get(self.path, [404, "{}"])
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
"#;

fn stand_in(folder: &Path, binary: &str, script: &str) -> PathBuf {
    stand_ins::stand_in(folder, &format!("{binary}-{}", host_triple()), script)
}

fn fake_relay(folder: &Path, routes: serde_json::Value) -> PathBuf {
    let path = stand_in(folder, "lumen-argus-agent", FAKE_SERVER);
    std::fs::write(format!("{}.routes", path.display()), routes.to_string()).unwrap();
    path
}

/// Run smoke on one file; return (exit code, stderr, seconds taken).
fn smoke(binary: &Path, timeout: &str) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let output = xtask(&repository_root(), &["smoke", "--timeout", timeout, "--binary", binary.to_str().unwrap()]);
    (output.status.code(), text(&output.stderr) + &text(&output.stdout), started.elapsed())
}

fn assert_refused(binary: &Path, timeout: &str, expected: &str) -> String {
    let (code, output, took) = smoke(binary, timeout);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("error: "), "{output}");
    assert!(output.contains(expected), "expected {expected:?} in:\n{output}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    output
}

fn alive(pid: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-0", pid.trim()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_binary_that_exits_at_start() {
    let folder = tempfile::tempdir().unwrap();
    let binary = stand_in(folder.path(), "lumen-argus-agent", "#!/bin/sh\necho 'boom: missing library' >&2\nexit 3\n");
    let output = assert_refused(&binary, "20", "exited during startup");
    assert!(output.contains("boom: missing library"), "the sidecar's output is shown:\n{output}");
}

#[test]
fn a_binary_that_never_listens_is_stopped_with_its_children() {
    let folder = tempfile::tempdir().unwrap();
    let pid_file = folder.path().join("child.pid");
    let script = format!("#!/bin/sh\nsleep 120 &\necho $! > {}\nwait\n", pid_file.display());
    let binary = stand_in(folder.path(), "lumen-argus-agent", &script);
    let (code, output, took) = smoke(&binary, "2");
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("never announced its ports"), "{output}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let child = std::fs::read_to_string(&pid_file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(&child) {
        assert!(Instant::now() < deadline, "the stand-in's child {child} outlived the smoke test");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_binary_that_answers_500() {
    let folder = tempfile::tempdir().unwrap();
    let binary = fake_relay(folder.path(), serde_json::json!({"/health": [500, "{\"error\": \"boom\"}"]}));
    assert_refused(&binary, "3", "/health never answered 200");
}

#[test]
fn a_binary_that_answers_garbage() {
    let folder = tempfile::tempdir().unwrap();
    let binary =
        fake_relay(folder.path(), serde_json::json!({"/health": [200, "{}"], "/api/v1/build": [200, "<html>"]}));
    assert_refused(&binary, "20", "non-JSON");
}

#[test]
fn a_binary_that_reports_another_build_id() {
    let folder = tempfile::tempdir().unwrap();
    let report = serde_json::json!({
        "service": "lumen-argus-agent", "version": "0", "git_commit": "unknown",
        "build_id": format!("sha256:{}", "0".repeat(64)), "built_at": "unknown", "plugins": []
    });
    let binary = fake_relay(
        folder.path(),
        serde_json::json!({"/health": [200, "{}"], "/api/v1/build": [200, report.to_string()]}),
    );
    let output = assert_refused(&binary, "20", &format!("build_id is sha256:{}", "0".repeat(64)));
    assert!(output.contains(&format!("the file is sha256:{}", sha256_hex(&binary))), "{output}");
}

#[test]
fn a_checksum_file_that_disagrees() {
    let folder = tempfile::tempdir().unwrap();
    let binary = fake_relay(folder.path(), serde_json::json!({"/health": [200, "{}"]}));
    std::fs::write(format!("{}.sha256", binary.display()), format!("{}  name\n", "f".repeat(64))).unwrap();
    assert_refused(&binary, "20", "but the file hashes to");
}

#[test]
fn a_missing_file_and_an_unknown_name() {
    let folder = tempfile::tempdir().unwrap();
    assert_refused(&folder.path().join(format!("lumen-argus-{}", host_triple())), "5", "no such file");
    let mystery = stand_in(folder.path(), "mystery", "#!/bin/sh\nexit 0\n");
    assert_refused(&mystery, "5", "no package declares a sidecar named `mystery`");
    let unnamed = stand_ins::stand_in(folder.path(), "lumen-argus", "#!/bin/sh\nexit 0\n");
    assert_refused(&unnamed, "5", "not named <binary>-<triple>");
}

/// Smoke needs the commit, not a build time: a `SOURCE_DATE_EPOCH` that `sidecar` and `build-info`
/// refuse (xtask/tests/bad_input_build.rs) does not stop it.
#[test]
fn a_bad_source_date_epoch_does_not_stop_smoke() {
    let folder = tempfile::tempdir().unwrap();
    let binary = fake_relay(folder.path(), serde_json::json!({}));
    let root = repository_root();
    let head = std::process::Command::new("git").current_dir(&root).args(["rev-parse", "HEAD"]).output().unwrap();
    let shown = xtask(&root, &["bump", "--show", "--json"]);
    succeeded(&shown, "bump --show --json");
    let versions: serde_json::Value = serde_json::from_str(&text(&shown.stdout)).unwrap();
    let agent = versions.as_array().unwrap().iter().find(|entry| entry["package"] == "agent").unwrap();
    let report = serde_json::json!({
        "service": "lumen-argus-agent", "version": agent["version"], "git_commit": text(&head.stdout).trim(),
        "build_id": format!("sha256:{}", sha256_hex(&binary)), "built_at": "unknown", "plugins": []
    });
    let routes = serde_json::json!({"/health": [200, "{}"], "/api/v1/build": [200, report.to_string()]});
    std::fs::write(format!("{}.routes", binary.display()), routes.to_string()).unwrap();
    let mut smoke = xtask_command(&root, &["smoke", "--timeout", "20", "--binary", binary.to_str().unwrap()]);
    let output = smoke.env("SOURCE_DATE_EPOCH", "garbage").output().unwrap();
    succeeded(&output, "smoke with SOURCE_DATE_EPOCH=garbage");
    assert!(text(&output.stdout).contains("| pass |"), "{}", text(&output.stdout));
}
