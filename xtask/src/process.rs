//! Running processes. Short commands (git, uv and Python probes) are built with xshell's `cmd!`,
//! where one `{arg}` is one argument, and run to their end by [`read`] or xshell itself. Long-lived
//! children are built the same way, turned into a `std::process::Command` and run by [`Supervised`];
//! [`ChildOutput`] tees their output. `Command::new` is written only here.
//!
//! A supervised child is always stopped as a whole tree, so a PyInstaller one-file sidecar (a
//! bootloader parent with a Python child) or `uv run python -m PyInstaller` stops with everything
//! it spawned. Ctrl-C or SIGTERM to the xtask stops every registered child the same way.
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

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use xshell::{Cmd, Shell};

use crate::failure::Interrupted;

#[cfg(windows)]
mod job_object;

/// What holds a child's tree beyond its process group: on Windows, the job object it runs in.
#[cfg(windows)]
type Containment = Option<Arc<job_object::Job>>;
#[cfg(not(windows))]
type Containment = ();

/// The running children: process id (also the process-group id), the mark of their tree, and
/// what contains it.
static RUNNING_CHILDREN: Mutex<Vec<(u32, String, Containment)>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// How many times Ctrl-C or SIGTERM arrived.
static SIGNALS_RECEIVED: AtomicU32 = AtomicU32::new(0);
/// How many steps that must not be cut in half are running (see [`finish_before_interrupt`]).
static UNSPLITTABLE_STEPS: AtomicU32 = AtomicU32::new(0);
static TREES_STARTED: AtomicU64 = AtomicU64::new(0);

/// How long a child gets after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Set in every supervised child; its descendants inherit it wherever they move in the process
/// tree, so the stop finds them (unless they clear their environment).
pub const TREE_MARK_VARIABLE: &str = "XTASK_PROCESS_TREE";

/// How often the tree is walked again while waiting for it to stop.
const TREE_WALK_INTERVAL: Duration = Duration::from_millis(200);

/// The longest line passed on whole; a longer run of bytes without a newline is cut into pieces.
pub const LONGEST_OUTPUT_LINE: usize = 64 * 1024;

/// Install the Ctrl-C / SIGTERM handler. Call once, first thing.
pub fn stop_children_on_interrupt() {
    let installed = ctrlc::set_handler(|| {
        SIGNALS_RECEIVED.fetch_add(1, Ordering::SeqCst);
        INTERRUPTED.store(true, Ordering::SeqCst);
        let children = running_children().clone();
        if children.is_empty() {
            // Nothing to wait for: the next signal is counted at once.
            return;
        }
        let mut trees: Vec<Tree> = children
            .iter()
            .map(|(pid, mark, containment)| Tree::new(*pid, mark.clone(), containment.clone()))
            .collect();
        for tree in &mut trees {
            tree.signal(Signal::Terminate);
        }
        std::thread::sleep(STOP_GRACE);
        for tree in &mut trees {
            tree.signal(Signal::Kill);
        }
    });
    if let Err(error) = installed {
        eprintln!("warning: cannot watch for Ctrl-C ({error}); children may outlive an interrupt");
    }
}

/// The list of running children, also after a panic elsewhere poisoned its lock: stopping
/// children matters most while unwinding.
fn running_children() -> std::sync::MutexGuard<'static, Vec<(u32, String, Containment)>> {
    lock_even_if_poisoned(&RUNNING_CHILDREN)
}

/// An error if the xtask has been interrupted: long steps call it between units of work. Inside
/// [`finish_before_interrupt`] only a second signal counts.
pub fn check_interrupted() -> anyhow::Result<()> {
    let deferred = UNSPLITTABLE_STEPS.load(Ordering::SeqCst) > 0 && SIGNALS_RECEIVED.load(Ordering::SeqCst) < 2;
    if was_interrupted() && !deferred { Err(Interrupted.into()) } else { Ok(()) }
}

