//! uv: where the xtask finds it (`XTASK_UV`, PATH, or its own bootstrap under `target/`), and the
//! commands it runs with it (`uv sync`, `uv run`), each given this run's interpreter.
//!
//! Python tools (PyInstaller, pytest, ruff) are never called directly: they run through
//! `uv run --locked`, pinned by `uv.lock`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use xshell::{Shell, cmd};

use crate::failure::{WithHint, refuse};
use crate::files;
use crate::process::{self, ChildOutput, Echo, Supervised};
use crate::tools::{find_on_path, find_python, venv_executable, version_of};
use crate::workspace::Workspace;

/// The uv the bootstrap installs when none is found.
const BOOTSTRAP_UV_REQUIREMENT: &str = "uv>=0.9,<0.14";

/// Where the bootstrap puts uv: a private virtualenv under `target/`.
pub fn bootstrap_dir(workspace: &Workspace) -> PathBuf {
    workspace.target_dir().join("xtask-tools").join("uv")
}

/// uv as found without installing anything: `XTASK_UV`, PATH, or an earlier bootstrap.
pub fn find_uv(workspace: &Workspace) -> Option<PathBuf> {
    std::env::var_os("XTASK_UV")
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .or_else(|| find_on_path("uv"))
        .or_else(|| Some(venv_executable(&bootstrap_dir(workspace), "uv")).filter(|path| path.is_file()))
}

/// uv and the interpreter this run gives it: every uv command the xtask starts is built from a
/// [`Uv`], which passes that interpreter as `UV_PYTHON` to the command (and only to it; the
/// xtask's own environment is never changed).
#[derive(Debug, Clone)]
pub struct Uv {
    pub path: PathBuf,
    /// The Python of this run (see `interpreter`).
    pub python: PathBuf,
}

impl Uv {
    /// uv, installed into `target/xtask-tools/uv` with the system Python's pip when it is missing,
    /// and the interpreter of this run, chosen once (see `interpreter`).
    pub fn get(workspace: &Workspace) -> anyhow::Result<Uv> {
        let path = find_or_install_uv(workspace)?;
        let python = crate::interpreter::choose(workspace, &path)?.path.clone();
        Ok(Uv { path, python })
    }

    /// A shell in `dir` whose commands get this run's interpreter as `UV_PYTHON`: build every
    /// `{uv} ...` command (and every command that starts uv) with it.
    pub fn shell_in(&self, dir: &Path) -> anyhow::Result<Shell> {
        let sh = process::shell_in(dir)?;
        sh.set_var("UV_PYTHON", &self.python);
        Ok(sh)
    }
}

/// `{uv}` in `cmd!`: the program.
impl AsRef<Path> for Uv {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for Uv {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

fn find_or_install_uv(workspace: &Workspace) -> anyhow::Result<PathBuf> {
    if let Some(chosen) = std::env::var_os("XTASK_UV").filter(|value| !value.is_empty()).map(PathBuf::from)
        && !chosen.is_file()
    {
        return Err(refuse(
            format!("XTASK_UV={} is not a file", chosen.display()),
            "point XTASK_UV at a uv executable, or unset it to use uv from PATH (or the one the xtask installs)",
        ));
    }
    let venv = bootstrap_dir(workspace);
    let bootstrapped = venv_executable(&venv, "uv");
    if let Some(path) = find_uv(workspace) {
        if path != bootstrapped {
            return Ok(path);
        }
        // An install stopped half-way (Ctrl-C during pip) can leave a uv that does not run.
        match version_of(&path) {
            Ok(_) => return Ok(path),
            Err(error) => eprintln!("note: {error:#} (an interrupted install?); installing uv again"),
        }
    }
    let python = find_python()?;
    eprintln!("note: uv was not found; installing it into {} with {}'s pip", venv.display(), python.path.display());
    let sh = Shell::new()?;
    let python_path = &python.path;
    let mut create = Command::from(cmd!(sh, "{python_path} -m venv --clear {venv}"));
    let created = Supervised::spawn(&mut create, &format!("{} -m venv", python.path.display()))?.wait()?;
    if !created.success() {
        return Err(refuse(
            format!("{} -m venv {} failed", python.path.display(), venv.display()),
            "install Python's venv module (Debian: apt-get install python3-venv), or install uv yourself: pip install uv",
        ));
    }
    let venv_python = venv_executable(&venv, "python");
    eprintln!("note: pip is installing {BOOTSTRAP_UV_REQUIREMENT} from PyPI");
    let mut install = Command::from(cmd!(
        sh,
        "{venv_python} -m pip install --quiet --disable-pip-version-check {BOOTSTRAP_UV_REQUIREMENT}"
    ));
    let installed = Supervised::spawn(&mut install, "pip install uv")?.wait()?;
    let runs = if installed.success() { version_of(&bootstrapped) } else { Err(anyhow::anyhow!("pip {installed}")) };
    match runs {
        Ok(version) => eprintln!("note: installed {version} into {}", venv.display()),
        Err(error) => {
            return Err(refuse(
                format!("pip could not install uv: {error:#}"),
                "check that PyPI is reachable, or install uv yourself (pip install uv) and run again",
            ));
        }
    }
    Ok(bootstrapped)
}

/// The dependency groups of the root `pyproject.toml` a command needs in the virtualenv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// The packages and PyInstaller, all a sidecar build runs: a build runner never installs a dev
    /// tool it would have to build from source.
    Build,
    /// Every group: the tests and linters too.
    All,
}

impl Groups {
    /// What the groups hold, for the progress line.
    fn describe(self) -> &'static str {
        match self {
            Groups::Build => "the packages and PyInstaller",
            Groups::All => "the packages, PyInstaller, the test tools and the linters",
        }
    }

