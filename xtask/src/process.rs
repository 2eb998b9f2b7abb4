//! Running processes. Short commands (git, uv and Python probes) are built with xshell's `cmd!`,
//! where one `{arg}` is one argument, and run to their end by [`read`] or xshell itself. Long-lived
//! children are built the same way, turned into a `std::process::Command` and run by [`Supervised`];
//! [`ChildOutput`] tees their output. `Command::new` is written only in this module and its submodules.
//!
//! A supervised child is always stopped as a whole tree, so a PyInstaller one-file sidecar (a
//! bootloader parent with a Python child) or `uv run python -m PyInstaller` stops with everything
//! it spawned. Ctrl-C or SIGTERM to the xtask stops every registered child the same way.
//!
//! One submodule per job, their public items re-exported here: `supervised` (a child stopped with
//! its whole tree, Unix and Windows; `supervised/tree.rs` finds the tree's members, `job_object.rs`
//! holds it on Windows), `output` (a child's pipes read and teed), `bounded_run` ([`run_within`]: a
//! command with a time limit) and `signals` (Ctrl-C, SIGTERM and SIGXFSZ to the xtask itself).
//! The short commands ([`read`], [`run`]) are here.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use anyhow::Context;
use xshell::{Cmd, Shell};

mod bounded_run;
#[cfg(windows)]
mod job_object;
mod output;
mod signals;
mod supervised;

pub use bounded_run::run_within;
pub use output::{ChildOutput, Echo};
pub use signals::{
    check_interrupted, finish_before_interrupt, report_file_size_limits_as_errors, stop_children_on_interrupt,
    was_interrupted,
};
pub use supervised::{STOP_GRACE, Supervised};

/// A shell whose commands run in `dir`.
pub fn shell_in(dir: &Path) -> anyhow::Result<Shell> {
    let shell = Shell::new()?;
    shell.change_dir(dir);
    Ok(shell)
}

/// Run a short command to its end: its standard output, trimmed. Unlike xshell's own `read`, the
/// command's stderr is captured, not shown: a failure's error names the command line and gives the
/// first line the command wrote to stderr (or its exit status). The caller decides what a failure
/// means.
///
/// Ctrl-C reaches a short command too (it is not in a group of its own): an interrupted xtask
/// stops here with exit 130 instead of reading the command's failure as an answer.
pub fn read(command: Cmd<'_>) -> anyhow::Result<String> {
    let command_line = command.to_string();
    let output = command.ignore_status().output()?;
    check_interrupted()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().map(str::trim).find(|line| !line.is_empty());
        anyhow::bail!("`{command_line}` failed: {}", reason.map_or_else(|| output.status.to_string(), str::to_string));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Run a short command to its end with its output shown (what `git push` says is for the user);
/// the error names the command line. Interrupted, it stops with exit 130 like [`read`].
pub fn run(command: Cmd<'_>) -> anyhow::Result<()> {
    let command_line = command.to_string();
    let status = Command::from(command).status().with_context(|| format!("starting `{command_line}`"))?;
    check_interrupted()?;
    if !status.success() {
        anyhow::bail!("`{command_line}` failed: {status}");
    }
    Ok(())
}

/// A lock another thread's panic cannot take away: output keeps flowing, children keep being stopped.
fn lock_even_if_poisoned<T: ?Sized>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn read_gives_the_trimmed_stdout_and_a_failure_names_its_command_line() {
        let sh = Shell::new().unwrap();
        let spaced = "two  words";
        let printed = read(xshell::cmd!(sh, "sh -c 'printf \"<%s>\" \"$@\"; echo' sh {spaced} x")).unwrap();
        assert_eq!(printed, "<two  words><x>", "one {{arg}} is one argument");
        let error = read(xshell::cmd!(sh, "sh -c 'echo; echo why >&2; echo more >&2; exit 3'")).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.starts_with("`sh -c "), "{message}");
        assert!(message.ends_with("` failed: why"), "{message}");
        let error = read(xshell::cmd!(sh, "sh -c 'exit 4'")).unwrap_err();
        assert!(format!("{error:#}").ends_with("failed: exit status: 4"), "{error:#}");
        let error = read(xshell::cmd!(sh, "/nonexistent/tool --version")).unwrap_err();
        assert!(format!("{error:#}").contains("/nonexistent/tool"), "{error:#}");
    }
}