/// Run `step`, a few requests that must not be cut in half (the two renames that swap a file on a
/// published release): a first Ctrl-C or SIGTERM takes effect when it ends, a second one at once.
pub fn finish_before_interrupt<T>(step: impl FnOnce() -> T) -> T {
    struct Unsplittable;
    impl Drop for Unsplittable {
        fn drop(&mut self) {
            UNSPLITTABLE_STEPS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    UNSPLITTABLE_STEPS.fetch_add(1, Ordering::SeqCst);
    let _unsplittable = Unsplittable;
    step()
}

/// Whether Ctrl-C or SIGTERM reached the xtask.
pub fn was_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Read a child's output pipe to its end, whatever the bytes: each line (without its line ending,
/// invalid UTF-8 shown as U+FFFD) goes to `each_line`. Reading never stops early, so the child is
/// never killed by a broken pipe because of what it printed.
pub fn read_lines_lossily(pipe: impl Read, mut each_line: impl FnMut(String)) {
    let mut reader = BufReader::with_capacity(LONGEST_OUTPUT_LINE, pipe);
    let mut line = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok([]) => break,
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let room = LONGEST_OUTPUT_LINE - line.len();
        let window = &available[..available.len().min(room)];
        let (taken, complete) = match window.iter().position(|byte| *byte == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (window.len(), line.len() + window.len() >= LONGEST_OUTPUT_LINE),
        };
        line.extend_from_slice(&window[..taken]);
        reader.consume(taken);
        if complete {
            each_line(lossy_line(&line));
            line.clear();
        }
    }
    if !line.is_empty() {
        each_line(lossy_line(&line));
    }
}

fn lossy_line(bytes: &[u8]) -> String {
    let without_newline = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let without_ending = without_newline.strip_suffix(b"\r").unwrap_or(without_newline);
    String::from_utf8_lossy(without_ending).into_owned()
}

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

/// What [`run_within`] saw of a command: its exit status (`None`: stopped at its time limit), its
/// standard output (at most [`KEPT_OUTPUT_BYTES`]) and the last lines of its stderr.
#[derive(Debug)]
pub struct Finished {
    pub command_line: String,
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr_tail: Vec<String>,
    pub limit: Duration,
}

/// How much of a bounded command's output is kept; the rest is read and dropped.
pub const KEPT_OUTPUT_BYTES: usize = 1024 * 1024;

impl Finished {
    /// Its stdout, trimmed, if it exited 0; otherwise an error naming the command line and why
    /// (its time limit, or its status and last lines of stderr).
    pub fn stdout_if_success(self) -> anyhow::Result<String> {
        match self.status {
            Some(status) if status.success() => Ok(self.stdout.trim().to_string()),
            Some(status) => {
                let said = self.stderr_tail.join(" | ");
                let reason = if said.is_empty() { status.to_string() } else { format!("{status}: {said}") };
                anyhow::bail!("`{}` failed ({reason})", self.command_line)
            }
            None => anyhow::bail!("`{}` did not finish within {} s", self.command_line, self.limit.as_secs()),
        }
    }
}

/// Run a short command that may hang (it talks to a network service, a daemon or code under
/// test) as a supervised tree, for at most `limit`: past it the tree is stopped and the result
/// says so. Ctrl-C stops it too (exit 130). Unlike [`read`], the output is kept whatever the
/// status, so a caller can still use what a failing command printed.
pub fn run_within(command: Cmd<'_>, limit: Duration) -> anyhow::Result<Finished> {
    let command_line = command.to_string();
    let mut command = Command::from(command);
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = Supervised::spawn(&mut command, &format!("`{command_line}`"))?;
    let mut pipes = child.take_output_pipes().into_iter();
    let stdout_reader = pipes.next().map(|pipe| PipeReader::spawn(move || read_bounded(pipe)));
    let stderr_reader = pipes.next().map(|pipe| {
        PipeReader::spawn(move || {
            let mut tail = VecDeque::new();
            read_lines_lossily(pipe, |line| {
                if !line.trim().is_empty() {
                    tail.push_back(line.chars().take(500).collect::<String>());
                }
                if tail.len() > 5 {
                    tail.pop_front();
                }
            });
            tail.into_iter().collect::<Vec<String>>()
        })
    });
    // Stops what is left of the tree (everything, past the limit), so the pipes close.
    let status = child.wait_within(limit)?;
    // A descendant the stop could not find (one that left the tree) may still hold a pipe open:
    // after a short wait that pipe's output is given up on (empty), its reader left to end with it.
    let stdout = stdout_reader.map(|reader| reader.join_within(PIPE_CLOSE_WAIT)).unwrap_or_default();
    let stderr_tail = stderr_reader.map(|reader| reader.join_within(PIPE_CLOSE_WAIT)).unwrap_or_default();
    Ok(Finished { command_line, status, stdout, stderr_tail, limit })
}

/// How long [`run_within`] waits for a stopped command's pipes to close.
const PIPE_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A thread reading a pipe, whose result can be waited for a bounded time.
struct PipeReader<T> {
    result: std::sync::mpsc::Receiver<T>,
}

impl<T: Send + Default + 'static> PipeReader<T> {
    fn spawn(read: impl FnOnce() -> T + Send + 'static) -> PipeReader<T> {
        let (sender, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || drop(sender.send(read())));
        PipeReader { result }
    }

    /// The reader's result, or the default when the pipe stays open past `wait`.
    fn join_within(self, wait: Duration) -> T {
        self.result.recv_timeout(wait).unwrap_or_default()
    }
}

