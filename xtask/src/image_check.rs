//! `cargo xtask image-check`: the test of a built Docker image before it is pushed. The image is
//! started with a random dashboard password on loopback ports Docker picks; `/health` must answer
//! 200, `/api/v1/build` 401 without a session and, after a login, the proxy's version. The
//! container is removed however the check ends, and its logs are shown when it fails.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::failure::{refuse, refuse_usage};
use crate::flags::ImageCheckFlags;
use crate::workspace::Workspace;
use crate::{gha, process};

/// The ports the image's `CMD` serves: the proxy (with `/health`) and the dashboard.
const PROXY_PORT: u16 = 8080;
const DASHBOARD_PORT: u16 = 8081;

/// How long a `docker` command other than `run` may take (`port`, `logs`, `rm`).
const DOCKER_COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// The Docker command line; `XTASK_DOCKER` names another program with the same commands (the
/// tests' stand-in).
fn docker_program() -> String {
    std::env::var("XTASK_DOCKER").ok().filter(|value| !value.is_empty()).unwrap_or_else(|| "docker".to_string())
}

pub fn run(flags: &ImageCheckFlags) -> anyhow::Result<()> {
    if flags.image.trim().is_empty() || flags.image.starts_with('-') {
        return Err(refuse_usage(
            format!("--image {:?} is not an image name", flags.image),
            "give the tag the image was built and loaded with, e.g. --image lumen-argus:ci",
        ));
    }
    if flags.timeout == 0 || flags.timeout > 3600 {
        return Err(refuse_usage(format!("--timeout {} is out of range", flags.timeout), "give 1 to 3600 seconds"));
    }
    let workspace = Workspace::discover()?;
    let proxy = workspace
        .sidecar_packages(None)?
        .into_iter()
        .find(|sidecar_package| sidecar_package.sidecar.smoke.password_env.is_some())
        .context("no package of the workspace declares a password-protected service (the proxy)")?;
    let password_env = proxy.sidecar.smoke.password_env.clone().unwrap_or_default();
    let password = crate::smoke::random_password();
    let docker = docker_program();
    let sh = Shell::new()?;
    let image = &flags.image;
    let proxy_publish = format!("127.0.0.1::{PROXY_PORT}");
    let dashboard_publish = format!("127.0.0.1::{DASHBOARD_PORT}");
    let limit = Duration::from_secs(flags.timeout);
    let deadline = Instant::now() + limit;
    // `--env NAME` without a value: the password reaches the container from docker's own
    // environment, never on a command line another user can read. `--pull never`: an image that
    // was not built and loaded here is refused, not fetched from a registry.
    // A name chosen here, so the container is removed (when `container` is dropped) whatever
    // `docker run` printed and however it ended: stopped at its limit, interrupted, failed.
    let name = format!("xtask-image-check-{}", &crate::smoke::random_password()[..16]);
    let container = Container { docker: docker.clone(), id: name.clone() };
    let run = cmd!(
        sh,
        "{docker} run --detach --rm --pull never --name {name} --publish {proxy_publish} --publish {dashboard_publish} --env {password_env} {image}"
    )
    .env(&password_env, &password);
    let started = process::run_within(run, limit)?;
    let started = started.stdout_if_success().map_err(|error| {
        let message = format!("the image did not start: {error:#}");
        let hint = not_started_hint(&message, image);
        refuse(message, hint)
    })?;
    if container_id(&started).is_none() {
        bail!("`docker run --detach` printed {started:?}, not a container id");
    }
    let checked = check(&container, &password, &proxy.package.version, deadline);
    if let Err(error) = &checked {
        let id = &container.id;
        let logs = process::run_within(cmd!(sh, "{docker} logs --tail 30 {id}"), DOCKER_COMMAND_LIMIT);
        let logs = logs.map(|finished| finished.stdout).unwrap_or_default();
        let last: Vec<&str> = logs.lines().collect();
        if !last.is_empty() {
            eprintln!("the container's last lines:");
            for line in &last[last.len().saturating_sub(30)..] {
                eprintln!("  {}", line.chars().take(500).collect::<String>());
            }
        }
        gha::error_annotation(&format!("image-check {image}: {error:#}"));
    }
    drop(container);
    checked?;
    println!("{image}: /health 200, /api/v1/build 401 without a session, {} after a login", proxy.package.version);
    gha::step_summary(&format!(
        "### Image check\n\n`{image}`: `/health` 200, `/api/v1/build` 401 without a session, version {} after a login\n",
        proxy.package.version
    ))?;
    Ok(())
}

/// A container by its name, removed (stopped first) when dropped; one that was never created is
/// fine.
struct Container {
    docker: String,
    id: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let (docker, id) = (&self.docker, &self.id);
        let removed = Shell::new()
            .map_err(anyhow::Error::from)
            .and_then(|sh| process::run_within(cmd!(sh, "{docker} rm --force {id}"), DOCKER_COMMAND_LIMIT))
            .and_then(|finished| {
                let never_created = finished.stderr_tail.iter().any(|line| line.contains("No such container"));
                if never_created { Ok(String::new()) } else { finished.stdout_if_success() }
            });
        if let Err(error) = removed {
            eprintln!("warning: the container may still run ({error:#}); remove it yourself: {docker} rm --force {id}");
        }
    }
}

