//! [`Supervised`]: a child process that is always stopped as a whole tree, by [`Supervised::stop`],
//! when dropped, or by Ctrl-C (every running child is registered here).
//!
//! - Unix: the child runs in a process group of its own. Stopping is SIGTERM, a grace period, then
//!   SIGKILL, sent to the group and to every other member of the tree: a descendant that left the
//!   group or the session (`setsid`) and was reparented is still found, on Linux by a mark in its
//!   inherited environment (`XTASK_PROCESS_TREE`) and by parent links, elsewhere on Unix by parent
//!   links walked before and while stopping.
//! - Windows: the child starts suspended in a process group of its own and is put in a job object
//!   (`job_object`) before it runs, so every process it starts is in the job too. Stopping is
//!   Ctrl-Break to the group, the grace period, then the termination of the whole job; the stop
//!   returns once no process of the job runs, so the files they held open can be deleted. If the
//!   xtask itself dies, the job's last handle closes and Windows ends the tree. Where a job cannot
//!   be made, `taskkill /T` (then `/F`) stops the tree as a fallback.

use std::process::{Child, Command, ExitStatus};
#[cfg(windows)]
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

#[cfg(windows)]
use super::job_object;
use super::{check_interrupted, lock_even_if_poisoned};

mod tree;

/// What holds a child's tree beyond its process group: on Windows, the job object it runs in.
#[cfg(windows)]
type Containment = Option<Arc<job_object::Job>>;
#[cfg(not(windows))]
type Containment = GroupOnly;

/// Elsewhere nothing but the process group and the tree mark hold a tree.
#[cfg(not(windows))]
#[derive(Debug, Clone)]
struct GroupOnly;

/// The running children: process id (also the process-group id), the mark of their tree, and
/// what contains it.
static RUNNING_CHILDREN: Mutex<Vec<(u32, String, Containment)>> = Mutex::new(Vec::new());
static TREES_STARTED: AtomicU64 = AtomicU64::new(0);

/// How long a child gets after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Set in every supervised child; its descendants inherit it wherever they move in the process
/// tree, so the stop finds them (unless they clear their environment).
pub const TREE_MARK_VARIABLE: &str = "XTASK_PROCESS_TREE";

/// How often the tree is walked again while waiting for it to stop.
const TREE_WALK_INTERVAL: Duration = Duration::from_millis(200);

/// From the Ctrl-C / SIGTERM handler: SIGTERM to every running child's tree, [`STOP_GRACE`], then
/// SIGKILL to what is left.
pub(super) fn stop_every_running_tree() {
    let children = running_children().clone();
    if children.is_empty() {
        // Nothing to wait for: the next signal is counted at once.
        return;
    }
    let mut trees: Vec<Tree> =
        children.iter().map(|(pid, mark, containment)| Tree::new(*pid, mark.clone(), containment.clone())).collect();
    for tree in &mut trees {
        tree.signal(Signal::Terminate);
    }
    std::thread::sleep(STOP_GRACE);
    for tree in &mut trees {
        tree.signal(Signal::Kill);
    }
}

/// The list of running children, also after a panic elsewhere poisoned its lock: stopping
/// children matters most while unwinding.
fn running_children() -> std::sync::MutexGuard<'static, Vec<(u32, String, Containment)>> {
    lock_even_if_poisoned(&RUNNING_CHILDREN)
}

/// A child process stopped with its whole tree when dropped.
pub struct Supervised {
    child: Child,
    reaped: Option<ExitStatus>,
    tree: Tree,
}

impl Supervised {
    pub fn spawn(command: &mut Command, what: &str) -> anyhow::Result<Supervised> {
        check_interrupted()?;
        isolate(command);
        let mark = new_tree_mark();
        command.env(TREE_MARK_VARIABLE, &mark);
        let mut child = command.spawn().with_context(|| format!("starting {what}"))?;
        let containment = contain(&mut child, what)?;
        running_children().push((child.id(), mark.clone(), containment.clone()));
        let tree = Tree::new(child.id(), mark, containment);
        Ok(Supervised { child, reaped: None, tree })
    }

