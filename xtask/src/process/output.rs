//! A child's output: a pipe read to its end whatever the bytes ([`read_lines_lossily`]), and
//! [`ChildOutput`], which tees a supervised child's stdout and stderr to an echo, a watcher and the
//! last lines kept for an error message.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use super::{Supervised, lock_even_if_poisoned};

/// The longest line passed on whole; a longer run of bytes without a newline is cut into pieces.
pub const LONGEST_OUTPUT_LINE: usize = 64 * 1024;

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
                    });
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

#[cfg(test)]
mod tests {
    use super::*;

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

#[cfg(all(test, unix))]
mod unix_tests {
    use super::*;
    use std::process::Command;
    use xshell::Shell;

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
}
