//! `cargo xtask smoke` walked through bad input and hostile sidecars. Every case asserts the exit
//! code, an `error:` line naming the cause, that no process a stand-in started is left (each
//! stand-in writes its pid, and its children theirs, to `$STAND_IN_PIDS`), and that the xtask's
//! temp folder (`TMPDIR`) is empty afterwards: no `_MEI*` extraction folder, no private folder.

// Unix only: the stand-in sidecars exec shell scripts (std::os::unix), with FIFOs and permission bits.
#![cfg(unix)]

mod stand_ins;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use stand_ins::{make_executable, stand_in};
use support::*;

const AGENT: &str = "lumen-argus-agent";

/// A folder per case: `work` for the files a case passes, `temp` as the xtask's TMPDIR, and
/// `pids` where stand-ins note their processes.
struct Case {
    _root: tempfile::TempDir,
    work: PathBuf,
    temp: PathBuf,
    pids: PathBuf,
}

impl Case {
    fn new() -> Case {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("work");
        let temp = root.path().join("temp");
        std::fs::create_dir(&work).unwrap();
        std::fs::create_dir(&temp).unwrap();
        let pids = root.path().join("pids");
        std::fs::write(&pids, "").unwrap();
        Case { work, temp, pids, _root: root }
    }

    /// A stand-in named `<binary>-<host triple>` in `work`.
    fn sidecar(&self, binary: &str, script: &str) -> PathBuf {
        stand_in(&self.work, &format!("{binary}-{}", host_triple()), script)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = xtask_command(&repository_root(), &[&["smoke"], args].concat());
        command.env("TMPDIR", &self.temp).env("STAND_IN_PIDS", &self.pids).stdin(Stdio::null());
        command
    }

    /// Run smoke with `args`; check the verdict and clean-up; return all output.
    fn smoke(&self, args: &[&str], expected_code: i32, expected: &[&str]) -> String {
        let started = Instant::now();
        let output = self.command(args).output().unwrap();
        let took = started.elapsed();
        self.check(&output, took, expected_code, expected)
    }

    fn check(&self, output: &Output, took: Duration, expected_code: i32, expected: &[&str]) -> String {
        let all = text(&output.stderr) + &text(&output.stdout);
        assert_eq!(output.status.code(), Some(expected_code), "{all}");
        if expected_code != 0 {
            assert!(text(&output.stderr).lines().any(|line| line.starts_with("error: ")), "no error line:\n{all}");
        }
        for part in expected {
            assert!(all.contains(part), "expected {part:?} in:\n{all}");
        }
        for sign in ["panicked", "RUST_BACKTRACE", "internal error"] {
            assert!(!all.contains(sign), "{sign:?} in:\n{all}");
        }
        assert!(took < Duration::from_secs(40), "took {took:?}");
        self.assert_nothing_left();
        all
    }

    fn noted_pids(&self) -> Vec<u32> {
        std::fs::read_to_string(&self.pids).unwrap().split_whitespace().map(|pid| pid.parse().unwrap()).collect()
    }

    fn assert_nothing_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for pid in self.noted_pids() {
            while alive(pid) {
                assert!(Instant::now() < deadline, "stand-in process {pid} outlived the smoke test");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let left: Vec<String> = std::fs::read_dir(&self.temp)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.is_empty(), "left in the temp folder: {left:?}");
    }
}

/// Running and not a zombie.
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) == 0 };
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false);
    exists && !zombie
}

fn path_text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A shell stand-in that notes its pid, then runs `body`.
fn shell(body: &str) -> String {
    format!("#!/bin/sh\necho $$ >> \"$STAND_IN_PIDS\"\n{body}\n")
}

/// A Python relay that notes its pid, writes `prelude` raw to stdout, then serves /health and a
/// correct /api/v1/build (identity from `<binary>.identity`, build_id from the file's bytes).
const GOOD_RELAY: &str = r#"#!/usr/bin/env python3
import hashlib, http.server, json, os, sys
binary = sys.argv[0].removesuffix(".script")
with open(os.environ["STAND_IN_PIDS"], "a") as pids:
    pids.write(f"{os.getpid()}\n")