    /// The child's process id (also its process-group id on Unix).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout and stderr pipes (those that were piped), for [`ChildOutput`]'s readers.
    pub(super) fn take_output_pipes(&mut self) -> Vec<Box<dyn std::io::Read + Send>> {
        let stdout = self.child.stdout.take().map(|pipe| Box::new(pipe) as Box<dyn std::io::Read + Send>);
        let stderr = self.child.stderr.take().map(|pipe| Box::new(pipe) as Box<dyn std::io::Read + Send>);
        stdout.into_iter().chain(stderr).collect()
    }

    /// The exit status if the direct child has exited, without waiting. Also notes the tree's
    /// members, so that one which is reparented later is still known.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.reaped.is_none() {
            self.tree.remember_members_now_and_then();
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

    /// [`Supervised::wait`] for at most `limit`: past it the tree is stopped and the answer is
    /// `None`. Ctrl-C ends the wait with an error, as everywhere.
    pub fn wait_within(mut self, limit: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + limit;
        loop {
            if self.exited()?.is_some() {
                return self.wait().map(Some);
            }
            check_interrupted()?;
            if Instant::now() >= deadline {
                self.stop(STOP_GRACE);
                check_interrupted()?;
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM the tree, wait up to `grace` for all of it to end, then SIGKILL what is left.
    pub fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        self.stop_tree(grace);
        self.reaped
    }

    fn stop_tree(&mut self, grace: Duration) {
        self.tree.signal(Signal::Terminate);
        let deadline = Instant::now() + grace;
        let mut next_walk = Instant::now() + TREE_WALK_INTERVAL;
        while Instant::now() < deadline {
            if self.reaped.is_none()
                && let Ok(Some(status)) = self.child.try_wait()
            {
                self.reaped = Some(status);
            }
            if Instant::now() >= next_walk {
                // Members that appeared since get their SIGTERM too.
                self.tree.signal(Signal::Terminate);
                next_walk = Instant::now() + TREE_WALK_INTERVAL;
            }
            if self.reaped.is_some() && !self.tree.any_alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.finish();
    }

    /// SIGKILL whatever is left of the tree, reap the child and forget it.
    fn finish(&mut self) {
        self.tree.signal(Signal::Kill);
        if self.reaped.is_none() {
            self.reaped = self.child.wait().ok();
        }
        // A member may have forked while being killed: walk until the tree is empty (bounded).
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.tree.any_alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            self.tree.signal(Signal::Kill);
        }
        running_children().retain(|(pid, _, _)| *pid != self.child.id());
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let registered = running_children().iter().any(|(pid, _, _)| *pid == self.child.id());
        if registered {
            self.stop_tree(STOP_GRACE);
        }
    }
}

/// A mark no other tree of this or another xtask carries.
fn new_tree_mark() -> String {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}-{}-{}", std::process::id(), since_epoch.as_nanos(), TREES_STARTED.fetch_add(1, Ordering::SeqCst))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signal {
    Terminate,
    Kill,
}

/// One supervised child's process tree: the root (also its process group) and every process
/// seen in it so far.
struct Tree {
    root: u32,
    mark: String,
    members: Vec<tree::Member>,
    last_walk: Option<Instant>,
    #[cfg_attr(not(windows), allow(dead_code))]
    containment: Containment,
    /// Windows: whether Ctrl-Break was sent to the group already.
    #[cfg_attr(not(windows), allow(dead_code))]
    stop_requested: bool,
}

impl Tree {
    fn new(root: u32, mark: String, containment: Containment) -> Tree {
        Tree { root, mark, members: Vec::new(), last_walk: None, containment, stop_requested: false }
    }

    /// [`Tree::remember_members`] at most once per [`TREE_WALK_INTERVAL`], for callers that poll.
    fn remember_members_now_and_then(&mut self) {
        if self.last_walk.is_none_or(|walked| walked.elapsed() >= TREE_WALK_INTERVAL) {
            self.remember_members();
        }
    }