    fn uv_arguments(self) -> &'static [&'static str] {
        match self {
            Groups::Build => &["--no-default-groups", "--group", "build"],
            Groups::All => &["--all-groups"],
        }
    }
}

/// A `uv run --locked <args>` command rooted at the workspace with `groups` installed, for
/// [`Supervised`]. Like `uv run` itself it adds what is missing and removes nothing.
pub fn run(workspace: &Workspace, uv: &Uv, groups: Groups, args: &[&str]) -> anyhow::Result<Command> {
    let sh = uv.shell_in(&workspace.root)?;
    let groups = groups.uv_arguments();
    Ok(cmd!(sh, "{uv} run --locked --quiet {groups...} {args...}").into())
}

/// The workspace's virtualenv: `UV_PROJECT_ENVIRONMENT` (relative to the root) or `.venv`.
pub fn project_venv(workspace: &Workspace) -> PathBuf {
    match std::env::var_os("UV_PROJECT_ENVIRONMENT").filter(|value| !value.is_empty()) {
        Some(path) => workspace.root.join(path),
        None => workspace.root.join(".venv"),
    }
}

/// Present while a `uv sync` runs; left behind, it says the last one did not finish.
fn sync_marker(workspace: &Workspace) -> PathBuf {
    workspace.target_dir().join("xtask-uv-sync.incomplete")
}

