//! `cargo xtask smoke`: start each sidecar on free loopback ports and prove it reports its own
//! identity: `build_id` equal to `sha256:` + the hash of the file on disk (and its `.sha256`),
//! the workspace's version and commit, and, where the service has auth, 401 without a session.
//! Each sidecar gets a private temp folder (PyInstaller unpacks into it), removed once its whole
//! process tree is gone, however the check ended.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::failure::{WithHint, refuse, refuse_usage};
use crate::flags::SmokeFlags;
use crate::process::{ChildOutput, Echo, STOP_GRACE, Supervised};
use crate::targets::Target;
use crate::workspace::{Sidecar, SidecarPackage, SmokeLaunch, Workspace};
use crate::{executable_format, files, gha, hashing, naming, provenance, targets};

/// Lines of a sidecar's output shown when its check fails.
const OUTPUT_TAIL_LINES: usize = 20;

/// The longest `--timeout` taken: a day. Longer is a typo, and would overflow the clock.
const LONGEST_TIMEOUT_SECONDS: u64 = 24 * 60 * 60;

/// One binary to check and what it must report.
#[derive(Debug, Clone)]
pub struct SmokeCase {
    pub path: PathBuf,
    pub file_name: String,
    pub sidecar: Sidecar,
    pub expected_version: String,
    pub expected_commit: String,
}

#[derive(Debug)]
pub struct SmokeResult {
    pub file_name: String,
    /// The milliseconds from start to a report that matched everything, or why the check failed.
    pub verdict: Result<u128, String>,
    pub output_tail: Vec<String>,
}

pub fn run(flags: &SmokeFlags) -> anyhow::Result<()> {
    let timeout = timeout_of(flags.timeout)?;
    let workspace = Workspace::discover()?;
    let commit = provenance::git_commit(&workspace.root)?;
    let cases = if flags.binary.is_empty() {
        cases_for_target(&workspace, flags.target, &commit)?
    } else {
        flags.binary.iter().map(|path| case_for_file(&workspace, path, &commit)).collect::<anyhow::Result<_>>()?
    };
    verify(&cases, timeout).map(|_| ())
}

/// `--timeout` in seconds: at least one, at most a day.
fn timeout_of(seconds: u64) -> anyhow::Result<Duration> {
    match seconds {
        0 => Err(refuse_usage(
            "--timeout 0 leaves a sidecar no time to start",
            "give it at least a few seconds: --timeout 60 is the default",
        )),
        1..=LONGEST_TIMEOUT_SECONDS => Ok(Duration::from_secs(seconds)),
        _ => Err(refuse_usage(
            format!("--timeout {seconds} is more than a day ({LONGEST_TIMEOUT_SECONDS} seconds)"),
            "a sidecar that needs that long is broken: use --timeout 60 (the default) or a few minutes",
        )),
    }
}

/// Check every case, print the table (and the step summary), and fail naming each bad binary.
pub fn verify(cases: &[SmokeCase], timeout: Duration) -> anyhow::Result<Vec<SmokeResult>> {
    let results = check_all(cases, timeout);
    let table = render_table(&results);
    println!("{table}");
    gha::step_summary(&format!("### Smoke test\n\n{table}"))?;
    let failed: Vec<(&SmokeResult, &String)> =
        results.iter().filter_map(|result| Some((result, result.verdict.as_ref().err()?))).collect();
    for (result, _) in &failed {
        eprintln!("--- last lines of {} ---", result.file_name);
        for line in &result.output_tail {
            eprintln!("{line}");
        }
    }
    crate::process::check_interrupted()?;
    match failed.as_slice() {
        [] => Ok(results),
        [(only, failure)] => Err(refuse(
            format!("{}: {failure}", only.file_name),
            "the sidecar's last lines are above; rebuild with `cargo xtask sidecar --no-cache` if the source changed",
        )),
        several => Err(refuse(
            several
                .iter()
                .map(|(result, failure)| format!("{}: {failure}", result.file_name))
                .collect::<Vec<_>>()
                .join("; "),
            "each sidecar's last lines are above",
        )),
    }
}

