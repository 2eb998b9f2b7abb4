//! Builds that are interrupted, raced or fail half-way, with real processes in one fresh clone:
//! Ctrl-C during the first `uv sync` is recovered by the next run; a build whose inputs change
//! under PyInstaller is neither cached nor published; a second build of the clone is refused while
//! the first publishes (and caches) binaries that report the right version and commit; `dist/`
//! keeps only this build's archives and a manifest that matches the files after a failure.

// Unix only: Ctrl-C is SIGINT sent with `kill`, to a child in a process group of its own.
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use support::*;

/// A running xtask whose stderr is collected, with a signal when a line containing `wanted` appears.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    seen: mpsc::Receiver<()>,
}

fn start(clone: &Path, args: &[&str], wanted: &'static str, environment: &[(&str, &str)]) -> Running {
    let mut command = xtask_command(clone, args);
    // A process group of its own, as a terminal gives a job: Ctrl-C goes to the whole group.
    command.process_group(0).stdout(Stdio::null()).stderr(Stdio::piped());
    for (name, value) in environment {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let pipe = child.stderr.take().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let (seen_tx, seen) = mpsc::channel();
    let collected = Arc::clone(&stderr);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if line.contains(wanted) {
                let _ = seen_tx.send(());
            }
            let mut text = collected.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    Running { child, stderr, seen }
}

impl Running {
    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(300);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the xtask did not finish in time");
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader thread ends with the pipe; give it a moment to hand over the last lines.
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr.lock().unwrap().clone();
        (status.code(), stderr)
    }

    fn wait_for_line(&self, what: &str) {
        if self.seen.recv_timeout(Duration::from_secs(180)).is_err() {
            panic!("never saw {what}:\n{}", self.stderr.lock().unwrap());
        }
    }
}

fn assert_clean_failure(stderr: &str) {
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{stderr}");
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cache_entries(clone: &Path) -> Vec<PathBuf> {
    let cache = clone.join("target/sidecar-cache");
    let Ok(entries) = std::fs::read_dir(&cache) else { return Vec::new() };
    entries.map(|entry| entry.unwrap().path()).filter(|path| path.is_dir()).collect()
}

fn names_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Every manifest record names a file in `dist` with the recorded size and hash; returns the records.
fn manifest_matching_disk(dist: &Path) -> Vec<serde_json::Value> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("manifest.json")).unwrap()).unwrap();
    let artifacts = manifest["artifacts"].as_array().unwrap().clone();
    for artifact in &artifacts {
        let file = dist.join(artifact["file"].as_str().unwrap());
        assert!(file.is_file(), "the manifest lists {} but it is not in dist/", file.display());
        assert_eq!(artifact["sha256"].as_str().unwrap(), sha256_hex(&file), "{}", file.display());
        assert_eq!(artifact["size"].as_u64().unwrap(), std::fs::metadata(&file).unwrap().len());
    }
    artifacts
}

fn write_with_checksum(dist: &Path, name: &str, contents: &str) {
    std::fs::write(dist.join(name), contents).unwrap();
    std::fs::write(dist.join(format!("{name}.sha256")), format!("{}  {name}\n", sha256_hex(&dist.join(name)))).unwrap();
}