    /// Walk the process table and add the members found now to those seen before.
    fn remember_members(&mut self) {
        self.last_walk = Some(Instant::now());
        for member in tree::current_members(self.root, &self.mark) {
            if !self.members.contains(&member) {
                self.members.push(member);
            }
        }
        self.members.retain(tree::is_alive);
    }

    /// Send `signal` to the group and to every member, known or new (on Windows: to the job).
    fn signal(&mut self, signal: Signal) {
        #[cfg(windows)]
        if let Some(job) = &self.containment {
            match signal {
                // Once: the walk loop repeats Terminate for Unix trees, whose new members need it;
                // a job needs no walk, and a service may take a second request as "now".
                Signal::Terminate if !self.stop_requested => {
                    job_object::request_stop(self.root);
                    self.stop_requested = true;
                }
                Signal::Terminate => {}
                Signal::Kill => job.terminate(),
            }
            return;
        }
        self.remember_members();
        signal_group(self.root, signal);
        for member in &self.members {
            tree::signal_member(member, signal);
        }
    }

    /// Whether a member is still running: the known ones are checked each time, the process
    /// table is walked again now and then.
    fn any_alive(&mut self) -> bool {
        #[cfg(windows)]
        if let Some(job) = &self.containment {
            return job.active_processes() > 0;
        }
        self.remember_members_now_and_then();
        self.members.retain(tree::is_alive);
        !self.members.is_empty()
    }
}

#[cfg(unix)]
fn isolate(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(unix)]
fn contain(_child: &mut Child, _what: &str) -> anyhow::Result<Containment> {
    Ok(GroupOnly)
}

#[cfg(unix)]
fn signal_group(group: u32, signal: Signal) {
    let Ok(group) = libc::pid_t::try_from(group) else { return };
    // SAFETY: kill only sends a signal. A negative pid addresses the whole process group; ESRCH
    // (already gone) is fine.
    unsafe {
        libc::kill(-group, unix_signal(signal));
    }
}

#[cfg(unix)]
fn unix_signal(signal: Signal) -> libc::c_int {
    match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    }
}

/// A group of its own (for Ctrl-Break), started suspended until [`contain`] has put it in its job.
#[cfg(windows)]
fn isolate(command: &mut Command) {
    use std::os::windows::process::CommandExt;
    command.creation_flags(job_object::CREATE_NEW_PROCESS_GROUP | job_object::CREATE_SUSPENDED);
}

/// Put the suspended child in a new job and let it run. A job that cannot be made or joined is a
/// warning (the stop falls back to `taskkill`); a child that cannot be resumed is killed, an error.
#[cfg(windows)]
fn contain(child: &mut Child, what: &str) -> anyhow::Result<Containment> {
    let job = job_object::Job::new().and_then(|job| job.assign(child).map(|()| job));
    if let Err(error) = &job {
        eprintln!(
            "warning: {what} runs outside a job object ({error}); stopping it falls back to taskkill /T, which \
             misses processes whose parent has already ended"
        );
    }
    if let Err(error) = job_object::resume_threads_of(child.id()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(anyhow::Error::from(error).context(format!("resuming {what}, started suspended")));
    }
    Ok(job.ok().map(Arc::new))
}

/// The threads among `threads` (thread id, owning process id) that belong to `pid`.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) fn threads_owned_by(pid: u32, threads: &[(u32, u32)]) -> Vec<u32> {
    threads.iter().filter(|(_, owner)| *owner == pid).map(|(thread, _)| *thread).collect()
}