/// The sidecars in `dist/` for a triple (default: the host's, the only one that can run here).
pub fn cases_for_target(
    workspace: &Workspace,
    target: Option<&'static Target>,
    commit: &str,
) -> anyhow::Result<Vec<SmokeCase>> {
    let target = match target {
        Some(target) => target,
        None => targets::host()?,
    };
    require_runnable_here(target)?;
    let mut cases = Vec::new();
    for sidecar_package in workspace.sidecar_packages(None)? {
        let sidecar = sidecar_package.sidecar;
        let path = workspace.dist_dir().join(naming::sidecar_file_name(&sidecar.binary, target));
        if !path.is_file() {
            return Err(refuse(
                format!("{} is missing", path.display()),
                format!("build it first: cargo xtask sidecar --target {}", target.triple),
            ));
        }
        executable_format::check_file(&path, target)
            .hint(format!("rebuild it: cargo xtask sidecar --target {} --no-cache", target.triple))?;
        cases.push(case(sidecar_package, path, commit));
    }
    Ok(cases)
}

/// Only binaries of this machine's triple can be started here.
fn require_runnable_here(target: &Target) -> anyhow::Result<()> {
    let host = targets::host()?;
    if target == host {
        return Ok(());
    }
    Err(refuse(
        format!("cannot run {} binaries on this {} machine", target.triple, host.triple),
        format!("smoke test them on a {} runner (binaries.yml does)", target.runner),
    ))
}

/// A name as it may be shown on a terminal: control characters escaped, the rest as it is.
pub fn shown_name(name: &str) -> String {
    name.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// A file named `<binary>-<triple>[.exe]`, mapped to the package that declares `<binary>`: a
/// regular, non-empty, executable file whose header matches the triple, which must be this
/// machine's.
fn case_for_file(workspace: &Workspace, path: &Path, commit: &str) -> anyhow::Result<SmokeCase> {
    let file_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let shown_path = shown_name(&path.display().to_string());
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(format!("{shown_path}: no such file"), "pass the path of a built sidecar"));
        }
        Err(error) => {
            return Err(refuse(format!("{shown_path}: cannot read it: {error}"), "pass a sidecar you can read"));
        }
    };
    if metadata.is_dir() {
        return Err(refuse(
            format!("{shown_path} is a folder, not a sidecar"),
            "pass the binary itself, e.g. dist/<binary>-<triple>",
        ));
    }
    if !metadata.is_file() {
        return Err(refuse(
            format!("{shown_path} is not a regular file"),
            "pass the binary itself, e.g. dist/<binary>-<triple>",
        ));
    }
    if metadata.len() == 0 {
        return Err(refuse(format!("{shown_path} is empty"), "rebuild it: cargo xtask sidecar --no-cache"));
    }
    if !files::is_executable(&metadata) {
        return Err(refuse(
            format!("{shown_path} is not executable"),
            format!("chmod +x {shown_path}, or take the binary from its archive, which keeps the mode"),
        ));
    }
    let declared: Vec<&str> = workspace.sidecars().map(|entry| entry.sidecar.binary.as_str()).collect();
    let (binary, target) = naming::parse_sidecar_file_name(&file_name).ok_or_else(|| {
        refuse(
            format!("{}: not named <binary>-<triple>[.exe]", shown_name(&file_name)),
            format!(
                "sidecars are named like {}",
                naming::sidecar_file_name("lumen-argus", targets::host().unwrap_or(&targets::SUPPORTED[0]))
            ),
        )
    })?;
    let sidecar_package = workspace.sidecars().find(|entry| entry.sidecar.binary == binary).ok_or_else(|| {
        refuse(
            format!("{}: no package declares a sidecar named `{}`", shown_name(&file_name), shown_name(binary)),
            format!("declared sidecars: {}", declared.join(", ")),
        )
    })?;
    // As the build does: the header must be the triple's format and CPU, whatever the name says.
    executable_format::check_file(path, target)?;
    require_runnable_here(target)?;
    Ok(case(sidecar_package, path.to_path_buf(), commit))
}

fn case(SidecarPackage { package, sidecar }: SidecarPackage<'_>, path: PathBuf, commit: &str) -> SmokeCase {
    SmokeCase {
        file_name: shown_name(&path.file_name().map(|name| name.to_string_lossy()).unwrap_or_default()),
        path,
        sidecar: sidecar.clone(),
        expected_version: package.version.clone(),
        expected_commit: commit.to_string(),
    }
}

