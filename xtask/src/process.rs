//! Process supervision: children that are always stopped as a whole tree.
//!
//! Every child runs in a process group of its own (a job of its own on Windows), so a PyInstaller
//! one-file sidecar (a bootloader parent with a Python child) or `uv run python -m PyInstaller`
//! stops with everything it spawned. Stopping is SIGTERM to the group, a grace period, then
//! SIGKILL. Ctrl-C or SIGTERM to the xtask stops every registered child the same way.

use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::failure::Interrupted;

/// Process ids of the running children, which are also their process-group ids.
static RUNNING_CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How long a child gets after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Install the Ctrl-C / SIGTERM handler. Call once, first thing.
pub fn stop_children_on_interrupt() {
    let installed = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        let children = RUNNING_CHILDREN.lock().map(|list| list.clone()).unwrap_or_default();
        for pid in &children {
            signal_tree(*pid, Signal::Terminate);
        }
        std::thread::sleep(STOP_GRACE);
        let remaining = RUNNING_CHILDREN.lock().map(|list| list.clone()).unwrap_or_default();
        for pid in remaining {
            signal_tree(pid, Signal::Kill);
        }
    });
    if let Err(error) = installed {
        eprintln!("warning: cannot watch for Ctrl-C ({error}); children may outlive an interrupt");
    }
}

/// An error if the xtask has been interrupted: long steps call it between units of work.
pub fn check_interrupted() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) { Err(Interrupted.into()) } else { Ok(()) }
}

/// A child process stopped with its whole tree when dropped.
pub struct Supervised {
    child: Child,
    reaped: Option<ExitStatus>,
}

impl Supervised {
    pub fn spawn(command: &mut Command, what: &str) -> anyhow::Result<Supervised> {
        check_interrupted()?;
        isolate(command);
        let child = command.spawn().with_context(|| format!("starting {what}"))?;
        RUNNING_CHILDREN.lock().expect("child list poisoned").push(child.id());
        Ok(Supervised { child, reaped: None })
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The child's stdout and stderr pipes (those that were piped), for reader threads.
    pub fn take_output_pipes(&mut self) -> Vec<Box<dyn std::io::Read + Send>> {
        let stdout = self.child.stdout.take().map(|pipe| Box::new(pipe) as Box<dyn std::io::Read + Send>);
        let stderr = self.child.stderr.take().map(|pipe| Box::new(pipe) as Box<dyn std::io::Read + Send>);
        stdout.into_iter().chain(stderr).collect()
    }

    /// The exit status if the direct child has exited, without waiting.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().context("checking a child process")?;
        }
        Ok(self.reaped)
    }

    /// Wait for the direct child, then make sure nothing of its tree is left.
    pub fn wait(mut self) -> anyhow::Result<ExitStatus> {
        let status = self.child.wait().context("waiting for a child process")?;
        self.reaped = Some(status);
        self.finish();
        check_interrupted()?;
        Ok(status)
    }

    /// SIGTERM the tree, wait up to `grace`, then SIGKILL what is left.
    pub fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        self.stop_tree(grace);
        self.reaped
    }

    fn stop_tree(&mut self, grace: Duration) {
        if self.reaped.is_none() {
            signal_tree(self.child.id(), Signal::Terminate);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = self.child.try_wait() {
                    self.reaped = Some(status);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.finish();
    }

    /// SIGKILL whatever is left of the group, reap the child and forget it.
    fn finish(&mut self) {
        signal_tree(self.child.id(), Signal::Kill);
        if self.reaped.is_none() {
            self.reaped = self.child.wait().ok();
        }
        if let Ok(mut list) = RUNNING_CHILDREN.lock() {
            list.retain(|pid| *pid != self.child.id());
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let registered = RUNNING_CHILDREN.lock().map(|list| list.contains(&self.child.id())).unwrap_or(false);
        if registered {
            self.stop_tree(STOP_GRACE);
        }
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Terminate,
    Kill,
}

#[cfg(unix)]
fn isolate(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(unix)]
fn signal_tree(group: u32, signal: Signal) {
    let signal = match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    let Ok(group) = libc::pid_t::try_from(group) else { return };
    // A negative pid addresses the whole process group. ESRCH (already gone) is fine.
    unsafe {
        libc::kill(-group, signal);
    }
}

#[cfg(windows)]
fn isolate(command: &mut Command) {
    use std::os::windows::process::CommandExt;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    command.creation_flags(CREATE_NEW_PROCESS_GROUP);
}

#[cfg(windows)]
fn signal_tree(pid: u32, signal: Signal) {
    // taskkill /T walks the tree; without /F it asks politely, with /F it terminates.
    let mut taskkill = Command::new("taskkill");
    taskkill.args(["/T", "/PID", &pid.to_string()]);
    if matches!(signal, Signal::Kill) {
        taskkill.arg("/F");
    }
    let _ = taskkill.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    /// A shell that starts a grandchild which ignores SIGTERM: stopping the tree must still end it.
    #[test]
    fn stop_ends_the_whole_tree_including_a_stubborn_grandchild() {
        let folder = tempfile::tempdir().unwrap();
        let pid_file = folder.path().join("grandchild.pid");
        let script = format!("sh -c 'trap \"\" TERM; sleep 60' & echo $! > {}; wait", pid_file.display());
        let supervised = Supervised::spawn(Command::new("sh").args(["-c", &script]), "test tree").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().trim().is_empty() {
            assert!(Instant::now() < deadline, "grandchild never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        let grandchild: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        assert!(alive(grandchild));
        supervised.stop(Duration::from_millis(300));
        let deadline = Instant::now() + Duration::from_secs(5);
        // The grandchild is reparented to init, which reaps it; poll until it is gone.
        while alive(grandchild) {
            assert!(Instant::now() < deadline, "grandchild {grandchild} survived the stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn dropping_a_supervised_child_stops_it() {
        let supervised = Supervised::spawn(Command::new("sleep").arg("60"), "sleep").unwrap();
        let pid = supervised.child.id();
        drop(supervised);
        assert!(!alive(pid), "the child was reaped, so its pid must be gone");
    }

    #[test]
    fn wait_returns_the_exit_status() {
        let supervised = Supervised::spawn(Command::new("sh").args(["-c", "exit 3"]), "exit 3").unwrap();
        assert_eq!(supervised.wait().unwrap().code(), Some(3));
    }
}