sys.stdout.buffer.write(bytes.fromhex(open(binary + ".prelude").read()))
sys.stdout.flush()
identity = json.load(open(binary + ".identity"))
identity["build_id"] = "sha256:" + hashlib.sha256(open(binary, "rb").read()).hexdigest()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(identity if self.path == "/api/v1/build" else {"status": "ready"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
"#;

fn agent_version() -> String {
    let pyproject = std::fs::read_to_string(repository_root().join("packages/agent/pyproject.toml")).unwrap();
    let line = pyproject.lines().find(|line| line.starts_with("version = ")).unwrap();
    line.trim_start_matches("version = ").trim_matches('"').to_string()
}

fn head_commit() -> String {
    let output = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(repository_root()).output().unwrap();
    text(&output.stdout).trim().to_string()
}

fn good_relay(folder: &Path, file_name: &str, prelude: &[u8]) -> PathBuf {
    let path = stand_in(folder, file_name, GOOD_RELAY);
    let hex: String = prelude.iter().map(|byte| format!("{byte:02x}")).collect();
    std::fs::write(format!("{}.prelude", path.display()), hex).unwrap();
    let identity = serde_json::json!({
        "service": AGENT, "version": agent_version(), "git_commit": head_commit(),
        "built_at": "unknown", "plugins": []
    });
    std::fs::write(format!("{}.identity", path.display()), identity.to_string()).unwrap();
    path
}

/// A copy of the launcher whose ELF header claims the other CPU.
#[cfg(target_os = "linux")]
fn with_foreign_cpu(folder: &Path, file_name: &str) -> (PathBuf, &'static str) {
    let (machine, foreign_linux): (u16, _) = if std::env::consts::ARCH == "x86_64" {
        (0xb7, "aarch64-unknown-linux-gnu")
    } else {
        (0x3e, "x86_64-unknown-linux-gnu")
    };
    let mut bytes = std::fs::read(stand_ins::launcher()).unwrap();
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    let path = folder.join(file_name.replace("{foreign}", foreign_linux));
    std::fs::write(&path, bytes).unwrap();
    make_executable(&path);
    (path, foreign_linux)
}

// ---- refused before anything starts ----

#[test]
fn a_folder() {
    let case = Case::new();
    let folder = case.work.join(format!("{AGENT}-{}", host_triple()));
    std::fs::create_dir(&folder).unwrap();
    case.smoke(&["--binary", path_text(&folder)], 1, &["is a folder, not a sidecar"]);
}

#[test]
fn a_missing_file() {
    let case = Case::new();
    let missing = case.work.join(format!("{AGENT}-{}", host_triple()));
    case.smoke(&["--binary", path_text(&missing)], 1, &["no such file"]);
}

#[test]
fn a_file_that_is_not_executable() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("exit 0"));
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    case.smoke(&["--binary", path_text(&binary)], 1, &["is not executable", "hint: chmod +x"]);
}

#[test]
fn an_empty_file() {
    let case = Case::new();
    let binary = case.work.join(format!("{AGENT}-{}", host_triple()));
    std::fs::write(&binary, "").unwrap();
    make_executable(&binary);
    case.smoke(&["--binary", path_text(&binary)], 1, &["is empty"]);
}

#[test]
fn a_fifo() {
    let case = Case::new();
    let fifo = case.work.join(format!("{AGENT}-{}", host_triple()));
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    case.smoke(&["--binary", path_text(&fifo)], 1, &["is not a regular file"]);
}

