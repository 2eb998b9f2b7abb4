//! The Python the sidecars are frozen with: the version pinned in `.python-version`, as uv finds
//! it. Every uv command the xtask runs gets that interpreter through `UV_PYTHON` on the command
//! (`uv::Uv::shell_in`), so one run never mixes two Pythons.
//!
//! The choice, in order: `UV_PYTHON` when the caller set it (setup-uv's `python-version` input
//! does); else the pinned version as uv finds it installed (inside GitHub Actions uv may download
//! it); else, outside Actions only, the Python of `tools::find_python` with a warning, so a fresh
//! machine that has only Python 3.11 still builds (its binaries say so in the manifest).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;
use xshell::cmd;

use crate::failure::refuse;
use crate::workspace::Workspace;
use crate::{gha, process, tools};

pub const PIN_FILE: &str = ".python-version";

/// Prints the interpreter's version and its base executable (not a virtualenv's link to it).
const PROBE: &str = "import platform, sys; print(platform.python_version()); print(sys._base_executable)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `UV_PYTHON` was set by the caller.
    Requested,
    /// The version pinned in `.python-version`.
    Pinned,
    /// The pinned version is not installed here; the system Python stands in.
    Fallback,
}

#[derive(Debug, Clone)]
pub struct Interpreter {
    /// What `.python-version` pins, e.g. `3.12`.
    pub pinned: String,
    pub version: String,
    pub path: PathBuf,
    pub source: Source,
}

impl Interpreter {
    pub fn matches_pin(&self) -> bool {
        version_matches_pin(&self.version, &self.pinned)
    }

    /// One line for `doctor` and warnings: `3.11.7 (/usr/bin/python3.11), not the pinned 3.12`.
    pub fn describe(&self) -> String {
        let pin = if self.matches_pin() {
            format!("the pinned {}", self.pinned)
        } else {
            format!("not the pinned {}", self.pinned)
        };
        let source = match self.source {
            Source::Requested => ", from UV_PYTHON",
            Source::Pinned => "",
            Source::Fallback => ", the system Python standing in",
        };
        format!("{} ({}){source}, {pin}", self.version, self.path.display())
    }
}

/// The version in `.python-version`: its first line that is not blank or a comment.
pub fn parse_pin(text: &str) -> Result<String, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .ok_or_else(|| "it names no version".to_string())?;
    let parts: Vec<&str> = line.split('.').collect();
    let numeric = parts.iter().all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()));
    if !numeric || !(2..=3).contains(&parts.len()) || parts[0] != "3" {
        return Err(format!("{line:?} is not a CPython version such as 3.12 or 3.12.7"));
    }
    Ok(line.to_string())
}

/// `3.12.1` matches the pin `3.12`; `3.12.1` matches `3.12.1` only.
pub fn version_matches_pin(version: &str, pin: &str) -> bool {
    let version_parts: Vec<&str> = version.split('.').collect();
    let pin_parts: Vec<&str> = pin.split('.').collect();
    pin_parts.len() <= version_parts.len() && pin_parts.iter().zip(&version_parts).all(|(pin, version)| pin == version)
}

pub fn read_pin(root: &Path) -> anyhow::Result<String> {
    let path = root.join(PIN_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))
        .map_err(|error| refuse(format!("{error:#}"), "restore .python-version (one line, e.g. 3.12) from git"))?;
    parse_pin(&text).map_err(|problem| {
        refuse(format!("{}: {problem}", path.display()), "write the CPython version to build with, e.g. 3.12")
    })
}

/// The interpreter for this run, chosen once and reused by every uv command.
pub fn choose(workspace: &Workspace, uv: &Path) -> anyhow::Result<&'static Interpreter> {
    static CHOSEN: OnceLock<Interpreter> = OnceLock::new();
    if let Some(chosen) = CHOSEN.get() {
        return Ok(chosen);
    }
    let chosen = find(workspace, uv)?;
    if !chosen.matches_pin() {
        eprintln!(
            "warning: building with Python {}; release binaries are frozen with the pinned {} \
             (install it: uv python install {})",
            chosen.describe(),
            chosen.pinned,
            chosen.pinned
        );
    }
    Ok(CHOSEN.get_or_init(|| chosen))
}