/// A pipe read to its end, keeping its first [`KEPT_OUTPUT_BYTES`] (lossy UTF-8).
fn read_bounded(mut pipe: impl Read) -> String {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => {
                let room = KEPT_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..read.min(room)]);
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
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

/// Where [`ChildOutput`] echoes each line of a child's output.
#[derive(Debug, Clone)]
pub enum Echo {
    Nowhere,
    /// To our stdout, as it is (a test runner's report).
    Stdout,
    /// To our stderr, after the prefix.
    Stderr(String),
}

/// A supervised child's piped stdout and stderr, read to their ends on a thread each so that
/// neither pipe fills up and blocks the child: every line is echoed, shown to a watcher, and the
/// last ones are kept for an error message.
pub struct ChildOutput {
    readers: Vec<std::thread::JoinHandle<()>>,
    last_lines: Arc<Mutex<VecDeque<String>>>,
}

impl ChildOutput {
    /// Tee the pipes `child` was started with to `echo`, keeping the last `keep` lines.
    pub fn tee(child: &mut Supervised, echo: Echo, keep: usize) -> ChildOutput {
        ChildOutput::tee_watching(child, echo, keep, |_| {})
    }

    /// [`ChildOutput::tee`], showing each line to `watch` as it comes.
    pub fn tee_watching(
        child: &mut Supervised,
        echo: Echo,
        keep: usize,
        watch: impl Fn(&str) + Send + Sync + 'static,
    ) -> ChildOutput {
        ChildOutput::tee_into(child, echo, keep, watch, Arc::new(Mutex::new(std::io::stderr())))
    }

    /// [`ChildOutput::tee_watching`], echoing into `stderr` (ours, or a test's buffer).
    fn tee_into(
        child: &mut Supervised,
        echo: Echo,
        keep: usize,
        watch: impl Fn(&str) + Send + Sync + 'static,
        stderr: Arc<Mutex<dyn Write + Send>>,
    ) -> ChildOutput {
        let watch = Arc::new(watch);
        let last_lines = Arc::new(Mutex::new(VecDeque::new()));
        let readers = child
            .take_output_pipes()
            .into_iter()
            .map(|pipe| {
                let (echo, watch, last_lines) = (echo.clone(), Arc::clone(&watch), Arc::clone(&last_lines));
                let stderr = Arc::clone(&stderr);
                std::thread::spawn(move || {
                    read_lines_lossily(pipe, |line| {
                        // A closed stdout or stderr must not stop the reading: the child would block.
                        match &echo {
                            Echo::Nowhere => {}
                            Echo::Stdout => drop(writeln!(std::io::stdout().lock(), "{line}")),
                            Echo::Stderr(prefix) => drop(writeln!(lock_even_if_poisoned(&stderr), "{prefix}{line}")),
                        }
                        watch(&line);
                        let mut kept = lock_even_if_poisoned(&last_lines);
                        kept.push_back(line);
                        if kept.len() > keep {
                            kept.pop_front();
                        }
                    })
                })
            })
            .collect();
        ChildOutput { readers, last_lines }
    }

