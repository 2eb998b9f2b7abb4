//! `cargo xtask install-check`: the gate between TestPyPI and PyPI. Every package's exact version is
//! installed from the index it was just uploaded to into a fresh environment (third-party
//! dependencies from PyPI only, never from that index), then each service's `--version` is run and
//! the service is started and checked like `smoke` does (free ports, `/health`, auth, version).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::cmd;

use crate::failure::{refuse, refuse_usage};
use crate::flags::InstallCheckFlags;
use crate::process::{ChildOutput, Echo, Supervised};
use crate::uv::Uv;
use crate::workspace::{Package, Workspace};
use crate::{files, gha, hashing, process, smoke, tools, wheel_coverage};

/// How long a service gets to start and answer.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(60);

/// Between two tries while the index does not list a new version yet.
const RETRY_INTERVAL: Duration = Duration::from_secs(15);

/// The longest `--wait`: an hour. Longer is a typo.
const LONGEST_WAIT_SECONDS: u64 = 60 * 60;

/// One `uv sync` attempt at most: an index that answers a byte at a time must not hold the gate.
const SYNC_ATTEMPT_LIMIT: Duration = Duration::from_secs(5 * 60);

/// Environment variables that would point uv at other indexes, settings files or another
/// environment, or change what it may install; the check sees none of them.
const UV_SETTINGS_CLEARED: [&str; 22] = [
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_INDEX_STRATEGY",
    "UV_CONFIG_FILE",
    "UV_PROJECT_ENVIRONMENT",
    "UV_FROZEN",
    "UV_LOCKED",
    "UV_NO_SYNC",
    "UV_OFFLINE",
    "UV_NO_SOURCES",
    "UV_EXCLUDE_NEWER",
    "UV_NO_BINARY",
    "UV_NO_BINARY_PACKAGE",
    "UV_NO_BUILD",
    "UV_NO_BUILD_PACKAGE",
    "UV_PRERELEASE",
    "UV_RESOLUTION",
    "VIRTUAL_ENV",
];

/// What a service under test must not inherit: they would put other code in front of the
/// installed packages.
const PYTHON_SETTINGS_CLEARED: [&str; 3] = ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"];

pub fn run(flags: &InstallCheckFlags) -> anyhow::Result<()> {
    let gate = index_url(&flags.index_url, "--index-url")?;
    let fallback = index_url(&flags.fallback_index_url, "--fallback-index-url")?;
    if flags.wait > LONGEST_WAIT_SECONDS {
        return Err(refuse_usage(
            format!("--wait {} is longer than an hour", flags.wait),
            format!("give at most {LONGEST_WAIT_SECONDS} seconds"),
        ));
    }
    if comparable(&gate) == comparable(&fallback) {
        return Err(refuse_usage(
            "--index-url and --fallback-index-url are the same index",
            "the check takes only the workspace's packages from --index-url: give the index they were uploaded to",
        ));
    }
    let built = flags.wheels.as_deref().map(built_wheels).transpose()?;
    let workspace = Workspace::discover()?;
    let packages: Vec<&Package> = workspace.packages.iter().collect();
    if let (Some(built), Some(folder)) = (&built, &flags.wheels) {
        let missing: Vec<String> = packages
            .iter()
            .map(|package| wheel_prefix(package))
            .filter(|prefix| !built.keys().any(|name| name.starts_with(prefix)))
            .map(|prefix| format!("{prefix}*.whl"))
            .collect();
        if !missing.is_empty() {
            return Err(refuse_usage(
                format!("--wheels {} holds no {}", folder.display(), missing.join(", ")),
                "give the folder the wheels of these versions were uploaded from: `cargo xtask wheels` writes them \
                 into dist/python (publish.yml uploads that folder)",
            ));
        }
    }
    tools::find_python()?;
    let uv = Uv::get(&workspace)?;

    let folder = tempfile::Builder::new()
        .prefix("xtask-install-check-")
        .tempdir()
        .context("creating a folder for the fresh environment (is the system temp folder writable?)")?;
    files::write_atomically(
        &folder.path().join("pyproject.toml"),
        check_project(&packages, &gate, &fallback).as_bytes(),
    )?;
    gha::group("uv sync (the fresh environment)", || {
        sync_until_listed(&uv, folder.path(), &packages, Duration::from_secs(flags.wait))
    })?;

    let lock =
        std::fs::read_to_string(folder.path().join("uv.lock")).context("reading the fresh environment's uv.lock")?;
    let installed = locked_sources(&lock)?;
    let mut problems = provenance_problems(&installed, &packages, &gate, &fallback);
    if let Some(built) = &built {
        problems.extend(wheel_problems(&installed, built, &packages));
    }
    for (index, names) in by_index(&installed) {
        println!("installed from {}: {}", without_credentials(&index), names.join(", "));
    }
    if !problems.is_empty() {
        return Err(refuse(
            format!("what the index serves is not what was built: {}", problems.join("; ")),
            "check the upload step of publish.yml; PyPI is not published while this fails",
        ));
    }

    let venv = folder.path().join(".venv");
    let mut rows = Vec::new();
    let mut failed = 0;
    for sidecar_package in workspace.sidecar_packages(None)? {
        let (package, sidecar) = (sidecar_package.package, sidecar_package.sidecar);
        let script = console_script(&venv, &sidecar.binary);
        let verdict = check_service(&script, package, sidecar);
        println!(
            "{:<24} {:<10} {}",
            sidecar.binary,
            package.version,
            verdict.as_ref().map_or_else(|e| format!("FAIL {e:#}"), |()| "pass".into())
        );
        failed += usize::from(verdict.is_err());
        rows.push(format!(
            "| `{}` | {} | {} |\n",
            sidecar.binary,
            package.version,
            verdict.map_or_else(|error| format!("fail: {error:#}"), |()| "pass".into())
        ));
    }
    let shown_gate = without_credentials(&gate);
    gha::step_summary(&format!(
        "### Installed from {shown_gate}\n\n| service | version | --version, start, /health, /api/v1/build |\n|---|---|---|\n{}",
        rows.concat()
    ))?;
    if failed > 0 {
        return Err(refuse(
            format!("{failed} service(s) installed from {shown_gate} do not work"),
            "the lines above say which check failed; PyPI is not published while this fails",
        ));
    }
    Ok(())
}

