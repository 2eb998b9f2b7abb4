//! The Docker image without a Docker engine: the Dockerfile's own build and install commands run
//! in a fresh clone into a fresh virtualenv, its start command starts the proxy, and its health
//! check command passes against it. What only an engine can prove (the base image, the user, the
//! multi-arch build) is left to docker.yml.
//!
//! Unix only: the image's `RUN` lines are POSIX shell for a Linux image (Windows runners skip it).
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// One instruction of a Dockerfile: the keyword and the rest, continuation lines joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    arguments: String,
}

fn parse_dockerfile(text: &str) -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, arguments) = pending.split_once(char::is_whitespace).unwrap_or((&pending, ""));
        instructions.push(Instruction { keyword: keyword.to_uppercase(), arguments: arguments.trim().to_string() });
        pending.clear();
    }
    instructions
}

/// The instructions of each stage, split at `FROM`.
fn stages(instructions: &[Instruction]) -> Vec<Vec<Instruction>> {
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push(instruction.clone());
        }
    }
    stages
}

fn exec_form(arguments: &str) -> Vec<String> {
    serde_json::from_str(arguments).unwrap_or_else(|error| panic!("not an exec-form JSON array: {arguments}: {error}"))
}

/// A RUN's shell command without its `--mount=...` flags.
fn shell_command(run: &Instruction) -> String {
    let mut rest = run.arguments.as_str();
    while let Some(after) = rest.strip_prefix("--") {
        rest = after.split_once(char::is_whitespace).map_or("", |(_, tail)| tail).trim_start();
    }
    rest.to_string()
}

struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The interpreter the suite builds with (`UV_PYTHON`, set by `cargo xtask test`), else python3.
fn python_for_the_image() -> PathBuf {
    std::env::var_os("UV_PYTHON").map(PathBuf::from).filter(|path| path.is_file()).unwrap_or_else(|| "python3".into())
}

fn run_shell(script: &str, dir: &Path, path_dirs: &[&Path]) {
    let mut search: Vec<PathBuf> = path_dirs.iter().map(|dir| dir.to_path_buf()).collect();
    search.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let output = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env("PATH", std::env::join_paths(search).unwrap())
        .output()
        .unwrap();
    succeeded(&output, script);
}