#[test]
fn a_script_instead_of_a_binary() {
    let case = Case::new();
    let script = case.work.join(format!("{AGENT}-{}", host_triple()));
    std::fs::write(&script, shell("exit 0")).unwrap();
    make_executable(&script);
    case.smoke(&["--binary", path_text(&script)], 1, &["not an executable format this tool knows"]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_linux_binary_named_for_macos() {
    let case = Case::new();
    let named_for_mac = case.sidecar(AGENT, &shell("exit 0"));
    let renamed = case.work.join(format!("{AGENT}-aarch64-apple-darwin"));
    std::fs::rename(&named_for_mac, &renamed).unwrap();
    std::fs::rename(format!("{}.script", named_for_mac.display()), format!("{}.script", renamed.display())).unwrap();
    case.smoke(&["--binary", path_text(&renamed)], 1, &["the binary is Elf", "aarch64-apple-darwin needs MachO"]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_binary_of_the_other_cpu_named_for_this_machine() {
    let case = Case::new();
    let (binary, _) = with_foreign_cpu(&case.work, &format!("{AGENT}-{}", host_triple()));
    case.smoke(&["--binary", path_text(&binary)], 1, &[&format!("but {} needs Elf", host_triple())]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_correct_binary_of_a_triple_this_machine_cannot_run() {
    let case = Case::new();
    let (binary, foreign) = with_foreign_cpu(&case.work, &format!("{AGENT}-{{foreign}}"));
    let output = case.smoke(&["--binary", path_text(&binary)], 1, &[&format!("cannot run {foreign} binaries")]);
    assert!(output.contains("hint: smoke test them on a ubuntu-"), "the runner is named:\n{output}");
}

#[test]
fn an_unknown_binary_name() {
    let case = Case::new();
    let mystery = case.sidecar("mystery", &shell("exit 0"));
    case.smoke(&["--binary", path_text(&mystery)], 1, &["no package declares a sidecar named `mystery`"]);
}

#[test]
fn a_name_without_a_triple() {
    let case = Case::new();
    let plain = stand_in(&case.work, AGENT, &shell("exit 0"));
    case.smoke(&["--binary", path_text(&plain)], 1, &["not named <binary>-<triple>[.exe]"]);
}

#[test]
fn a_name_with_control_characters_is_shown_escaped() {
    let case = Case::new();
    let hostile = case.sidecar("evil\u{1b}[2J\u{7}", &shell("exit 0"));
    let output = case.smoke(&["--binary", path_text(&hostile)], 1, &["evil\\u{1b}[2J\\u{7}"]);
    assert!(!output.contains('\u{1b}') && !output.contains('\u{7}'), "raw control characters in:\n{output:?}");
}

#[test]
fn a_name_with_spaces_and_unicode() {
    let case = Case::new();
    let odd = case.sidecar("lümen argus ✓", &shell("exit 0"));
    case.smoke(&["--binary", path_text(&odd)], 1, &["no package declares a sidecar named `lümen argus ✓`"]);
}

#[test]
fn a_timeout_of_zero() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("sleep 30"));
    case.smoke(&["--timeout", "0", "--binary", path_text(&binary)], 2, &["--timeout 0 leaves a sidecar no time"]);
    assert!(case.noted_pids().is_empty(), "nothing may start");
}

#[test]
fn a_timeout_beyond_the_clock() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("sleep 30"));
    let huge = u64::MAX.to_string();
    case.smoke(&["--timeout", &huge, "--binary", path_text(&binary)], 2, &["is more than a day"]);
}

#[test]
fn a_checksum_file_that_disagrees() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("sleep 30"));
    std::fs::write(format!("{}.sha256", binary.display()), format!("{}  x\n", "f".repeat(64))).unwrap();
    case.smoke(&["--binary", path_text(&binary)], 1, &["but the file hashes to"]);
    assert!(case.noted_pids().is_empty(), "a binary that is not the published one is never started");
}

#[test]
fn a_checksum_file_that_is_a_folder() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("sleep 30"));
    std::fs::create_dir(format!("{}.sha256", binary.display())).unwrap();
    case.smoke(&["--binary", path_text(&binary)], 1, &[".sha256 is a folder, not a checksum file"]);
}

#[test]
fn a_checksum_file_that_is_not_utf8() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("sleep 30"));
    std::fs::write(format!("{}.sha256", binary.display()), b"\xff\xfe\x00garbage").unwrap();
    case.smoke(&["--binary", path_text(&binary)], 1, &[".sha256 is not UTF-8 text"]);
}

#[test]
fn a_checksum_file_without_a_hash() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("sleep 30"));
    std::fs::write(format!("{}.sha256", binary.display()), "see the release page\n").unwrap();
    case.smoke(&["--binary", path_text(&binary)], 1, &["does not start with a SHA-256"]);
}

// ---- sidecars that misbehave once started ----

#[test]
fn a_sidecar_that_never_prints_its_port() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("sleep 120"));
    case.smoke(&["--timeout", "2", "--binary", path_text(&binary)], 1, &["never announced its ports"]);
    assert_eq!(case.noted_pids().len(), 1);
}

#[test]
fn a_sidecar_that_floods_its_output() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("exec yes 'flooding the pipe'"));
    let output =
        case.smoke(&["--timeout", "2", "--binary", path_text(&binary)], 1, &["never announced its ports", "flooding"]);
    assert!(output.lines().filter(|line| *line == "flooding the pipe").count() <= 20, "only the tail is shown");
}

#[test]
fn a_sidecar_that_floods_without_newlines() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("tr '\\000' x < /dev/zero"));
    let output = case.smoke(&["--timeout", "2", "--binary", path_text(&binary)], 1, &["never announced its ports"]);
    assert!(output.len() < 4 * 1024 * 1024, "the shown tail is bounded: {} bytes", output.len());
}