/// Check every case concurrently.
pub fn check_all(cases: &[SmokeCase], timeout: Duration) -> Vec<SmokeResult> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases.iter().map(|case| scope.spawn(move || check_one(case, timeout))).collect();
        handles.into_iter().map(|handle| handle.join().expect("smoke thread panicked")).collect()
    })
}

/// The last lines the sidecar has printed, and the ports it announced.
#[derive(Default)]
struct Observed {
    lines: VecDeque<String>,
    ports: HashMap<String, u16>,
}

fn check_one(case: &SmokeCase, timeout: Duration) -> SmokeResult {
    let started = Instant::now();
    let expected = hashing::sha256_hex_of_file(&case.path).and_then(|file_hash| {
        check_published_checksum(&case.path, &file_hash)?;
        Ok(format!("sha256:{file_hash}"))
    });
    let (verdict, output_tail) = match expected {
        Ok(expected_build_id) => {
            let ran = run_service(&case.path, &case.file_name, &case.sidecar.smoke, timeout, |service| {
                let (status, body) = service.get_build(service.session()?.as_deref())?;
                if status != 200 {
                    bail!("/api/v1/build answered {status}: {body:?}");
                }
                let report: Value =
                    serde_json::from_str(&body).with_context(|| format!("/api/v1/build answered non-JSON {body:?}"))?;
                verify_report(&report, &expected_build_id, case)
            });
            (ran.verdict, ran.output_tail)
        }
        Err(error) => (Err(error), Vec::new()),
    };
    SmokeResult {
        file_name: case.file_name.clone(),
        verdict: verdict.map(|()| started.elapsed().as_millis()).map_err(|error| crate::failure::lines(&error).message),
        output_tail,
    }
}

/// A started service, ready (its `/health` answered 200), as a check sees it.
pub struct ReadyService<'a> {
    agent: ureq::Agent,
    api_base: String,
    password: Option<&'a str>,
}

impl ReadyService<'_> {
    /// `GET /api/v1/build` with the session cookie given, if any: (status, body).
    pub fn get_build(&self, cookie: Option<&str>) -> anyhow::Result<(u16, String)> {
        get(&self.agent, &format!("{}/api/v1/build", self.api_base), cookie)
    }

    /// Where the service has auth: prove `/api/v1/build` refuses a request without a session
    /// (401 `authentication_required`), then log in with the password it was started with and
    /// return the session cookie. Without auth: `None`.
    pub fn session(&self) -> anyhow::Result<Option<String>> {
        let Some(password) = self.password else { return Ok(None) };
        let (status, body) = self.get_build(None)?;
        let error_field =
            serde_json::from_str::<Value>(&body).ok().and_then(|v| v["error"].as_str().map(str::to_string));
        if status != 401 || error_field.as_deref() != Some("authentication_required") {
            bail!("/api/v1/build without a session answered {status} {body:?}, expected 401 authentication_required");
        }
        login(&self.agent, &format!("{}/login", self.api_base), password).map(Some)
    }
}

/// How [`run_service`] ended: the check's verdict and the service's last lines of output.
pub struct ServiceRun {
    pub verdict: anyhow::Result<()>,
    pub output_tail: Vec<String>,
}

