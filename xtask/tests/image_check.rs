//! `cargo xtask image-check` without a Docker engine: a stand-in `docker` (fixtures/
//! docker_stand_in.py) runs the real proxy from the repository's virtualenv as the image's CMD
//! would, on loopback. What only an engine proves (the image itself) is docker.yml's job.
//!
//! Unix only: the stand-in is a `#!/usr/bin/env python3` script run as a program.
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::*;

struct StandInDocker {
    folder: tempfile::TempDir,
    program: PathBuf,
    /// Starts the containers, as a Docker daemon would: outside the xtask's process tree.
    engine: std::process::Child,
}

impl Drop for StandInDocker {
    fn drop(&mut self) {
        let _ = self.engine.kill();
        let _ = self.engine.wait();
        // Any container a failed test left behind.
        for entry in std::fs::read_dir(self.folder.path()).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|extension| extension == "json") {
                let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                if let Some(pid) = state["pid"].as_i64() {
                    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
                }
            }
        }
    }
}

impl StandInDocker {
    fn new() -> StandInDocker {
        let folder = tempfile::tempdir().unwrap();
        // Executable in git (a script written here and run at once can fail with ETXTBSY while
        // another test thread forks).
        let program = repository_root().join("xtask/tests/fixtures/docker_stand_in.py");
        let engine = std::process::Command::new(&program)
            .arg("engine")
            .env("DOCKER_STAND_IN_STATE", folder.path())
            .env("DOCKER_STAND_IN_PROXY", repository_root().join(".venv/bin/lumen-argus"))
            .spawn()
            .unwrap();
        StandInDocker { folder, program, engine }
    }

    fn state(&self) -> &Path {
        self.folder.path()
    }

    fn image_check(&self, image: &str) -> Output {
        self.image_check_within(image, 30)
    }

    fn image_check_within(&self, image: &str, timeout: u64) -> Output {
        let proxy = repository_root().join(".venv/bin/lumen-argus");
        assert!(proxy.is_file(), "{} is missing: run `uv sync` first", proxy.display());
        xtask_command(&repository_root(), &["image-check", "--image", image, "--timeout", &timeout.to_string()])
            .env("XTASK_DOCKER", &self.program)
            .env("DOCKER_STAND_IN_STATE", self.state())
            .env("DOCKER_STAND_IN_PROXY", proxy)
            .output()
            .unwrap()
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.state().join("calls")).unwrap_or_default()
    }

    /// Containers the stand-in still holds (each has a state file until `rm`).
    fn containers_left(&self) -> usize {
        std::fs::read_dir(self.state())
            .unwrap()
            .filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|extension| extension == "json"))
            .count()
    }
}

#[test]
fn a_working_image_passes_and_its_container_is_removed() {
    let docker = StandInDocker::new();
    let output = docker.image_check("lumen-argus:ci");
    succeeded(&output, "image-check of a working image");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("/health 200, /api/v1/build 401 without a session"), "{stdout}");
    assert_eq!(docker.containers_left(), 0, "the container was not removed: {}", docker.calls());
    // The password reaches the container through the environment, never on a command line.
    let run = docker.calls().lines().find(|line| line.starts_with("run ")).unwrap().to_string();
    assert!(run.contains("--env LUMEN_ARGUS_DASHBOARD_PASSWORD "), "{run}");
    assert!(!run.contains("PASSWORD="), "{run}");
    assert!(run.contains("--publish 127.0.0.1::8080") && run.contains("--publish 127.0.0.1::8081"), "{run}");
    assert!(run.contains("--pull never"), "an image not loaded here must not be pulled: {run}");
    assert!(run.contains("--name xtask-image-check-"), "named before it starts, so it can always be removed: {run}");
}

#[test]
fn an_image_that_answers_without_a_login_fails_and_shows_its_logs() {
    let docker = StandInDocker::new();
    let output = docker.image_check("lumen-argus:no-password");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("/api/v1/build without a session answered 200"), "{stderr}");
    assert!(stderr.contains("the container's last lines:"), "{stderr}");
    assert!(stderr.contains("listening on"), "the proxy's own output is shown: {stderr}");
    assert_eq!(docker.containers_left(), 0, "a failed check left its container: {}", docker.calls());
}

#[test]
fn an_image_that_does_not_exist_is_refused_with_how_to_build_it() {
    let docker = StandInDocker::new();
    let output = docker.image_check("lumen-argus:never-built");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: the image did not start") && stderr.contains("Unable to find image"), "{stderr}");
    assert!(
        stderr.contains("hint: build and load it for this machine first: docker build -t lumen-argus:never-built ."),
        "{stderr}"
    );
    for bad in ["", "--rm"] {
        let output = xtask(&repository_root(), &["image-check", "--image", bad]);
        assert_eq!(output.status.code(), Some(2), "--image {bad:?}: {}", text(&output.stderr));
    }
}

#[test]
fn an_engine_that_hangs_is_given_up_on_at_the_timeout_and_its_container_removed() {
    let docker = StandInDocker::new();
    let started = std::time::Instant::now();
    let output = docker.image_check_within("lumen-argus:hangs", 2);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("did not finish within 2 s"), "{}", text(&output.stderr));
    // 2 s, the stop's grace for a `docker` that ignores SIGTERM, and the removal.
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    assert!(docker.calls().lines().any(|line| line.starts_with("rm --force ")), "{}", docker.calls());
    assert_eq!(docker.containers_left(), 0, "{}", docker.calls());
}