/// An index URL as given, without its trailing slash; anything but http(s) is a usage error.
fn index_url(given: &str, flag: &str) -> anyhow::Result<String> {
    let trimmed = given.trim().trim_end_matches('/');
    let scheme_ok = trimmed.starts_with("https://") || trimmed.starts_with("http://");
    // What a URL never holds unescaped; it also keeps the URL one plain TOML string.
    let odd = trimmed.chars().any(|c| c.is_whitespace() || c.is_control() || "\"\\<>{}|^`".contains(c));
    if !scheme_ok || odd || trimmed.len() <= "https://".len() {
        return Err(refuse_usage(
            format!("{flag} {given:?} is not an http(s) URL"),
            "give the simple index's URL, e.g. https://test.pypi.org/simple/ (percent-encode odd characters)",
        ));
    }
    Ok(trimmed.to_string())
}

/// An index URL as uv writes it into a lock, for comparing: no credentials, scheme and host in
/// lower case, no `.` or empty path segments, no trailing slash.
fn comparable(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let segments: Vec<&str> = path.split('/').filter(|segment| !segment.is_empty() && *segment != ".").collect();
    let mut normal = format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase());
    for segment in segments {
        normal.push('/');
        normal.push_str(segment);
    }
    normal
}

/// A URL fit to print: its credentials, if any, left out.
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(authority, path)| (authority, Some(path)));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    match path {
        Some(path) => format!("{scheme}://{host}/{path}"),
        None => format!("{scheme}://{host}"),
    }
}

/// The throwaway project whose only dependencies are the workspace's packages at their exact
/// versions, taken from `gate` alone (an explicit index); everything else comes from `fallback`.
fn check_project(packages: &[&Package], gate: &str, fallback: &str) -> String {
    let dependencies: String =
        packages.iter().map(|package| format!("    \"{}=={}\",\n", package.distribution, package.version)).collect();
    let sources: String =
        packages.iter().map(|package| format!("{} = {{ index = \"gate\" }}\n", package.distribution)).collect();
    format!(
        "# Written by `cargo xtask install-check`: a fresh environment with the published packages.\n\
         [project]\n\
         name = \"xtask-install-check\"\n\
         version = \"0\"\n\
         requires-python = \">=3.11\"\n\
         dependencies = [\n{dependencies}]\n\
         \n\
         [tool.uv]\n\
         package = false\n\
         \n\
         [[tool.uv.index]]\n\
         name = \"gate\"\n\
         url = \"{gate}\"\n\
         explicit = true\n\
         \n\
         [[tool.uv.index]]\n\
         name = \"fallback\"\n\
         url = \"{fallback}\"\n\
         default = true\n\
         \n\
         [tool.uv.sources]\n\
         {sources}"
    )
}