    /// Wait until the pipes are closed, as they are once the child's tree is gone (after
    /// [`Supervised::wait`] or [`Supervised::stop`]): the last lines, oldest first.
    pub fn finish(self) -> Vec<String> {
        for reader in self.readers {
            let _ = reader.join();
        }
        lock_even_if_poisoned(&self.last_lines).iter().cloned().collect()
    }
}

/// A lock another thread's panic cannot take away: output keeps flowing, children keep being stopped.
fn lock_even_if_poisoned<T: ?Sized>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    fn take_output_pipes(&mut self) -> Vec<Box<dyn std::io::Read + Send>> {
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
            if self.reaped.is_none() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    self.reaped = Some(status);
                }
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
    Ok(())
}

#[cfg(unix)]
fn signal_group(group: u32, signal: Signal) {
    let Ok(group) = libc::pid_t::try_from(group) else { return };
    // A negative pid addresses the whole process group. ESRCH (already gone) is fine.
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
fn threads_owned_by(pid: u32, threads: &[(u32, u32)]) -> Vec<u32> {
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

/// Finding a tree's members in the process table. Pure parts first, the platform shells after.
mod tree {
    /// A process seen in a tree. `start_time` (where the system tells it) tells a process from a
    /// later one that reuses its pid, so a signal never reaches a stranger.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Member {
        pub pid: u32,
        pub start_time: u64,
    }

    /// One row of the process table.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Row {
        pub pid: u32,
        pub parent: u32,
        pub start_time: u64,
        pub marked: bool,
    }

    /// The members among `rows`: descendants of `root` by parent links, and every marked process
    /// with its descendants. The root itself is left out (its caller owns it).
    pub fn members_of(root: u32, rows: &[Row]) -> Vec<Member> {
        let mut found: Vec<u32> = rows.iter().filter(|row| row.marked && row.pid != root).map(|row| row.pid).collect();
        let mut frontier: Vec<u32> = std::iter::once(root).chain(found.iter().copied()).collect();
        while let Some(parent) = frontier.pop() {
            for row in rows.iter().filter(|row| row.parent == parent && row.pid != root) {
                if !found.contains(&row.pid) {
                    found.push(row.pid);
                    frontier.push(row.pid);
                }
            }
        }
        rows.iter()
            .filter(|row| found.contains(&row.pid))
            .map(|row| Member { pid: row.pid, start_time: row.start_time })
            .collect()
    }

    /// `/proc/<pid>/stat` → (state, parent pid, start time). The command name in parentheses may
    /// hold spaces and parentheses itself, so fields are counted after the last `)`.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn parse_proc_stat(text: &str) -> Option<(char, u32, u64)> {
        let after_name = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // After the name: state (field 3), ppid (4), ..., starttime (22).
        let state = fields.first()?.chars().next()?;
        let parent = fields.get(1)?.parse().ok()?;
        let start_time = fields.get(19)?.parse().ok()?;
        Some((state, parent, start_time))
    }

    /// `ps -A -o pid=,ppid=` → rows (no start time, no mark: `ps` tells neither portably).
    #[cfg_attr(not(all(unix, not(target_os = "linux"))), allow(dead_code))]
    pub fn parse_ps_output(text: &str) -> Vec<Row> {
        text.lines()
            .filter_map(|line| {
                let mut numbers = line.split_whitespace().map(|field| field.parse::<u32>());
                match (numbers.next(), numbers.next()) {
                    (Some(Ok(pid)), Some(Ok(parent))) => Some(Row { pid, parent, start_time: 0, marked: false }),
                    _ => None,
                }
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    fn process_table(mark: &str) -> Vec<Row> {
        let wanted = format!("{}={mark}", super::TREE_MARK_VARIABLE).into_bytes();
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|entry| {
                let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let (state, parent, start_time) = parse_proc_stat(&stat)?;
                if state == 'Z' || state == 'X' {
                    return None;
                }
                // Processes of other users are unreadable: they are not ours to stop anyway.
                let environment = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                let marked = environment.split(|byte| *byte == 0).any(|entry| entry == wanted.as_slice());
                Some(Row { pid, parent, start_time, marked })
            })
            .collect()
    }

    #[cfg(all(unix, not(target_os = "linux")))]
    fn process_table(_mark: &str) -> Vec<Row> {
        // The runner's own helper, started with std's `Command` like Windows' `taskkill`.
        std::process::Command::new("ps")
            .args(["-A", "-o", "pid=,ppid="])
            .stderr(std::process::Stdio::null())
            .output()
            .map(|output| parse_ps_output(&String::from_utf8_lossy(&output.stdout)))
            .unwrap_or_default()
    }

    /// Windows: `taskkill /T` on the root covers the tree.
    #[cfg(windows)]
    fn process_table(_mark: &str) -> Vec<Row> {
        Vec::new()
    }

    pub fn current_members(root: u32, mark: &str) -> Vec<Member> {
        members_of(root, &process_table(mark))
    }

    /// Still running (not a zombie) and still the same process.
    #[cfg(target_os = "linux")]
    pub fn is_alive(member: &Member) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", member.pid))
            .ok()
            .and_then(|stat| parse_proc_stat(&stat))
            .is_some_and(|(state, _, start_time)| state != 'Z' && state != 'X' && start_time == member.start_time)
    }

    #[cfg(all(unix, not(target_os = "linux")))]
    pub fn is_alive(member: &Member) -> bool {
        let Ok(pid) = libc::pid_t::try_from(member.pid) else { return false };
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[cfg(windows)]
    pub fn is_alive(_member: &Member) -> bool {
        false
    }

    #[cfg(unix)]
    pub fn signal_member(member: &Member, signal: super::Signal) {
        if !is_alive(member) {
            return;
        }
        let Ok(pid) = libc::pid_t::try_from(member.pid) else { return };
        unsafe {
            libc::kill(pid, super::unix_signal(signal));
        }
    }

    #[cfg(windows)]
    pub fn signal_member(_member: &Member, _signal: super::Signal) {}
}

#[cfg(test)]
mod pure_tests {
    use super::tree::*;
    use super::*;

    #[test]
    fn the_threads_to_resume_are_those_of_the_started_process_only() {
        let snapshot = [(10, 4), (11, 900), (12, 900), (13, 5)];
        assert_eq!(threads_owned_by(900, &snapshot), [11, 12]);
        assert_eq!(threads_owned_by(7, &snapshot), Vec::<u32>::new());
    }

    fn row(pid: u32, parent: u32, marked: bool) -> Row {
        Row { pid, parent, start_time: u64::from(pid) * 100, marked }
    }

    #[test]
    fn members_are_descendants_and_marked_processes_with_theirs() {
        let rows = [
            row(1, 0, false),
            row(10, 1, true),   // the root
            row(11, 10, true),  // its child
            row(12, 11, true),  // a grandchild
            row(13, 1, true),   // called setsid and was reparented to init
            row(14, 13, false), // cleared its environment, but its parent is a member
            row(15, 12, false),
            row(20, 1, false), // a stranger
            row(21, 20, false),
        ];
        let mut pids: Vec<u32> = members_of(10, &rows).iter().map(|member| member.pid).collect();
        pids.sort();
        assert_eq!(pids, [11, 12, 13, 14, 15]);
        assert_eq!(members_of(10, &rows)[0].start_time, 1100);
        assert!(members_of(20, &[row(20, 1, false)]).is_empty());
    }

    #[test]
    fn proc_stat_fields_are_counted_after_the_command_name() {
        let stat = "4242 (we) (ird) name) S 17 4242 4242 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3";
        assert_eq!(parse_proc_stat(stat), Some(('S', 17, 987654)));
        assert_eq!(parse_proc_stat("7 (zombie) Z 1 7 7 0"), None, "too short: no start time");
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn ps_rows() {
        let rows = parse_ps_output("  PID  PPID\n    1     0\n  300     1\nbad line\n  301   300\n");
        assert_eq!(rows.iter().map(|row| (row.pid, row.parent)).collect::<Vec<_>>(), [(1, 0), (300, 1), (301, 300)]);
    }

    fn lines_of(bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        read_lines_lossily(bytes, |line| lines.push(line));
        lines
    }

    #[test]
    fn output_lines_are_read_to_the_end_whatever_the_bytes() {
        assert_eq!(lines_of(b"a\n\xff\xfe b\r\nlast"), ["a", "\u{fffd}\u{fffd} b", "last"]);
        assert_eq!(lines_of(b""), Vec::<String>::new());
        assert_eq!(lines_of(b"\n\n"), ["", ""]);
        let flood = vec![b'x'; LONGEST_OUTPUT_LINE * 2 + 5];
        let pieces = lines_of(&flood);
        assert_eq!(pieces.iter().map(String::len).collect::<Vec<_>>(), [LONGEST_OUTPUT_LINE, LONGEST_OUTPUT_LINE, 5]);
    }
}

/// On Unix a process over its file size limit (`ulimit -f`) is killed by SIGXFSZ; ignored, the
/// write fails with "File too large" instead and the xtask reports it like a full disk.
pub fn report_file_size_limits_as_errors() {
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_command_past_its_limit_is_stopped_with_its_tree_and_says_so() {
        let sh = Shell::new().unwrap();
        let started = Instant::now();
        let finished =
            run_within(xshell::cmd!(sh, "sh -c 'echo before; sleep 30 & sleep 30'"), Duration::from_millis(300))
                .unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
        assert_eq!(finished.status, None);
        assert_eq!(finished.stdout.trim(), "before", "what it printed before the limit is kept");
        let error = finished.stdout_if_success().unwrap_err();
        assert!(format!("{error:#}").contains("did not finish within 0 s"), "{error:#}");
    }

    #[test]
    fn a_bounded_command_keeps_its_output_bounded_and_its_last_complaints() {
        let sh = Shell::new().unwrap();
        let script = "head -c 3000000 /dev/zero | tr '\\0' x; echo first >&2; echo last >&2; exit 3";
        let finished = run_within(xshell::cmd!(sh, "sh -c {script}"), Duration::from_secs(20)).unwrap();
        assert_eq!(finished.stdout.len(), KEPT_OUTPUT_BYTES);
        assert_eq!(finished.status.and_then(|status| status.code()), Some(3));
        let error = finished.stdout_if_success().unwrap_err();
        assert!(format!("{error:#}").ends_with("(exit status: 3: first | last)"), "{error:#}");
    }

    /// Running and not a zombie waiting for a parent that does not reap.
    fn alive(pid: u32) -> bool {
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

    /// A supervised `sh -c script` with its stdout and stderr piped.
    fn piped_shell(script: &str) -> Supervised {
        let sh = Shell::new().unwrap();
        let mut command = Command::from(xshell::cmd!(sh, "sh -c {script}"));
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        Supervised::spawn(&mut command, "sh").unwrap()
    }

    #[test]
    fn tee_echoes_every_line_after_the_prefix_and_keeps_the_last_ones() {
        let mut child = piped_shell("for n in 1 2 3 4 5; do echo line $n; done");
        let echoed = Arc::new(Mutex::new(Vec::new()));
        let output = ChildOutput::tee_into(&mut child, Echo::Stderr("[sh] ".into()), 3, |_| {}, echoed.clone());
        assert!(child.wait().unwrap().success());
        assert_eq!(output.finish(), ["line 3", "line 4", "line 5"]);
        let echoed = String::from_utf8(echoed.lock().unwrap().clone()).unwrap();
        assert_eq!(echoed, "[sh] line 1\n[sh] line 2\n[sh] line 3\n[sh] line 4\n[sh] line 5\n");

        // Both pipes are read, each line is watched once, and nothing is echoed when asked so.
        let mut child = piped_shell("for n in 1 2 3; do echo out $n; echo err $n >&2; done");
        let (echoed, watched) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let seen = Arc::clone(&watched);
        let watch = move |line: &str| seen.lock().unwrap().push(line.to_string());
        let output = ChildOutput::tee_into(&mut child, Echo::Nowhere, 2, watch, echoed.clone());
        assert!(child.wait().unwrap().success());
        assert_eq!(output.finish().len(), 2);
        let mut watched = watched.lock().unwrap().clone();
        watched.sort();
        assert_eq!(watched, ["err 1", "err 2", "err 3", "out 1", "out 2", "out 3"]);
        assert!(echoed.lock().unwrap().is_empty());
    }

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

/// The job object on a real Windows runner (the Windows CI job runs these).
#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;
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