#[test]
fn the_images_install_start_and_health_check_commands_work_from_the_built_wheels() {
    let (folder, clone) = fresh_clone();
    let dockerfile = std::fs::read_to_string(clone.join("Dockerfile")).unwrap();
    let instructions = parse_dockerfile(&dockerfile);
    let stages = stages(&instructions);
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");

    // The base image's Python is the pinned one.
    let pin = std::fs::read_to_string(clone.join(".python-version")).unwrap().trim().to_string();
    assert!(
        instructions.iter().any(|i| i.keyword == "ARG" && i.arguments == format!("PYTHON_VERSION={pin}")),
        "the Dockerfile's PYTHON_VERSION must be the pinned {pin}"
    );
    let runtime = &stages[1];
    let user = runtime.iter().rfind(|i| i.keyword == "USER").expect("a USER instruction");
    assert!(!["root", "0"].contains(&user.arguments.as_str()), "the image runs as root");
    let labels: String = runtime.iter().filter(|i| i.keyword == "LABEL").map(|i| i.arguments.clone()).collect();
    assert!(labels.contains("org.opencontainers.image.version=\"${VERSION}\""), "{labels}");
    assert!(labels.contains("org.opencontainers.image.revision=\"${GIT_COMMIT}\""), "{labels}");
    let ignored = std::fs::read_to_string(clone.join(".dockerignore")).unwrap();
    for kept_out in ["_build_info.py", "target/", "dist/", ".venv/"] {
        assert!(ignored.lines().any(|line| line.trim().ends_with(kept_out)), ".dockerignore lacks {kept_out}");
    }

    // Stage 1, on this machine: the wheels and the locked requirements.
    let wheels = folder.path().join("wheels");
    let venv = folder.path().join("venv");
    let tools = folder.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    std::os::unix::fs::symlink(python_for_the_image(), tools.join("python")).unwrap();
    std::os::unix::fs::symlink(uv_path(), tools.join("uv")).unwrap();
    let build = stages[0]
        .iter()
        .find(|i| i.keyword == "RUN" && i.arguments.contains("/wheels"))
        .expect("a RUN that builds /wheels");
    run_shell(&shell_command(build).replace("/wheels", &wheels.display().to_string()), &clone, &[&tools]);
    assert!(wheels.join("requirements.txt").is_file());

    // Stage 2: the install command, into a fresh virtualenv.
    let install = runtime.iter().find(|i| i.keyword == "RUN" && i.arguments.contains("venv")).expect("the install RUN");
    let script = shell_command(install)
        .replace("/opt/lumen-argus", &venv.display().to_string())
        .replace("/wheels", &wheels.display().to_string());
    run_shell(&script, folder.path(), &[&tools]);
    let bin = venv.join("bin");

    // The start command, with the ports the image uses swapped for free ones.
    let entrypoint = exec_form(&runtime.iter().rfind(|i| i.keyword == "ENTRYPOINT").unwrap().arguments);
    let cmd = exec_form(&runtime.iter().rfind(|i| i.keyword == "CMD").unwrap().arguments);
    let mut start: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    let port_index = start.iter().position(|arg| arg == "--port").expect("the start command sets --port") + 1;
    let image_port = start[port_index].clone();
    let health = runtime.iter().rfind(|i| i.keyword == "HEALTHCHECK").expect("a HEALTHCHECK");
    let health_json = &health.arguments[health.arguments.find("CMD").unwrap() + 3..];
    let health_command = exec_form(health_json.trim());
    assert!(
        health_command.iter().any(|arg| arg.contains(&format!("127.0.0.1:{image_port}/health"))),
        "the health check must ask the port the proxy listens on ({image_port}): {health_command:?}"
    );
    for flag in ["--port", "--dashboard-port"] {
        let index = start.iter().position(|arg| arg == flag).unwrap() + 1;
        start[index] = "0".into();
    }
    assert!(start.iter().any(|arg| arg == "0.0.0.0"), "the image listens on all interfaces: {start:?}");
    let command_path = bin.join(&start[0]);

    // Without a password the proxy refuses to listen on 0.0.0.0 (docs/reference/api-endpoints.md).
    let refused =
        Command::new(&command_path).args(&start[1..]).env_remove("LUMEN_ARGUS_DASHBOARD_PASSWORD").output().unwrap();
    assert!(!refused.status.success(), "started on 0.0.0.0 without a password");
    assert!(text(&refused.stderr).to_lowercase().contains("password"), "{}", text(&refused.stderr));

    let mut child = Command::new(&command_path)
        .args(&start[1..])
        .env("LUMEN_ARGUS_DASHBOARD_PASSWORD", "a-test-password-of-some-length")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let started = Started(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let line = receiver
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the proxy never printed `listening on`");
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.rsplit(':').next().unwrap().to_string();
        }
    };
    let health_now: Vec<String> = health_command.iter().map(|arg| arg.replace(&image_port, &port)).collect();
    let path_with_venv = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let check = Command::new(&health_now[0]).args(&health_now[1..]).env("PATH", path_with_venv).output().unwrap();
    succeeded(&check, "the HEALTHCHECK command");

    let mut child = started;
    terminate(&child.0);
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM must stop the proxy cleanly");
}

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn the_dockerfile_parser_joins_continuations_and_splits_stages() {
    let parsed = parse_dockerfile("# c\nFROM a AS b\nRUN x \\\n    && y\n\nFROM c\nCMD [\"z\"]\n");
    let keywords: Vec<_> = parsed.iter().map(|i| i.keyword.as_str()).collect();
    assert_eq!(keywords, ["FROM", "RUN", "FROM", "CMD"]);
    assert_eq!(parsed[1].arguments, "x  && y");
    assert_eq!(stages(&parsed).len(), 2);
    let run = Instruction { keyword: "RUN".into(), arguments: "--mount=type=bind,from=w python -m venv v".into() };
    assert_eq!(shell_command(&run), "python -m venv v");
}
