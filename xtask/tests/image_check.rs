//! `cargo xtask image-check` without a Docker engine: a stand-in `docker` (fixtures/
//! docker_stand_in.py) runs the real proxy from the repository's virtualenv as the image's CMD
//! would, on loopback. What only an engine proves (the image itself) is docker.yml's job.
//!
//! Unix only: the stand-in is started through a `#!/bin/sh` wrapper.
#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::*;

struct StandInDocker {
    folder: tempfile::TempDir,
    program: PathBuf,
}

impl StandInDocker {
    fn new() -> StandInDocker {
        let folder = tempfile::tempdir().unwrap();
        let script = repository_root().join("xtask/tests/fixtures/docker_stand_in.py");
        let program = folder.path().join("docker");
        std::fs::write(&program, format!("#!/bin/sh\nexec python3 '{}' \"$@\"\n", script.display())).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        StandInDocker { folder, program }
    }

    fn state(&self) -> &Path {
        self.folder.path()
    }

    fn image_check(&self, image: &str) -> Output {
        let proxy = repository_root().join(".venv/bin/lumen-argus");
        assert!(proxy.is_file(), "{} is missing: run `uv sync` first", proxy.display());
        xtask_command(&repository_root(), &["image-check", "--image", image, "--timeout", "30"])
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
    assert!(stderr.contains("hint: build it for this machine's platform and load it first"), "{stderr}");
    for bad in ["", "--rm"] {
        let output = xtask(&repository_root(), &["image-check", "--image", bad]);
        assert_eq!(output.status.code(), Some(2), "--image {bad:?}: {}", text(&output.stderr));
    }
}
