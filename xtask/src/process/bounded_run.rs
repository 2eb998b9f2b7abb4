//! [`run_within`]: a short command that may hang, run as a supervised tree for at most a time
//! limit, with its output kept (bounded) whatever its status.

use std::collections::VecDeque;
use std::io::Read;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use xshell::Cmd;

use super::Supervised;
use super::output::read_lines_lossily;

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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Instant;
    use xshell::Shell;

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
}