/// Start `program` as its smoke declaration says (free loopback ports, a random password where the
/// service has auth, a private temp folder), wait until `/health` answers 200, run `check`, then
/// stop the whole process tree and remove the temp folder, however the check ended.
pub fn run_service(
    program: &Path,
    name: &str,
    launch: &SmokeLaunch,
    timeout: Duration,
    check: impl FnOnce(&ReadyService<'_>) -> anyhow::Result<()>,
) -> ServiceRun {
    let observed = Arc::new(Mutex::new(Observed::default()));
    let verdict = start_and_check(program, name, launch, Instant::now() + timeout, &observed, check);
    let output_tail = observed.lock().map(|seen| seen.lines.iter().cloned().collect()).unwrap_or_default();
    ServiceRun { verdict, output_tail }
}

fn start_and_check(
    program: &Path,
    name: &str,
    launch: &SmokeLaunch,
    deadline: Instant,
    observed: &Arc<Mutex<Observed>>,
    check: impl FnOnce(&ReadyService<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let password = launch.password_env.as_ref().map(|_| random_password());

    // PyInstaller unpacks a one-file binary into the temp folder; a private one goes away with
    // the tree even when the sidecar is killed before it can clean up.
    let private_temp = tempfile::Builder::new()
        .prefix("xtask-smoke-")
        .tempdir()
        .context("creating a temp folder for the sidecar (is the system temp folder writable?)")?;
    let (sh, args) = (Shell::new()?, &launch.args);
    let mut command = Command::from(cmd!(sh, "{program} {args...}"));
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for variable in ["TMPDIR", "TEMP", "TMP"] {
        command.env(variable, private_temp.path());
    }
    // Code of the machine's choosing must not stand in front of what is under test.
    for variable in ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"] {
        command.env_remove(variable);
    }
    if let (Some(variable), Some(password)) = (&launch.password_env, &password) {
        command.env(variable, password);
    }
    let mut child = Supervised::spawn(&mut command, name)?;
    // Its lines and announced ports land in `observed`; the readers end when the tree is stopped.
    let seen_by_readers = Arc::clone(observed);
    ChildOutput::tee_watching(&mut child, Echo::Nowhere, 0, move |line| {
        let mut seen = seen_by_readers.lock().expect("output lock");
        if let Some((label, port)) = parse_listening_line(line) {
            seen.ports.insert(label, port);
        }
        seen.lines.push_back(line.to_string());
        if seen.lines.len() > OUTPUT_TAIL_LINES {
            seen.lines.pop_front();
        }
    });

    let outcome = (|| {
        let wanted = [launch.health_port.as_str(), launch.api_port.as_str()];
        let ports = wait_for_ports(&mut child, observed, &wanted, deadline)?;
        let health_url = format!("http://127.0.0.1:{}/health", ports[&launch.health_port]);
        let api_base = format!("http://127.0.0.1:{}", ports[&launch.api_port]);
        let agent = http_agent();
        wait_until_ready(&agent, &mut child, &health_url, deadline)?;
        check(&ReadyService { agent, api_base, password: password.as_deref() })
    })();
    child.stop(STOP_GRACE);
    let removed = remove_stopped_sidecars_temp(private_temp);
    outcome?;
    removed.context("removing the sidecar's temp folder after it stopped")
}

/// Remove the sidecar's temp folder once its tree has stopped. Windows may refuse for a moment
/// after the last process ended (a scanner still reading a file it unpacked): a few tries, 2 s.
fn remove_stopped_sidecars_temp(folder: tempfile::TempDir) -> std::io::Result<()> {
    let path = folder.keep();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// `<file>.sha256`, when present, must be one `<64 hex>  <name>` line naming this hash.
fn check_published_checksum(path: &Path, file_hash: &str) -> anyhow::Result<()> {
    let checksum_path = PathBuf::from(format!("{}.sha256", path.display()));
    let shown = shown_name(&checksum_path.display().to_string());
    let metadata = match std::fs::metadata(&checksum_path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => bail!("{shown}: cannot read it: {error}"),
    };
    if metadata.is_dir() {
        bail!("{shown} is a folder, not a checksum file; remove it or rebuild with `cargo xtask sidecar`");
    }
    let bytes = std::fs::read(&checksum_path).with_context(|| format!("reading {shown}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{shown} is not UTF-8 text; rebuild with `cargo xtask sidecar`"))?;
    let published = text.split_whitespace().next().unwrap_or_default();
    if published.len() != 64 || !published.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        bail!("{shown} does not start with a SHA-256 (64 hex digits); rebuild with `cargo xtask sidecar`");
    }
    if !published.eq_ignore_ascii_case(file_hash) {
        bail!("{shown} says {published}, but the file hashes to {file_hash}");
    }
    Ok(())
}

/// `listening on HOST:PORT` → ("", PORT); `dashboard listening on HOST:PORT` → ("dashboard", PORT).
pub fn parse_listening_line(line: &str) -> Option<(String, u16)> {
    let (before, address) = line.trim().split_once("listening on ")?;
    let label = before.trim();
    if label.contains(char::is_whitespace) {
        return None;
    }
    let port = address.rsplit_once(':')?.1.parse().ok()?;
    Some((label.to_string(), port))
}

fn wait_for_ports(
    child: &mut Supervised,
    observed: &Arc<Mutex<Observed>>,
    wanted: &[&str],
    deadline: Instant,
) -> anyhow::Result<HashMap<String, u16>> {
    loop {
        {
            let seen = observed.lock().expect("output lock");
            if wanted.iter().all(|label| seen.ports.contains_key(*label)) {
                return Ok(seen.ports.clone());
            }
        }
        if let Some(status) = child.exited()? {
            bail!("exited during startup ({status}) before announcing its ports");
        }
        if Instant::now() >= deadline {
            let names: Vec<String> = wanted.iter().map(|label| format!("`{label} listening on`")).collect();
            bail!("never announced its ports ({}) within the deadline", names.join(", "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// (status, body) of a GET.
pub fn get(agent: &ureq::Agent, url: &str, cookie: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut request = agent.get(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let mut response = request.call().with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, body))
}

/// Poll `/health` with a short, growing backoff until it answers 200, the process dies, or the deadline.
fn wait_until_ready(agent: &ureq::Agent, child: &mut Supervised, url: &str, deadline: Instant) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(10);
    let mut last;
    loop {
        match get(agent, url, None) {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => last = format!("{status} {body:?}"),
            Err(error) => last = format!("{error:#}"),
        }
        if let Some(status) = child.exited()? {
            bail!("exited ({status}) before /health answered");
        }
        if Instant::now() + backoff >= deadline {
            bail!("/health never answered 200 within the deadline (last: {last})");
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(250));
    }
}

/// Log in with the password; return the session cookie (`name=value`).
pub fn login(agent: &ureq::Agent, url: &str, password: &str) -> anyhow::Result<String> {
    let mut response = agent.post(url).send_form([("password", password)]).with_context(|| format!("POST {url}"))?;
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_string);
    let body = response.body_mut().read_to_string().unwrap_or_default();
    match (status, cookie) {
        (200, Some(cookie)) => Ok(cookie),
        _ => bail!("POST /login with the configured password answered {status} {body:?} without a session cookie"),
    }
}

/// Compare what the sidecar reports with what it must report.
pub fn verify_report(report: &Value, expected_build_id: &str, case: &SmokeCase) -> anyhow::Result<()> {
    let field = |name: &str| report.get(name).and_then(Value::as_str).unwrap_or("<missing>").to_string();
    let mut problems = Vec::new();
    let build_id = field("build_id");
    if build_id != expected_build_id {
        problems.push(format!("build_id is {build_id}, the file is {expected_build_id}"));
    }
    for (name, expected) in [
        ("version", case.expected_version.as_str()),
        ("git_commit", case.expected_commit.as_str()),
        ("service", case.sidecar.service.as_str()),
    ] {
        let reported = field(name);
        if reported != expected {
            problems.push(format!("{name} is {reported}, expected {expected}"));
        }
    }
    if problems.is_empty() { Ok(()) } else { bail!("{}", problems.join("; ")) }
}

pub fn random_password() -> String {
    let state = std::collections::hash_map::RandomState::new();
    (0..4)
        .map(|round| {
            let mut hasher = state.build_hasher();
            hasher.write_u64(round);
            hasher.write_u128(Instant::now().elapsed().as_nanos());
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

pub fn render_table(results: &[SmokeResult]) -> String {
    let mut table = String::from("| binary | startup | build_id | verdict |\n|---|---:|---|---|\n");
    for result in results {
        let (startup, matches, verdict) = match &result.verdict {
            Ok(ms) => (format!("{ms} ms"), "match", "pass".to_string()),
            Err(failure) => ("-".to_string(), "-", format!("FAIL: {failure}")),
        };
        table.push_str(&format!("| `{}` | {startup} | {matches} | {verdict} |\n", result.file_name));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::SmokeLaunch;

    #[test]
    fn listening_lines() {
        assert_eq!(parse_listening_line("listening on 127.0.0.1:8070"), Some((String::new(), 8070)));
        assert_eq!(parse_listening_line("dashboard listening on 127.0.0.1:51234\n"), Some(("dashboard".into(), 51234)));
        assert_eq!(parse_listening_line("listening on [::1]:9"), Some((String::new(), 9)));
        assert_eq!(parse_listening_line("not yet listening on anything"), None);
        assert_eq!(parse_listening_line("listening on 127.0.0.1:port"), None);
    }

    fn fixture_case() -> SmokeCase {
        SmokeCase {
            path: "dist/x".into(),
            file_name: "x".into(),
            sidecar: Sidecar {
                binary: "x".into(),
                spec: "x.spec".into(),
                import_package: "x".into(),
                service: "x-service".into(),
                smoke: SmokeLaunch {
                    args: vec![],
                    health_port: String::new(),
                    api_port: String::new(),
                    password_env: None,
                },
                budget: Default::default(),
            },
            expected_version: "1.0".into(),
            expected_commit: "unknown".into(),
        }
    }

    #[test]
    fn report_must_match_file_version_commit_and_service() {
        let good = serde_json::json!({"service": "x-service", "version": "1.0", "git_commit": "unknown", "build_id": "sha256:ab", "extra": 1});
        verify_report(&good, "sha256:ab", &fixture_case()).unwrap();
        let bad =
            serde_json::json!({"service": "other", "version": "1.1", "git_commit": "unknown", "build_id": "sha256:cd"});
        let message = format!("{:#}", verify_report(&bad, "sha256:ab", &fixture_case()).unwrap_err());
        assert!(message.contains("build_id is sha256:cd, the file is sha256:ab"), "{message}");
        assert!(message.contains("version is 1.1, expected 1.0"), "{message}");
        assert!(message.contains("service is other"), "{message}");
    }

    #[test]
    fn the_table_shows_the_startup_of_a_pass_and_the_reason_of_a_failure() {
        let result =
            |file_name: &str, verdict| SmokeResult { file_name: file_name.into(), verdict, output_tail: vec![] };
        let table = render_table(&[result("a", Ok(1234)), result("b", Err("exited (exit status: 3)".into()))]);
        assert_eq!(
            table,
            "| binary | startup | build_id | verdict |\n|---|---:|---|---|\n\
             | `a` | 1234 ms | match | pass |\n| `b` | - | - | FAIL: exited (exit status: 3) |\n"
        );
    }

    #[test]
    fn timeouts_from_one_second_to_a_day() {
        assert!(timeout_of(0).is_err());
        assert_eq!(timeout_of(1).unwrap(), Duration::from_secs(1));
        assert!(timeout_of(LONGEST_TIMEOUT_SECONDS).is_ok());
        assert!(timeout_of(u64::MAX).is_err());
    }

    #[test]
    fn control_characters_are_escaped_in_shown_names() {
        assert_eq!(shown_name("lumen-argus-\u{1b}[31mred\nx"), "lumen-argus-\\u{1b}[31mred\\nx");
        assert_eq!(shown_name("naïve name ü"), "naïve name ü");
    }

    #[test]
    fn published_checksums_must_be_one_readable_hash_line() {
        let folder = tempfile::tempdir().unwrap();
        let binary = folder.path().join("b");
        std::fs::write(&binary, "x").unwrap();
        let hash = "a".repeat(64);
        let checksum = folder.path().join("b.sha256");
        check_published_checksum(&binary, &hash).unwrap();
        for (contents, expected) in [
            (format!("{hash}  b\n").into_bytes(), None),
            (format!("{}  b\n", "A".repeat(64)).into_bytes(), None),
            (format!("{}  b\n", "b".repeat(64)).into_bytes(), Some("but the file hashes to")),
            (b"\xff\xfe not text".to_vec(), Some("not UTF-8")),
            (b"".to_vec(), Some("does not start with a SHA-256")),
            (b"abc  b\n".to_vec(), Some("does not start with a SHA-256")),
        ] {
            std::fs::write(&checksum, &contents).unwrap();
            let verdict = check_published_checksum(&binary, &hash);
            match expected {
                None => verdict.unwrap(),
                Some(expected) => assert!(format!("{:#}", verdict.unwrap_err()).contains(expected), "{contents:?}"),
            }
        }
        std::fs::remove_file(&checksum).unwrap();
        std::fs::create_dir(&checksum).unwrap();
        assert!(format!("{:#}", check_published_checksum(&binary, &hash).unwrap_err()).contains("is a folder"));
    }

    #[test]
    fn passwords_differ() {
        assert_ne!(random_password(), random_password());
        assert_eq!(random_password().len(), 64);
    }
}