fn check(container: &Container, password: &str, version: &str, deadline: Instant) -> anyhow::Result<()> {
    let proxy = published_port(container, PROXY_PORT)?;
    let dashboard = published_port(container, DASHBOARD_PORT)?;
    let agent = crate::smoke::http_agent();
    let health = format!("http://127.0.0.1:{proxy}/health");
    loop {
        let last = match crate::smoke::get(&agent, &health, None) {
            Ok((200, _)) => break,
            Ok((status, body)) => format!("{status} {body:?}"),
            Err(error) => format!("{error:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{health} never answered 200 (last: {last})");
        }
        std::thread::sleep(Duration::from_millis(250));
        // Ctrl-C ends the wait; dropping the container removes it.
        process::check_interrupted()?;
    }
    let build = format!("http://127.0.0.1:{dashboard}/api/v1/build");
    let (status, body) = crate::smoke::get(&agent, &build, None)?;
    if status != 401 {
        bail!("/api/v1/build without a session answered {status} {body:?}, expected 401");
    }
    let cookie = crate::smoke::login(&agent, &format!("http://127.0.0.1:{dashboard}/login"), password)?;
    let (status, body) = crate::smoke::get(&agent, &build, Some(&cookie))?;
    let reported: Value = serde_json::from_str(&body).with_context(|| format!("{build} answered {status} {body:?}"))?;
    if status != 200 || reported["version"].as_str() != Some(version) {
        bail!("/api/v1/build after a login answered {status} {body:?}, expected version {version}");
    }
    Ok(())
}

/// The loopback port Docker published for a container port (`docker port ID 8080/tcp`).
fn published_port(container: &Container, port: u16) -> anyhow::Result<u16> {
    let (docker, id) = (&container.docker, &container.id);
    let sh = Shell::new()?;
    let spec = format!("{port}/tcp");
    let answer =
        process::run_within(cmd!(sh, "{docker} port {id} {spec}"), DOCKER_COMMAND_LIMIT)?.stdout_if_success()?;
    parse_published_port(&answer).with_context(|| format!("`docker port` answered {answer:?} for {spec}"))
}

/// The port of the first `HOST:PORT` line (`127.0.0.1:49153`, `[::1]:49153`).
fn parse_published_port(answer: &str) -> Option<u16> {
    answer.lines().find_map(|line| line.trim().rsplit_once(':')?.1.parse().ok())
}

/// The id `docker run --detach` printed: the first line that is one (12 to 64 hex digits), as
/// long as one was printed, whatever else was.
fn container_id(printed: &str) -> Option<String> {
    printed
        .lines()
        .map(str::trim)
        .find(|line| (12..=64).contains(&line.len()) && line.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// What a local user does when `docker run` failed: start the engine when docker could not reach
/// it, else build and load the image for this machine (CI does it with build-push-action).
fn not_started_hint(message: &str, image: &str) -> String {
    if message.contains("Cannot connect to the Docker daemon") || message.contains("docker daemon is not running") {
        return "start the Docker engine (`docker info` shows whether it answers), then run again".to_string();
    }
    format!(
        "build and load it for this machine first: docker build -t {} . (in CI: docker/build-push-action with \
         load: true)",
        crate::failure::shell_quote(image)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_user_is_told_to_start_docker_or_build_the_image() {
        let no_engine = "the image did not start: `docker run ...` failed (exit status: 125: docker: Cannot \
                         connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)";
        assert!(not_started_hint(no_engine, "lumen-argus:ci").starts_with("start the Docker engine"));
        let no_image = "the image did not start: `docker run ...` failed (Unable to find image 'x:ci' locally)";
        assert!(
            not_started_hint(no_image, "x:ci")
                .starts_with("build and load it for this machine first: docker build -t x:ci .")
        );
    }

    #[test]
    fn reads_the_published_port_of_either_address_family() {
        assert_eq!(parse_published_port("127.0.0.1:49153\n"), Some(49153));
        assert_eq!(parse_published_port("[::1]:49154"), Some(49154));
        assert_eq!(parse_published_port("0.0.0.0:1\n[::]:1\n"), Some(1));
        assert_eq!(parse_published_port("Error: No public port '8080/tcp' published"), None);
        assert_eq!(parse_published_port(""), None);
    }

    #[test]
    fn a_container_id_is_the_last_line_in_hex() {
        let id = "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e";
        assert_eq!(container_id(&format!("Unable to find image locally\n{id}\n")).as_deref(), Some(id));
        assert_eq!(container_id(&format!("{id}\nWARNING: something else\n")).as_deref(), Some(id));
        assert_eq!(container_id("docker: invalid reference format"), None);
        assert_eq!(container_id(""), None);
    }
}
