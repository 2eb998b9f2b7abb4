//! The real one-file sidecars and stop signals: built once in a fresh clone, each is started on
//! port 0 and stopped with SIGTERM or SIGINT sent to its pid, to its whole process group (what a
//! terminal's Ctrl-C, `timeout` and most supervisors do; the Python child then gets the signal
//! twice, once forwarded by the bootloader), and twice in a row to the group. Every run must exit
//! 0 without a traceback and leave no `_MEI*` extraction folder, as the source run does.

// Unix only: SIGTERM and SIGINT to a pid and a process group; Windows has no such signals.
#![cfg(unix)]

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

const ROUNDS: usize = 3;
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const STOP_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Target {
    Pid,
    Group,
    GroupTwice,
}

struct Started {
    child: Child,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

/// Start a sidecar in a process group of its own with a private temp folder; wait for `wanted`
/// `listening on` lines.
fn start(binary: &Path, args: &[&str], temp: &Path, wanted: usize) -> Started {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(binary)
        .args(args)
        .env("TMPDIR", temp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let (sender, output) = mpsc::channel();
    for mut pipe in
        [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
    {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut buffer) {
                if sender.send(buffer[..read].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    let mut started = Started { child, output, seen: Vec::new() };
    let deadline = Instant::now() + STARTUP_DEADLINE;
    while text(&started.seen).matches("listening on").count() < wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{} never announced its ports:\n{}", binary.display(), text(&started.seen));
        if let Ok(bytes) = started.output.recv_timeout(left.min(Duration::from_millis(100))) {
            started.seen.extend(bytes);
        }
    }
    started
}

fn signal(pid: i32, signum: i32) {
    // SAFETY: kill only sends a signal.
    assert_eq!(unsafe { libc::kill(pid, signum) }, 0, "kill({pid}, {signum})");
}

/// Stop as `target` says; return the exit code (None: killed by a signal) and all output.
fn stop(mut started: Started, signum: i32, target: Target) -> (Option<i32>, Option<i32>, String) {
    let pid = started.child.id() as i32;
    match target {
        Target::Pid => signal(pid, signum),
        Target::Group => signal(-pid, signum),
        Target::GroupTwice => {
            signal(-pid, signum);
            signal(-pid, signum);
        }
    }
    let deadline = Instant::now() + STOP_DEADLINE;
    let status = loop {
        if let Some(status) = started.child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            signal(-pid, libc::SIGKILL);
            panic!("did not stop within {STOP_DEADLINE:?} after signal {signum} to {target:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The pipes close when the process is gone: drain what is left.
    while let Ok(bytes) = started.output.recv_timeout(Duration::from_secs(5)) {
        started.seen.extend(bytes);
    }
    use std::os::unix::process::ExitStatusExt;
    (status.code(), status.signal(), text(&started.seen))
}

fn leftover_extraction_folders(temp: &Path) -> Vec<String> {
    std::fs::read_dir(temp)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("_MEI"))
        .collect()
}

#[test]
fn one_file_sidecars_exit_zero_on_stop_signals_to_the_pid_or_the_group() {
    let (_folder, clone) = fresh_clone();
    let build_started = Instant::now();
    succeeded(&xtask(&clone, &["sidecar"]), "cargo xtask sidecar");
    eprintln!("built both sidecars in {:?}", build_started.elapsed());

    let sidecars: [(&str, &[&str], usize); 2] = [
        ("lumen-argus-agent", &["relay", "--host", "127.0.0.1", "--port", "0"], 1),
        ("lumen-argus", &["serve", "--host", "127.0.0.1", "--port", "0", "--dashboard-port", "0"], 2),
    ];
    let temp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut runs = 0;
    let rounds_started = Instant::now();
    for (binary, args, wanted) in sidecars {
        let path = clone.join("dist").join(format!("{binary}-{}", host_triple()));
        for round in 0..ROUNDS {
            for signum in [libc::SIGTERM, libc::SIGINT] {
                for target in [Target::Pid, Target::Group, Target::GroupTwice] {
                    let started = start(&path, args, temp.path(), wanted);
                    let (code, killed_by, output) = stop(started, signum, target);
                    runs += 1;
                    let leftovers = leftover_extraction_folders(temp.path());
                    let traceback = output.contains("Traceback") || output.contains("Bad file descriptor");
                    if code != Some(0) || traceback || !leftovers.is_empty() {
                        failures.push(format!(
                            "{binary} round {round}, signal {signum} to {target:?}: exit {code:?}, \
                             signal {killed_by:?}, _MEI left {leftovers:?}, output:\n{output}"
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{runs} stops in {:?}", rounds_started.elapsed());
    assert!(failures.is_empty(), "{} of {runs} stops went wrong:\n{}", failures.len(), failures.join("\n"));
}