/// `uv sync --locked`: the workspace's virtualenv has `groups` as `uv.lock` pins them, or the lock
/// is refused. [`Groups::All`] makes the virtualenv exactly the lock's; [`Groups::Build`] only adds
/// (`--inexact`), so a build after `cargo xtask test` keeps the test tools.
///
/// A sync stopped half-way (Ctrl-C, a crash, a full disk) can leave a virtualenv that uv takes
/// for complete. A marker under `target/` is written before the sync and removed after it
/// succeeds; finding it (or a virtualenv whose Python does not run) the next sync removes the
/// virtualenv first, saying so. An interrupted sync exits 130 like any interrupted step.
pub fn sync(workspace: &Workspace, uv: &Uv, groups: Groups) -> anyhow::Result<()> {
    let target = workspace.target_dir();
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    // One sync at a time per clone (a build and `cargo xtask test` may both sync): the marker is
    // only judged by the process holding this lock.
    let lock_path = target.join("xtask-uv-sync.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        eprintln!("note: waiting for another `uv sync` in this clone to finish");
        lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    }
    let venv = project_venv(workspace);
    let marker = sync_marker(workspace);
    let damage = if marker.exists() {
        Some("the last `uv sync` in this clone did not finish")
    } else if venv.join("pyvenv.cfg").is_file() && !venv_python_runs(&venv) {
        Some("its Python does not start")
    } else {
        None
    };
    if let Some(damage) = damage.filter(|_| venv.exists()) {
        eprintln!("note: {} is unusable ({damage}); removing it so that uv creates it again", venv.display());
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("removing {}", venv.display()))
            .hint(format!("remove {} yourself (rm -rf {0}) and run again", venv.display()))?;
    }
    files::write_atomically(&marker, format!("{}\n", venv.display()).as_bytes())?;

    // The first sync of a clone downloads every package: one line says what the wait is.
    eprintln!("uv sync: {} as uv.lock pins it ({})", venv.display(), groups.describe());
    let sh = uv.shell_in(&workspace.root)?;
    let inexact = (groups == Groups::Build).then_some("--inexact");
    let groups = groups.uv_arguments();
    let mut command = Command::from(cmd!(sh, "{uv} sync --locked --quiet {groups...} {inexact...}"));
    command.stderr(Stdio::piped());
    let mut child = Supervised::spawn(&mut command, &format!("{} sync", uv.path.display()))?;
    let lock_out_of_date = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&lock_out_of_date);
    let messages = ChildOutput::tee_watching(&mut child, Echo::Stderr(String::new()), 0, move |line| {
        if line.contains("needs to be updated") {
            seen.store(true, Ordering::Relaxed);
        }
    });
    // An interrupt returns here, the marker still in place for the next run.
    let status = child.wait()?;
    messages.finish();
    if lock_out_of_date.load(Ordering::Relaxed) {
        return Err(refuse(
            "uv sync --locked failed: uv.lock does not match the pyproject.toml files",
            "run `uv lock` and commit uv.lock (a pyproject.toml changed without it)",
        ));
    }
    if !status.success() {
        return Err(refuse(
            format!("uv sync --locked failed ({status}): a package could not be installed into {}", venv.display()),
            format!(
                "read uv's message above; if it is about a damaged environment, remove {} and run again",
                venv.display()
            ),
        ));
    }
    std::fs::remove_file(&marker).with_context(|| format!("removing {}", marker.display()))?;
    Ok(())
}

fn venv_python_runs(venv: &Path) -> bool {
    let python = venv_executable(venv, "python");
    Shell::new().is_ok_and(|sh| process::read(cmd!(sh, "{python} -c pass")).is_ok())
}

/// The version of a package pinned in `uv.lock`, e.g. PyInstaller's.
pub fn locked_version(workspace: &Workspace, package: &str) -> Option<String> {
    let lock = std::fs::read_to_string(workspace.root.join("uv.lock")).ok()?;
    let document: toml_edit::DocumentMut = lock.parse().ok()?;
    document.get("package")?.as_array_of_tables()?.iter().find_map(|entry| {
        (entry.get("name")?.as_str()? == package).then(|| entry.get("version")?.as_str().map(str::to_string))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interpreter reaches each uv command through its shell; the xtask's own environment
    /// (read by every thread and every other child) is left as it was.
    #[cfg(unix)]
    #[test]
    fn a_uv_shell_passes_the_interpreter_without_changing_the_environment() {
        let before = std::env::var_os("UV_PYTHON");
        let uv = Uv { path: PathBuf::from("uv"), python: PathBuf::from("/opt/python-of-this-run/bin/python3") };
        let folder = tempfile::tempdir().unwrap();
        let sh = uv.shell_in(folder.path()).unwrap();
        let seen = process::read(cmd!(sh, "sh -c 'printf %s \"$UV_PYTHON\"'")).unwrap();
        assert_eq!(seen, "/opt/python-of-this-run/bin/python3");
        assert_eq!(std::env::var_os("UV_PYTHON"), before);
        let plain = process::shell_in(folder.path()).unwrap();
        let unset = process::read(cmd!(plain, "sh -c 'printf %s \"${UV_PYTHON-unset}\"'")).unwrap();
        assert_eq!(unset, before.map_or("unset".to_string(), |value| value.to_string_lossy().into_owned()));
    }

    #[test]
    fn the_lock_pins_pyinstaller() {
        let root = crate::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let workspace = Workspace::load(&root).unwrap();
        let version = locked_version(&workspace, "pyinstaller").expect("uv.lock pins pyinstaller");
        let major: u32 = version.split('.').next().unwrap().parse().unwrap();
        assert!(major >= 6, "{version}");
    }
}