/// `uv sync` in `folder`, tried again every [`RETRY_INTERVAL`] for up to `wait` while it fails
/// (an index may list a fresh upload a minute late); the workspace's packages are always asked for
/// afresh, never from uv's cache of the index.
fn sync_until_listed(uv: &Uv, folder: &Path, packages: &[&Package], wait: Duration) -> anyhow::Result<()> {
    // `--wait` is at most an hour (checked in `run`): the sum cannot overflow.
    let deadline = Instant::now() + wait;
    let sh = uv.shell_in(folder)?;
    let refresh: Vec<String> =
        packages.iter().flat_map(|package| ["--refresh-package".to_string(), package.distribution.clone()]).collect();
    loop {
        let refresh = &refresh;
        let mut command = Command::from(cmd!(sh, "{uv} sync --no-progress {refresh...}"));
        for variable in UV_SETTINGS_CLEARED {
            command.env_remove(variable);
        }
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = Supervised::spawn(&mut command, "uv sync")?;
        let output = ChildOutput::tee(&mut child, Echo::Stderr("  uv: ".into()), 12);
        let status = child.wait_within(SYNC_ATTEMPT_LIMIT)?;
        let last_lines = output.finish();
        if status.is_some_and(|status| status.success()) {
            return Ok(());
        }
        let reason = last_lines.iter().map(|line| line.trim()).filter(|line| !line.is_empty()).collect::<Vec<_>>();
        let reason = reason.iter().rev().take(3).rev().copied().collect::<Vec<_>>().join(" ");
        let outcome = match status {
            Some(status) => status.to_string(),
            None => format!("stopped after {} s", SYNC_ATTEMPT_LIMIT.as_secs()),
        };
        if Instant::now() + RETRY_INTERVAL > deadline {
            return Err(refuse(
                format!("the packages could not be installed from the index ({outcome}): {reason}"),
                "was every package uploaded? An index may list a new version a minute late: --wait SECONDS",
            ));
        }
        eprintln!("note: not installable yet ({reason}); trying again in {} s", RETRY_INTERVAL.as_secs());
        let retry_at = Instant::now() + RETRY_INTERVAL;
        while Instant::now() < retry_at {
            process::check_interrupted()?;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One package of the fresh environment's lock: version, index, and its wheels (file name → sha256).
#[derive(Debug, Clone, PartialEq)]
struct Installed {
    version: String,
    index: String,
    wheels: BTreeMap<String, String>,
}

/// Name → what the lock says of it, for every package that came from an index.
fn locked_sources(lock: &str) -> anyhow::Result<BTreeMap<String, Installed>> {
    let document: toml_edit::DocumentMut = lock.parse().context("the fresh environment's uv.lock is not TOML")?;
    let mut installed = BTreeMap::new();
    let Some(entries) = document.get("package").and_then(|item| item.as_array_of_tables()) else {
        return Ok(installed);
    };
    for entry in entries {
        let text = |value: Option<&toml_edit::Item>| value.and_then(|item| item.as_str()).map(str::to_string);
        let Some(index) = entry.get("source").and_then(|source| source.get("registry")).and_then(|v| v.as_str()) else {
            continue;
        };
        // A wheel listed without a sha256 is kept with none: refused below.
        let wheels = wheel_coverage::locked_wheels(entry)
            .into_iter()
            .map(|(name, sha256)| (name, sha256.unwrap_or_default()))
            .collect();
        installed.insert(
            text(entry.get("name")).unwrap_or_default(),
            Installed {
                version: text(entry.get("version")).unwrap_or_default(),
                index: index.trim_end_matches('/').to_string(),
                wheels,
            },
        );
    }
    Ok(installed)
}

/// Each workspace package must come from the gate at its exact version; nothing else may, and
/// everything else must come from the fallback.
fn provenance_problems(
    installed: &BTreeMap<String, Installed>,
    packages: &[&Package],
    gate: &str,
    fallback: &str,
) -> Vec<String> {
    let (gate, fallback) = (comparable(gate), comparable(fallback));
    let shown_gate = without_credentials(&gate);
    let mut problems = Vec::new();
    for package in packages {
        match installed.get(&package.distribution) {
            None => problems.push(format!("{} is not in the environment", package.distribution)),
            Some(found) if comparable(&found.index) != gate => problems.push(format!(
                "{} came from {}, not {shown_gate}",
                package.distribution,
                without_credentials(&found.index)
            )),
            Some(found) if found.version != package.version => problems.push(format!(
                "{} is {} in the environment, the workspace says {}",
                package.distribution, found.version, package.version
            )),
            Some(_) => {}
        }
    }
    for (name, found) in installed {
        if packages.iter().any(|package| &package.distribution == name) {
            continue;
        }
        let index = comparable(&found.index);
        if index == gate {
            problems.push(format!("{name} came from {shown_gate}, which may serve only the workspace's packages"));
        } else if index != fallback {
            problems.push(format!(
                "{name} came from {}, neither the gate nor the fallback index (a uv.toml of this machine?)",
                without_credentials(&found.index)
            ));
        }
    }
    problems
}

/// The start of a workspace package's wheel names at its version: `lumen_argus_core-0.3.0-`.
fn wheel_prefix(package: &Package) -> String {
    format!("{}-{}-", package.distribution.replace('-', "_"), package.version)
}

/// Every built wheel of a workspace package must be served with the same SHA-256.
fn wheel_problems(
    installed: &BTreeMap<String, Installed>,
    built: &BTreeMap<String, String>,
    packages: &[&Package],
) -> Vec<String> {
    let mut problems = Vec::new();
    for package in packages {
        let prefix = wheel_prefix(package);
        let ours: Vec<(&String, &String)> = built.iter().filter(|(name, _)| name.starts_with(&prefix)).collect();
        if ours.is_empty() {
            problems.push(format!("no built wheel {prefix}*.whl in --wheels"));
        }
        let served = installed.get(&package.distribution).map(|found| &found.wheels);
        for (name, hash) in ours {
            match served.and_then(|wheels| wheels.get(name)) {
                None => problems.push(format!("the index does not serve {name}")),
                Some(served) if served.is_empty() => problems.push(format!("the index serves {name} without a sha256")),
                Some(served) if served != hash => {
                    problems.push(format!("the index serves {name} with sha256 {served}, the built file is {hash}"));
                }
                Some(_) => {}
            }
        }
        // A wheel nobody built here (another tag, say) could be the one uv installs and tests.
        for name in served.into_iter().flat_map(|wheels| wheels.keys()) {
            if !built.contains_key(name) {
                problems.push(format!("the index serves {name}, which was not built (not in --wheels)"));
            }
        }
    }
    problems
}

/// Index → "name version" of what came from it.
fn by_index(installed: &BTreeMap<String, Installed>) -> BTreeMap<String, Vec<String>> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, found) in installed {
        grouped.entry(found.index.clone()).or_default().push(format!("{name} {}", found.version));
    }
    grouped
}

/// The `*.whl` files of a folder: file name → SHA-256. A folder that is not there (exit 1, as for
/// every path the xtask cannot find), a folder or a wheel that cannot be read, or a `*.whl` that is
/// not a regular file (a fifo would be read without end) is refused; wheels of other versions than
/// the workspace's are the wrong `--wheels` (a usage error, exit 2).
fn built_wheels(folder: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let entries = std::fs::read_dir(folder).map_err(|error| {
        let message = format!("--wheels {}: {error}", folder.display());
        refuse(
            message,
            "give the folder the wheels were uploaded from: `cargo xtask wheels` writes them into dist/python \
             (publish.yml uploads that folder)",
        )
    })?;
    let mut wheels = BTreeMap::new();
    for entry in entries {
        let path = entry.with_context(|| format!("listing {}", folder.display()))?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()).filter(|name| name.ends_with(".whl")) else {
            continue;
        };
        let unreadable = |problem: String| {
            refuse(format!("--wheels: cannot read {}: {problem}", path.display()), "remove or replace that file")
        };
        let metadata = std::fs::metadata(&path).map_err(|error| unreadable(error.to_string()))?;
        if !metadata.is_file() {
            return Err(unreadable("it is not a regular file".to_string()));
        }
        let hash = hashing::sha256_hex_of_file(&path).map_err(|error| unreadable(format!("{error:#}")))?;
        wheels.insert(name.to_string(), hash);
    }
    Ok(wheels)
}

