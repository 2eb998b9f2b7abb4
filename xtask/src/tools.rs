//! The outside tools the xtask finds on this machine: git, a system Python of at least 3.11, and
//! any program on PATH with its version. uv and what runs through it live in `uv.rs`.

use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use crate::failure::refuse;
use crate::process;

const MINIMUM_PYTHON: (u32, u32) = (3, 11);
/// Prints the version of the Python that runs it, e.g. `3.11.2`.
const PYTHON_VERSION_PROBE: &str = "import sys; print('%d.%d.%d' % sys.version_info[:3])";

/// The first executable called `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let suffixes: &[&str] = if cfg!(windows) { &[".exe", ".cmd", ""] } else { &[""] };
    std::env::split_paths(&std::env::var_os("PATH")?).find_map(|dir| {
        suffixes.iter().map(|suffix| dir.join(format!("{name}{suffix}"))).find(|candidate| candidate.is_file())
    })
}

/// `program --version`, e.g. `uv 0.9.5` or `git version 2.47.3`; the error names the command.
pub fn version_of(program: &Path) -> anyhow::Result<String> {
    let sh = Shell::new()?;
    process::read(cmd!(sh, "{program} --version")).map(first_line)
}

/// The first line of a probe's output: anything after it (a `sitecustomize` greeting, a notice)
/// is not part of the answer.
fn first_line(text: String) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// The version of the Python at `path`, e.g. `3.11.2`; the error says why it does not run.
fn python_version(path: &Path) -> anyhow::Result<String> {
    let sh = Shell::new()?;
    process::read(cmd!(sh, "{path} -c {PYTHON_VERSION_PROBE}")).map(first_line)
}

pub struct Python {
    pub path: PathBuf,
    pub version: String,
}

/// A Python of at least 3.11: `XTASK_PYTHON`, else `python3`, else `python` on PATH. A set
/// `XTASK_PYTHON` that does not run is an error, not a reason to pick another Python; one on PATH
/// that does not run is skipped, and the error says why when none is left.
pub fn find_python() -> anyhow::Result<Python> {
    if let Some(chosen) = std::env::var_os("XTASK_PYTHON").filter(|value| !value.is_empty()) {
        let chosen = PathBuf::from(chosen);
        let found = match python_version(&chosen) {
            Ok(version) if python_is_recent_enough(&version) => return Ok(Python { path: chosen, version }),
            Ok(version) => format!("is Python {version}"),
            Err(error) => format!("does not run ({error:#})"),
        };
        return Err(refuse(
            format!("XTASK_PYTHON={} {found}", chosen.display()),
            "point XTASK_PYTHON at a Python 3.11+ interpreter, or unset it to use python3 from PATH",
        ));
    }
    let mut passed_over = Vec::new();
    for path in find_on_path("python3").into_iter().chain(find_on_path("python")) {
        match python_version(&path) {
            Ok(version) if python_is_recent_enough(&version) => return Ok(Python { path, version }),
            Ok(version) => passed_over.push(format!("{} is {version}", path.display())),
            Err(error) => passed_over.push(format!("{} does not run ({error:#})", path.display())),
        }
    }
    let found = if passed_over.is_empty() { "no Python found on PATH".to_string() } else { passed_over.join(", ") };
    Err(refuse(
        format!("Python {}.{} or newer is required: {found}", MINIMUM_PYTHON.0, MINIMUM_PYTHON.1),
        "install Python 3.11+ with pip (python.org or your package manager), or point XTASK_PYTHON at one",
    ))
}

fn python_is_recent_enough(version: &str) -> bool {
    let mut parts = version.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= MINIMUM_PYTHON
}

pub fn find_git() -> anyhow::Result<PathBuf> {
    find_on_path("git").ok_or_else(|| {
        refuse("git is not installed", "install git (git-scm.com or your package manager) and run again")
    })
}

/// `bin/NAME` of a virtualenv, or `Scripts\\NAME.exe` on Windows.
pub fn venv_executable(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) { venv.join("Scripts").join(format!("{name}.exe")) } else { venv.join("bin").join(name) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_version_floor() {
        assert!(python_is_recent_enough("3.11.0"));
        assert!(python_is_recent_enough("3.13.1"));
        assert!(python_is_recent_enough("4.0.0"));
        assert!(!python_is_recent_enough("3.10.12"));
        assert!(!python_is_recent_enough("2.7.18"));
        assert!(!python_is_recent_enough("garbage"));
    }
}