#[cfg(windows)]
fn signal_group(pid: u32, signal: Signal) {
    // taskkill /T walks the tree; without /F it asks politely, with /F it terminates. The runner's
    // own helpers use std's `Command` directly: they run from the Ctrl-C handler, where an xshell
    // `Shell` (which reads the current folder first) could fail.
    let mut taskkill = Command::new("taskkill");
    taskkill.args(["/T", "/PID", &pid.to_string()]);
    if matches!(signal, Signal::Kill) {
        taskkill.arg("/F");
    }
    let _ = taskkill.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threads_to_resume_are_those_of_the_started_process_only() {
        let snapshot = [(10, 4), (11, 900), (12, 900), (13, 5)];
        assert_eq!(threads_owned_by(900, &snapshot), [11, 12]);
        assert_eq!(threads_owned_by(7, &snapshot), Vec::<u32>::new());
    }
}

#[cfg(all(test, unix))]
mod unix_tests {
    use super::*;

    /// Running and not a zombie waiting for a parent that does not reap.
    fn alive(pid: u32) -> bool {
        // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
        let exists = unsafe { libc::kill(pid as libc::pid_t, 0) == 0 };
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| tree::parse_proc_stat(&stat))
            .is_some_and(|(state, _, _)| state == 'Z');
        exists && !zombie
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
        assert_gone_soon(grandchild, "grandchild");
    }

    /// The process `pid` is gone within 5 s (reparented to init, which reaps it): poll until then.
    fn assert_gone_soon(pid: u32, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(Instant::now() < deadline, "{what} {pid} survived the stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A grandchild that calls setsid and whose parent exits at once: it is in no group of ours
    /// and is reparented, yet the stop must end it.
    #[test]
    fn stop_ends_a_grandchild_that_left_the_session() {
        let folder = tempfile::tempdir().unwrap();
        let pid_file = folder.path().join("grandchild.pid");
        let grandchild_code = format!(
            "import os, time; os.setsid(); open({:?}, 'w').write(str(os.getpid())); time.sleep(60)",
            pid_file.display().to_string()
        );
        let script = "python3 -c \"$1\" & exit 0";
        let mut supervised =
            Supervised::spawn(Command::new("sh").args(["-c", script, "sh", &grandchild_code]), "test tree").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&pid_file).map(|text| text.is_empty()).unwrap_or(true) {
            assert!(Instant::now() < deadline, "grandchild never started");
            supervised.exited().unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        let grandchild: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        assert!(alive(grandchild));
        supervised.stop(Duration::from_millis(300));
        assert_gone_soon(grandchild, "setsid grandchild");
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

#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    /// A Python parent that starts a sleeping child, prints the child's pid and sleeps too: the
    /// shape of a one-file sidecar (bootloader and frozen child).
    fn parent_with_a_child() -> (Supervised, u32) {
        let script = "import subprocess, sys, time\n\
                      child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n\
                      print(child.pid, flush=True)\n\
                      time.sleep(120)\n";
        let mut command = Command::new("python");
        command.args(["-c", script]).stdout(Stdio::piped());
        let mut parent = Supervised::spawn(&mut command, "a parent with a child").unwrap();
        let mut line = String::new();
        BufReader::new(parent.child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let child: u32 = line.trim().parse().unwrap_or_else(|_| panic!("not a pid: {line:?}"));
        assert!(job_object::is_running(child), "the child did not start");
        (parent, child)
    }

    #[test]
    fn the_child_runs_in_a_job_and_stopping_ends_the_process_it_started() {
        let (parent, child) = parent_with_a_child();
        assert!(parent.tree.containment.is_some(), "the child runs outside a job object");
        parent.stop(Duration::from_secs(2));
        assert!(!job_object::is_running(child), "the parent's child outlived the stop");
    }

    #[test]
    fn dropping_the_supervised_child_ends_its_whole_tree() {
        let (parent, child) = parent_with_a_child();
        drop(parent);
        assert!(!job_object::is_running(child), "the parent's child outlived the drop");
    }

    #[test]
    fn a_child_that_ends_by_itself_is_waited_for_normally() {
        let mut command = Command::new("python");
        command.args(["-c", "import sys; sys.exit(3)"]);
        let status = Supervised::spawn(&mut command, "a short child").unwrap().wait().unwrap();
        assert_eq!(status.code(), Some(3));
    }
}