fn console_script(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) { venv.join("Scripts").join(format!("{name}.exe")) } else { venv.join("bin").join(name) }
}

/// `--version` names the version; the service starts, answers `/health`, and its build report
/// names its service and version (after a login where it has auth).
fn check_service(script: &Path, package: &Package, sidecar: &crate::workspace::Sidecar) -> anyhow::Result<()> {
    let sh = xshell::Shell::new()?;
    let mut version = cmd!(sh, "{script} --version");
    for variable in PYTHON_SETTINGS_CLEARED {
        version = version.env_remove(variable);
    }
    let printed = process::run_within(version, SERVICE_TIMEOUT)?.stdout_if_success()?;
    if printed.split_whitespace().last() != Some(package.version.as_str()) {
        bail!("`--version` printed {printed:?}, not ending in {}", package.version);
    }
    let ran = smoke::run_service(script, &sidecar.binary, &sidecar.smoke, SERVICE_TIMEOUT, |service| {
        let cookie = service.session()?;
        let (status, body) = service.get_build(cookie.as_deref())?;
        let report: Value =
            serde_json::from_str(&body).with_context(|| format!("/api/v1/build answered {status} {body:?}"))?;
        let field = |name: &str| report[name].as_str().unwrap_or("<missing>").to_string();
        if status != 200 || field("version") != package.version || field("service") != sidecar.service {
            bail!(
                "/api/v1/build answered {status}: version {}, service {} (expected {} and {})",
                field("version"),
                field("service"),
                package.version,
                sidecar.service
            );
        }
        Ok(())
    });
    ran.verdict.map_err(|error| {
        let tail = ran.output_tail.join("\n    ");
        error.context(format!("{} (its last lines:\n    {tail})", sidecar.binary))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(distribution: &str, version: &str) -> Package {
        Package {
            name: distribution.trim_start_matches("lumen-argus-").to_string(),
            distribution: distribution.to_string(),
            version: version.to_string(),
            dir: PathBuf::new(),
            dependencies: Vec::new(),
            sidecar: None,
        }
    }

    const LOCK: &str = r#"
version = 1

[[package]]
name = "aiohttp"
version = "3.12.15"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files/aiohttp-3.12.15-cp312-cp312-manylinux_2_17_x86_64.whl", hash = "sha256:aaaa" }]

[[package]]
name = "lumen-argus-core"
version = "0.3.0"
source = { registry = "https://test.pypi.org/simple/" }
wheels = [{ url = "https://test-files/lumen_argus_core-0.3.0-py3-none-any.whl", hash = "sha256:c0c0" }]

[[package]]
name = "xtask-install-check"
version = "0"
source = { virtual = "." }
"#;

    #[test]
    fn the_project_takes_only_the_workspace_packages_from_the_gate() {
        let (core, proxy) = (package("lumen-argus-core", "0.3.0"), package("lumen-argus-proxy", "0.2.5"));
        let text = check_project(&[&core, &proxy], "https://test.pypi.org/simple", crate::flags::PYPI_SIMPLE);
        let document: toml_edit::DocumentMut = text.parse().unwrap();
        let dependencies: Vec<&str> =
            document["project"]["dependencies"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(dependencies, ["lumen-argus-core==0.3.0", "lumen-argus-proxy==0.2.5"]);
        let indexes = document["tool"]["uv"]["index"].as_array_of_tables().unwrap();
        let gate = indexes.iter().find(|index| index["name"].as_str() == Some("gate")).unwrap();
        assert_eq!(gate["explicit"].as_bool(), Some(true), "an explicit index serves only the packages pinned to it");
        let fallback = indexes.iter().find(|index| index["name"].as_str() == Some("fallback")).unwrap();
        assert_eq!(fallback["default"].as_bool(), Some(true));
        assert_eq!(document["tool"]["uv"]["sources"]["lumen-argus-proxy"]["index"].as_str(), Some("gate"));
        assert_eq!(document["tool"]["uv"]["package"].as_bool(), Some(false));
    }

    #[test]
    fn provenance_is_the_gate_for_ours_the_fallback_for_the_rest_and_nothing_else() {
        let installed = locked_sources(LOCK).unwrap();
        assert_eq!(installed["lumen-argus-core"].index, "https://test.pypi.org/simple");
        assert!(!installed.contains_key("xtask-install-check"), "the project itself came from no index");
        let (gate, fallback) = ("https://test.pypi.org/simple", crate::flags::PYPI_SIMPLE);
        let core = package("lumen-argus-core", "0.3.0");
        assert_eq!(provenance_problems(&installed, &[&core], gate, fallback), Vec::<String>::new());
        // The same indexes written another way (credentials, case, `.` segments) are the same.
        let written = ("https://token:s3cret@TEST.pypi.org/./simple/", "https://PyPI.org//simple");
        assert_eq!(provenance_problems(&installed, &[&core], written.0, written.1), Vec::<String>::new());
        let newer = package("lumen-argus-core", "0.3.1");
        let problems = provenance_problems(&installed, &[&newer], gate, fallback);
        assert_eq!(problems, ["lumen-argus-core is 0.3.0 in the environment, the workspace says 0.3.1"]);
        // A third-party package served by the gate is dependency confusion.
        let problems = provenance_problems(&installed, &[&core], fallback, "https://mirror.example/simple");
        assert!(problems.iter().any(|p| p.starts_with("lumen-argus-core came from https://test.pypi.org/simple")));
        assert!(problems.iter().any(|p| p.starts_with("aiohttp came from https://pypi.org/simple, which may serve")));
        // And one from a third index (a machine's uv.toml) is refused too.
        let problems = provenance_problems(&installed, &[&core], gate, "https://mirror.example/simple");
        assert_eq!(
            problems,
            [
                "aiohttp came from https://pypi.org/simple, neither the gate nor the fallback index (a uv.toml of this machine?)"
            ]
        );
    }

    #[test]
    fn a_served_wheel_must_have_the_built_hash_and_every_served_wheel_must_be_built() {
        let installed = locked_sources(LOCK).unwrap();
        let core = package("lumen-argus-core", "0.3.0");
        let name = "lumen_argus_core-0.3.0-py3-none-any.whl".to_string();
        let same = BTreeMap::from([(name.clone(), "c0c0".to_string())]);
        assert_eq!(wheel_problems(&installed, &same, &[&core]), Vec::<String>::new());
        let other = BTreeMap::from([(name.clone(), "beef".to_string())]);
        assert_eq!(
            wheel_problems(&installed, &other, &[&core]),
            ["the index serves lumen_argus_core-0.3.0-py3-none-any.whl with sha256 c0c0, the built file is beef"]
        );
        let mut extra = installed.clone();
        let served = &mut extra.get_mut("lumen-argus-core").unwrap().wheels;
        served.insert("lumen_argus_core-0.3.0-py312-none-any.whl".into(), "abab".into());
        assert_eq!(
            wheel_problems(&extra, &same, &[&core]),
            ["the index serves lumen_argus_core-0.3.0-py312-none-any.whl, which was not built (not in --wheels)"]
        );
        let mut unhashed = installed;
        unhashed.get_mut("lumen-argus-core").unwrap().wheels.insert(name, String::new());
        assert_eq!(
            wheel_problems(&unhashed, &same, &[&core]),
            ["the index serves lumen_argus_core-0.3.0-py3-none-any.whl without a sha256"]
        );
    }

    #[test]
    fn printed_urls_leave_the_credentials_out() {
        assert_eq!(without_credentials("https://u:p@host.example/simple"), "https://host.example/simple");
        assert_eq!(without_credentials("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(comparable("HTTPS://u@Host.Example:8443//a/./b/"), "https://host.example:8443/a/b");
    }

    #[test]
    fn index_urls_are_http_and_lose_their_trailing_slash() {
        assert_eq!(index_url("https://test.pypi.org/simple/", "--index-url").unwrap(), "https://test.pypi.org/simple");
        for bad in
            ["test.pypi.org/simple", "file:///tmp/index", "https://", "", "https://x/si\"mple", "https://x/a\nb = 1"]
        {
            assert!(index_url(bad, "--index-url").is_err(), "{bad:?} was taken");
        }
    }
}