#[test]
fn interrupted_raced_and_failing_builds_leave_a_correct_cache_and_dist() {
    let (_folder, clone) = fresh_clone();
    let triple = host_triple();
    let dist = clone.join("dist");
    let head = text(&Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&clone).output().unwrap().stdout)
        .trim()
        .to_string();
    let agent_binary = format!("lumen-argus-agent-{triple}");
    let agent_args = ["sidecar", "--package", "agent", "--no-cache"];

    // 1. Ctrl-C (SIGINT to the job's process group) while the first `uv sync` fills .venv.
    //    Copying one package at a time instead of linking keeps uv busy for about two seconds.
    let slow_sync = [("UV_LINK_MODE", "copy"), ("UV_CONCURRENT_INSTALLS", "1")];
    let first = start(&clone, &agent_args, "never printed", &slow_sync);
    wait_until(".venv to appear", || clone.join(".venv").exists());
    let group = first.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", "--", &format!("-{group}")]).status().unwrap().success());
    let (code, stderr) = first.finish();
    assert_eq!(code, Some(130), "an interrupted sync exits 130:\n{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    assert!(!stderr.contains("uv.lock does not match"), "an interrupt is not the lock's fault:\n{stderr}");
    assert_clean_failure(&stderr);

    // 2. The next run repairs .venv, saying so. While its PyInstaller runs, its _build_info.py
    //    disappears (what a second build finishing first used to do): the binary must be refused,
    //    neither cached nor published.
    let generated = clone.join("packages/agent/lumen_argus_agent/_build_info.py");
    let tampered = start(&clone, &agent_args, "building with PyInstaller", &[]);
    tampered.wait_for_line("PyInstaller starting after the interrupted sync");
    std::fs::remove_file(&generated).unwrap();
    let (code, stderr) = tampered.finish();
    assert!(
        stderr.contains("is unusable (the last `uv sync` in this clone did not finish); removing it"),
        "the run after an interrupted sync says it recreates .venv:\n{stderr}"
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("changed while PyInstaller ran") && stderr.contains("_build_info.py was removed"),
        "{stderr}"
    );
    assert!(stderr.contains("neither cached nor published"), "{stderr}");
    assert_clean_failure(&stderr);
    assert_eq!(cache_entries(&clone), Vec::<PathBuf>::new(), "a binary built from damaged inputs was cached");
    assert!(!dist.join(&agent_binary).exists(), "a binary built from damaged inputs was published");

    // 3. dist/ as an earlier build of another version left it, plus files the xtask never made.
    let stale_agent = format!("lumen-argus-agent-0.0.1-{triple}.tar.gz");
    let stale_proxy = format!("lumen-argus-0.0.1-{triple}.tar.gz");
    let foreign = [
        "notes.txt".to_string(),
        "lumen-argus-agent-0.0.1-aarch64-apple-darwin.tar.gz".to_string(),
        format!("lumen-argus-agent-custom-{triple}.tar.gz"),
    ];
    std::fs::create_dir_all(&dist).unwrap();
    for name in [&stale_agent, &stale_proxy] {
        write_with_checksum(&dist, name, &format!("old archive {name}"));
    }
    for name in &foreign {
        std::fs::write(dist.join(name), "not made by this build").unwrap();
    }
    let stale_record = |name: &str| {
        serde_json::json!({"file": name, "kind": "archive", "triple": triple, "package": "agent", "version": "0.0.1",
            "size": std::fs::metadata(dist.join(name)).unwrap().len(), "sha256": sha256_hex(&dist.join(name)),
            "build_seconds": 1.0, "cached": false, "git_commit": "unknown", "python": "3", "pyinstaller": "6"})
    };
    let seeded = serde_json::json!({"artifacts": [stale_record(&stale_agent), stale_record(&stale_proxy)]});
    std::fs::write(dist.join("manifest.json"), seeded.to_string()).unwrap();

    // 4. Two builds of the clone at once: the second is refused, naming the first; the first
    //    publishes and caches a binary that reports this version and commit.
    let builder = start(&clone, &agent_args, "building with PyInstaller", &[]);
    builder.wait_for_line("PyInstaller of the first build");
    let second = xtask(&clone, &agent_args);
    let second_stderr = text(&second.stderr);
    let first_pid = builder.child.id();
    assert_eq!(second.status.code(), Some(1), "{second_stderr}");
    assert!(
        second_stderr.contains(&format!("error: another build is running (pid {first_pid})")),
        "the second build names the first:\n{second_stderr}"
    );
    assert!(second_stderr.contains("hint: wait for it to finish"), "{second_stderr}");
    let build_info = xtask(&clone, &["build-info"]);
    assert_eq!(build_info.status.code(), Some(1), "build-info must not rewrite files a build is reading");
    assert!(text(&build_info.stderr).contains("another build is running"));
    let (code, stderr) = builder.finish();
    assert_eq!(code, Some(0), "the first build:\n{stderr}");
    assert!(!generated.exists(), "the generated build info is removed after the build");

    let published = dist.join(&agent_binary);
    let entries = cache_entries(&clone);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let cached = entries[0].join("lumen-argus-agent");
    assert_eq!(sha256_hex(&cached), sha256_hex(&published), "the cache holds exactly the published binary");
    // The smoke test runs the binary and compares what it reports with the workspace: version,
    // HEAD's commit and its own hash.
    let smoke = xtask(&clone, &["smoke", "--binary", published.to_str().unwrap()]);
    succeeded(&smoke, "smoke of the published agent");
    let report = text(&smoke.stdout);
    assert!(report.contains("pass"), "{report}");
    let version_in_binary = manifest_matching_disk(&dist)
        .iter()
        .find(|record| record["file"] == agent_binary.as_str())
        .map(|record| (record["version"].as_str().unwrap().to_string(), record["git_commit"].clone()))
        .unwrap();
    assert_eq!(version_in_binary.1, head.as_str());
    assert!(
        text(&Command::new(&published).arg("--version").output().unwrap().stdout).contains(&version_in_binary.0),
        "the binary's --version reports {}",
        version_in_binary.0
    );

    // dist/ hygiene: the other version's archive of this binary and triple is gone with its
    // checksum and record; what the xtask did not make (or did not rebuild) is untouched.
    let names = names_in(&dist);
    assert!(!names.contains(&stale_agent) && !names.contains(&format!("{stale_agent}.sha256")), "{names:?}");
    for name in foreign.iter().chain([&stale_proxy]) {
        assert!(names.contains(name), "{name} was removed: {names:?}");
    }
    let files: Vec<String> =
        manifest_matching_disk(&dist).iter().map(|r| r["file"].as_str().unwrap().to_string()).collect();
    assert!(!files.contains(&stale_agent), "{files:?}");
    assert!(files.contains(&stale_proxy), "records of sidecars not rebuilt are kept: {files:?}");

    // 5. One sidecar fails after the other was published: the manifest follows the files. The
    //    proxy's work folder is damaged (its output folder is a file); the agent comes from the cache.
    let proxy_work = clone.join("target/sidecar").join(triple).join("lumen-argus");
    std::fs::create_dir_all(&proxy_work).unwrap();
    std::fs::write(proxy_work.join("out"), "not a folder").unwrap();
    let failing = xtask(&clone, &["sidecar"]);
    let stderr = text(&failing.stderr);
    assert_eq!(failing.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: 1 sidecar(s) failed: lumen-argus: clearing"), "{stderr}");
    assert!(stderr.contains("[lumen-argus-agent] cached:"), "{stderr}");
    assert_clean_failure(&stderr);
    let records = manifest_matching_disk(&dist);
    let agent_record = records.iter().find(|record| record["file"] == agent_binary.as_str()).unwrap();
    assert_eq!(agent_record["cached"], true, "the failed run recorded what it published");
    let names = names_in(&dist);
    assert!(!names.contains(&stale_proxy), "an earlier proxy build stays beside a new agent: {names:?}");
    assert!(records.iter().all(|record| record["package"] != "proxy"), "{records:?}");
    for name in &foreign {
        assert!(names.contains(name), "{name} was removed: {names:?}");
    }
}