#[test]
fn a_sidecar_that_exits_early() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell("echo 'boom: missing library' >&2\nexit 3"));
    case.smoke(&["--binary", path_text(&binary)], 1, &["exited during startup", "boom: missing library"]);
}

/// A grandchild that calls setsid (a new session and group) and sleeps.
const SETSID_GRANDCHILD: &str = "python3 -c 'import os, time; os.setsid(); \
     open(os.environ[\"STAND_IN_PIDS\"], \"a\").write(str(os.getpid()) + \"\\n\"); time.sleep(120)' &";

#[test]
fn a_sidecar_with_a_setsid_grandchild() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell(&format!("{SETSID_GRANDCHILD}\nsleep 120")));
    case.smoke(&["--timeout", "3", "--binary", path_text(&binary)], 1, &["never announced its ports"]);
    assert_eq!(case.noted_pids().len(), 2, "the grandchild started and was stopped");
}

#[test]
fn a_sidecar_that_exits_leaving_a_setsid_grandchild() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell(&format!("{SETSID_GRANDCHILD}\nsleep 1\nexit 4")));
    case.smoke(&["--timeout", "10", "--binary", path_text(&binary)], 1, &["exited during startup"]);
    assert_eq!(case.noted_pids().len(), 2, "the grandchild started and was stopped");
}

#[test]
fn a_sidecar_killed_before_it_removes_its_extraction_folder() {
    let case = Case::new();
    // As a one-file bootloader does: unpack into $TMPDIR/_MEI*, and (never, here) clean up.
    let binary = case
        .sidecar(AGENT, &shell("mkdir \"$TMPDIR/_MEI123456\"\ntouch \"$TMPDIR/_MEI123456/libpython.so\"\nsleep 120"));
    case.smoke(&["--timeout", "2", "--binary", path_text(&binary)], 1, &["never announced its ports"]);
}

#[test]
fn a_sidecar_that_prints_bytes_that_are_not_utf8() {
    let case = Case::new();
    let binary = good_relay(&case.work, &format!("{AGENT}-{}", host_triple()), b"\xff\xfe\xc3( not text\n");
    case.smoke(&["--timeout", "20", "--binary", path_text(&binary)], 0, &["| pass |"]);
}

#[test]
fn a_good_sidecar_in_a_folder_with_spaces_and_unicode() {
    let case = Case::new();
    let folder = case.work.join("my builds ✓ été");
    std::fs::create_dir(&folder).unwrap();
    let binary = good_relay(&folder, &format!("{AGENT}-{}", host_triple()), b"");
    case.smoke(&["--timeout", "20", "--binary", path_text(&binary)], 0, &["| pass |"]);
}

#[test]
fn an_interrupted_smoke_stops_its_sidecar_and_removes_its_temp_folder() {
    let case = Case::new();
    let binary = case.sidecar(AGENT, &shell(&format!("{SETSID_GRANDCHILD}\nmkdir \"$TMPDIR/_MEI654321\"\nsleep 120")));
    let started = Instant::now();
    let mut smoke: Child = case
        .command(&["--timeout", "60", "--binary", path_text(&binary)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while case.noted_pids().len() < 2 {
        assert!(Instant::now() < deadline, "the stand-in never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill only sends a signal.
    unsafe {
        libc::kill(smoke.id() as libc::pid_t, libc::SIGINT);
    }
    let _ = &mut smoke;
    let output = smoke.wait_with_output().unwrap();
    case.check(&output, started.elapsed(), 130, &["interrupted"]);
}

#[test]
fn a_dist_folder_holding_a_script_under_a_sidecar_name() {
    let case = Case::new();
    let (_folder, clone) = fresh_clone();
    let dist = clone.join("dist");
    std::fs::create_dir(&dist).unwrap();
    for binary in [AGENT, "lumen-argus"] {
        let path = dist.join(format!("{binary}-{}", host_triple()));
        std::fs::write(&path, shell("sleep 30")).unwrap();
        make_executable(&path);
    }
    let started = Instant::now();
    let mut command = xtask_command(&clone, &["smoke"]);
    command.env("TMPDIR", &case.temp).env("STAND_IN_PIDS", &case.pids).stdin(Stdio::null());
    let output = command.output().unwrap();
    let all = case.check(&output, started.elapsed(), 1, &["not an executable format this tool knows"]);
    assert!(all.contains("hint: rebuild it: cargo xtask sidecar"), "{all}");
    assert!(case.noted_pids().is_empty(), "nothing may start");
}