fn find(workspace: &Workspace, uv: &Path) -> anyhow::Result<Interpreter> {
    let pinned = read_pin(&workspace.root)?;
    if let Some(requested) = std::env::var_os("UV_PYTHON").filter(|value| !value.is_empty()) {
        let requested = requested.to_string_lossy().into_owned();
        let (version, path) = probe(workspace, uv, &requested).map_err(|error| {
            refuse(
                format!("UV_PYTHON={requested} names no Python that uv can find ({error:#})"),
                format!("unset UV_PYTHON to use the pinned {pinned}, or point it at an installed interpreter"),
            )
        })?;
        let requested = Interpreter { pinned, version, path, source: Source::Requested };
        if gha::in_actions() && !requested.matches_pin() {
            return Err(refuse(
                format!(
                    "UV_PYTHON gives Python {}, not the {} pinned in {PIN_FILE}",
                    requested.describe(),
                    requested.pinned
                ),
                "release binaries are only built with the pinned Python: unset UV_PYTHON or point it at the pin",
            ));
        }
        return Ok(requested);
    }
    if let Ok((version, path)) = probe(workspace, uv, &pinned) {
        return Ok(Interpreter { pinned, version, path, source: Source::Pinned });
    }
    if gha::in_actions() {
        return Err(refuse(
            format!("uv could not find or download Python {pinned} (pinned in {PIN_FILE})"),
            "check the uv step of the workflow; release binaries are only built with the pinned Python",
        ));
    }
    let system = tools::find_python()?;
    let (version, path) = probe(workspace, uv, &system.path.to_string_lossy()).unwrap_or((system.version, system.path));
    Ok(Interpreter { pinned, version, path, source: Source::Fallback })
}

/// Ask uv for an interpreter matching `request` (a version or a path): its version and executable.
/// Outside GitHub Actions uv must not download one; inside, it may.
fn probe(workspace: &Workspace, uv: &Path, request: &str) -> anyhow::Result<(String, PathBuf)> {
    let sh = process::shell_in(&workspace.root)?;
    let mut command = cmd!(sh, "{uv} run --no-project --no-config --quiet --python {request} python -c {PROBE}")
        .env_remove("UV_PYTHON")
        .env_remove("VIRTUAL_ENV");
    if !gha::in_actions() {
        command = command.env("UV_PYTHON_DOWNLOADS", "never");
    }
    let text = process::read(command)?;
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    match (lines.next(), lines.next()) {
        (Some(version), Some(path)) => Ok((version.to_string(), PathBuf::from(path))),
        _ => anyhow::bail!("uv's Python printed {text:?}, not its version and executable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_is_the_first_meaningful_line() {
        assert_eq!(parse_pin("3.12\n").unwrap(), "3.12");
        assert_eq!(parse_pin("# frozen with\n\n  3.12.7  \n3.11\n").unwrap(), "3.12.7");
        for bad in ["", "\n# only a comment\n", "pypy3.10", "3", "3.x", "2.7", "3.12.1.4", "cpython@3.12"] {
            assert!(parse_pin(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn versions_match_a_pin_by_its_leading_parts() {
        assert!(version_matches_pin("3.12.1", "3.12"));
        assert!(version_matches_pin("3.12.1", "3.12.1"));
        assert!(!version_matches_pin("3.12.1", "3.12.2"));
        assert!(!version_matches_pin("3.11.7", "3.12"));
        assert!(!version_matches_pin("3.1", "3.12"));
        assert!(!version_matches_pin("3.120.0", "3.12"));
    }

    #[test]
    fn the_repository_pins_the_interpreter_of_the_release_binaries() {
        let root = crate::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(read_pin(&root).unwrap(), "3.12");
    }
}
