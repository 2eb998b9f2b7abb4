//! `cargo xtask test --long`: the fault-injection loop. Each round starts one command in a
//! prepared clone, sends SIGINT or SIGTERM to its whole process group after a random delay (as a
//! terminal's Ctrl-C or a cancelled Actions job does), sometimes a second signal while it cleans
//! up, with the delays printed with the seed so that a failing round can be replayed with
//! `--seed`. Then it checks what an interrupted command must leave behind: an exit code of 130 (or
//! 0 when it finished first), no partial file, no stale manifest, no half-made commit or tag, no
//! process of its tree, no `_MEI*` folder or other temporary left in its temp folder, and for the
//! release scenarios (`collect`, `checksums --verify`, `github-release` against a stand-in GitHub
//! API with transient faults) no half-merged folder and no second, incomplete or shrunken release;
//! then the same command, run again uninterrupted, succeeds.
//!
//! The rounds' signals are drawn in `fault_signals.rs`, what they must not leave is looked for in
//! `fault_leftovers.rs`, and the release scenarios' folders and stand-in are in `fault_rehearsal.rs`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use xshell::cmd;

use crate::failure::refuse;
use crate::fault_leftovers::{MARKER, manifest_problems, partial_files, processes_with_marker};
use crate::fault_rehearsal::Rehearsal;
use crate::fault_signals::{Random, Signals};
use crate::github_stand_in::StandIn;
use crate::process::{self, ChildOutput, Echo, Supervised};

/// How long an injected round may take before it counts as a hang.
const ROUND_LIMIT: Duration = Duration::from_secs(300);
/// Lines of a run's output kept: its whole output, in which a panic is looked for and whose tail a
/// failure shows.
const KEPT_OUTPUT_LINES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct LoopOptions {
    pub rounds: u32,
    pub seed: u64,
}

/// What the loop counted.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoopTally {
    pub passed: u64,
    pub failed: u64,
}

/// A command to interrupt.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    SidecarNoCache,
    Smoke,
    Checksums,
    Bump,
    ReleaseExecute,
    Collect,
    ChecksumsVerify,
    GithubRelease,
    GithubReplace,
}

/// The scenarios that build `dist/`, in order; the release scenarios then work on a copy of it.
const BUILD_SCENARIOS: [Scenario; 5] =
    [Scenario::SidecarNoCache, Scenario::Smoke, Scenario::Checksums, Scenario::Bump, Scenario::ReleaseExecute];
const RELEASE_SCENARIOS: [Scenario; 4] =
    [Scenario::Collect, Scenario::ChecksumsVerify, Scenario::GithubRelease, Scenario::GithubReplace];

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::SidecarNoCache => "sidecar --no-cache",
            Scenario::Smoke => "smoke",
            Scenario::Checksums => "checksums",
            Scenario::Bump => "bump core patch",
            Scenario::ReleaseExecute => "release --execute",
            Scenario::Collect => "collect",
            Scenario::ChecksumsVerify => "checksums --verify",
            Scenario::GithubRelease => "github-release",
            Scenario::GithubReplace => "github-release --replace",
        }
    }

    /// Whether a successful run leaves a change in git that the next round must undo.
    fn changes_git(self) -> bool {
        matches!(self, Scenario::Bump | Scenario::ReleaseExecute)
    }
}

/// One run of a scenario: its command line, its environment, and for `github-release` its
/// stand-in API (kept for the run that follows an interrupted one) and what was published before.
struct Setup {
    args: Vec<String>,
    environment: Vec<(String, String)>,
    stand_in: Option<StandIn>,
    published_before: Option<std::collections::BTreeMap<String, String>>,
}

fn setup(scenario: Scenario, rehearsal: Option<&Rehearsal>, random: Option<&mut Random>) -> anyhow::Result<Setup> {
    let words = |words: &[&str]| words.iter().map(|word| word.to_string()).collect::<Vec<String>>();
    let plain = |args: Vec<String>| Setup { args, environment: Vec::new(), stand_in: None, published_before: None };
    let rehearsal = match (scenario, rehearsal) {
        (Scenario::SidecarNoCache, _) => return Ok(plain(words(&["sidecar", "--no-cache"]))),
        (Scenario::Smoke, _) => return Ok(plain(words(&["smoke"]))),
        (Scenario::Checksums, _) => return Ok(plain(words(&["checksums"]))),
        (Scenario::Bump, _) => return Ok(plain(words(&["bump", "core", "patch"]))),
        (Scenario::ReleaseExecute, _) => return Ok(plain(words(&["release", "--execute"]))),
        (_, Some(rehearsal)) => rehearsal,
        (_, None) => anyhow::bail!("{} needs the release rehearsal folders", scenario.label()),
    };
    let path = |path: &Path| path.to_string_lossy().into_owned();
    let publish = words(&["github-release", "--tag", &rehearsal.tag, "--dir", &path(&rehearsal.release_dir)]);
    Ok(match scenario {
        Scenario::Collect => {
            plain(words(&["collect", &path(&rehearsal.runners_dir), "--into", &path(&rehearsal.collected_dir)]))
        }
        Scenario::ChecksumsVerify => plain(words(&["checksums", "--verify", &path(&rehearsal.release_dir)])),
        Scenario::GithubRelease => {
            let stand_in = rehearsal.stand_in_for_publication(random)?;
            Setup {
                args: publish,
                environment: Rehearsal::environment(&stand_in),
                stand_in: Some(stand_in),
                published_before: None,
            }
        }
        _ => {
            let stand_in = rehearsal.stand_in_for_replacement()?;
            let mut args = publish;
            args.extend(words(&["--replace", &rehearsal.replaced_binary, crate::checksums_file::CHECKSUMS_FILE]));
            let published_before = rehearsal.published_assets(&stand_in);
            Setup { args, environment: Rehearsal::environment(&stand_in), stand_in: Some(stand_in), published_before }
        }
    })
}

/// What must hold after a scenario's run to its end, beyond its exit code.
fn completed_problems(scenario: Scenario, setup: &Setup, rehearsal: Option<&Rehearsal>) -> Result<(), String> {
    match (scenario, rehearsal, &setup.stand_in) {
        (Scenario::Collect, Some(rehearsal), _) => rehearsal.collected_problems(),
        (Scenario::GithubRelease | Scenario::GithubReplace, Some(rehearsal), Some(stand_in)) => {
            rehearsal.completed_problems(stand_in)
        }
        _ => Ok(()),
    }
}

/// Run the loop in a fresh clone of `root`; each injected round is one pass or one failure.
pub fn run(root: &Path, uv: &Path, options: LoopOptions) -> anyhow::Result<LoopTally> {
    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let scratch = tempfile::Builder::new().prefix("xtask-faults-").tempdir().context("creating a scratch folder")?;
    let clone = scratch.path().join("clone");
    git(scratch.path(), &["clone", "--quiet", &root.to_string_lossy(), &clone.to_string_lossy()])?;
    for (key, value) in [("user.name", "fault injection"), ("user.email", "faults@example.invalid")] {
        git(&clone, &["config", key, value])?;
    }
    let start_commit = git(&clone, &["rev-parse", "HEAD"])?;
    let scenarios: Vec<Scenario> = BUILD_SCENARIOS.iter().chain(&RELEASE_SCENARIOS).copied().collect();
    println!(
        "fault injection: seed {}, {} round(s) of {} scenarios in {}",
        options.seed,
        options.rounds,
        scenarios.len(),
        clone.display()
    );

    // One uninterrupted run of each scenario: it must pass, and its time bounds the delays. The
    // release scenarios work on a copy of what the build scenarios left in dist/.
    let temp = scratch.path().join("tmp");
    let mut durations = Vec::new();
    let mut rehearsal = None;
    for scenario in &scenarios {
        if RELEASE_SCENARIOS.contains(scenario) && rehearsal.is_none() {
            rehearsal = Some(Rehearsal::prepare(&clone, scratch.path())?);
        }
        let setup = setup(*scenario, rehearsal.as_ref(), None)?;
        let started = Instant::now();
        let (status, output) = run_to_end(&xtask, &clone, uv, &setup, &temp)?;
        let completed = completed_problems(*scenario, &setup, rehearsal.as_ref());
        if !status.success() || completed.is_err() {
            let problem = completed.err().unwrap_or_default();
            return Err(refuse(
                format!(
                    "`cargo xtask {}` fails even without a fault ({status}) {problem}:\n{output}",
                    scenario.label()
                ),
                "fix the plain run first: the loop needs every scenario green",
            ));
        }
        durations.push(started.elapsed());
        restore(&clone, &start_commit, *scenario)?;
    }
    let timings: Vec<String> = scenarios
        .iter()
        .zip(&durations)
        .map(|(scenario, took)| format!("{} {:.2} s", scenario.label(), took.as_secs_f64()))
        .collect();
    println!("uninterrupted runs: {}; each round's first signal comes within 1.1 times that", timings.join(", "));

    let mut random = Random::new(options.seed);
    let mut tally = LoopTally::default();
    for round in 1..=options.rounds {
        for (scenario, typical) in scenarios.iter().zip(&durations) {
            crate::process::check_interrupted()?;
            let signals = Signals::draw(&mut random, *typical);
            let description =
                format!("round {round}/{}: {} <- {}", options.rounds, scenario.label(), signals.describe());
            let setup = setup(*scenario, rehearsal.as_ref(), Some(&mut random))?;
            let context = RoundContext { xtask: &xtask, clone: &clone, uv, temp: &temp, start_commit: &start_commit };
            match inject(&context, *scenario, &setup, rehearsal.as_ref(), &signals) {
                Ok(outcome) => {
                    tally.passed += 1;
                    println!("ok    {description}: {outcome}");
                }
                Err(error) => {
                    tally.failed += 1;
                    println!("FAIL  {description} (seed {}): {error:#}", options.seed);
                }
            }
            restore(&clone, &start_commit, *scenario)?;
        }
    }
    Ok(tally)
}

/// A started xtask, killed with its marker's processes if the round fails half-way.
struct Round {
    child: Option<Supervised>,
    marker: String,
}

impl Drop for Round {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            child.stop(Duration::ZERO);
        }
        for pid in processes_with_marker(&self.marker) {
            #[cfg(unix)]
            // SAFETY: kill(2) on a pid found by its environment marker; ESRCH is harmless.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            #[cfg(not(unix))]
            let _ = pid;
        }
    }
}

fn start(xtask: &Path, clone: &Path, uv: &Path, setup: &Setup, temp: &Path) -> anyhow::Result<Round> {
    if temp.exists() {
        std::fs::remove_dir_all(temp).with_context(|| format!("clearing {}", temp.display()))?;
    }
    std::fs::create_dir_all(temp).with_context(|| format!("creating {}", temp.display()))?;
    let marker = format!("{}-{}", std::process::id(), crate::fault_signals::default_seed());
    let (sh, args) = (process::shell_in(clone)?, &setup.args);
    let mut xtask_under_test =
        cmd!(sh, "{xtask} {args...}").env(MARKER, &marker).env("XTASK_UV", uv).env("TMPDIR", temp);
    for (key, value) in &setup.environment {
        xtask_under_test = xtask_under_test.env(key, value);
    }
    // The scratch clone keeps its files in its own target/, where the leftover checks look.
    let without_actions =
        xtask_under_test.env_remove("GITHUB_ACTIONS").env_remove("GITHUB_STEP_SUMMARY").env_remove("CARGO_TARGET_DIR");
    let mut command = Command::from(without_actions.env_remove("GITHUB_OUTPUT"));
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = Supervised::spawn(&mut command, "the xtask under test")?;
    Ok(Round { child: Some(child), marker })
}

fn run_to_end(
    xtask: &Path,
    clone: &Path,
    uv: &Path,
    setup: &Setup,
    temp: &Path,
) -> anyhow::Result<(ExitStatus, String)> {
    let mut round = start(xtask, clone, uv, setup, temp)?;
    let mut child = round.child.take().expect("started");
    let output = ChildOutput::tee(&mut child, Echo::Nowhere, KEPT_OUTPUT_LINES);
    let status = child.wait().context("waiting for the xtask under test")?;
    Ok((status, output.finish().join("\n")))
}

/// What every round shares.
struct RoundContext<'a> {
    xtask: &'a Path,
    clone: &'a Path,
    uv: &'a Path,
    temp: &'a Path,
    start_commit: &'a str,
}

fn inject(
    context: &RoundContext<'_>,
    scenario: Scenario,
    setup: &Setup,
    rehearsal: Option<&Rehearsal>,
    signals: &Signals,
) -> anyhow::Result<String> {
    let RoundContext { xtask, clone, uv, temp, start_commit } = *context;
    let before = git(clone, &["rev-parse", "HEAD"])?;
    let mut round = start(xtask, clone, uv, setup, temp)?;
    let child = round.child.as_mut().expect("started");
    let pid = child.id();
    // Drain the pipes so a chatty command never blocks on a full pipe.
    let output = ChildOutput::tee(child, Echo::Nowhere, KEPT_OUTPUT_LINES);
    let started = Instant::now();
    let mut finished_first = None;
    while started.elapsed() < signals.delay {
        if let Some(status) = child.exited().context("checking the xtask under test")? {
            finished_first = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if finished_first.is_none() {
        signals.first.send_to_group(pid);
    }
    let first_sent = Instant::now();
    let mut second = signals.second.filter(|_| finished_first.is_none());
    let status = loop {
        if let Some(status) = child.exited().context("waiting for the xtask under test")? {
            break status;
        }
        if let Some((_, signal)) = second.filter(|(then, _)| first_sent.elapsed() >= *then) {
            signal.send_to_group(pid);
            second = None;
        }
        if started.elapsed() > ROUND_LIMIT {
            anyhow::bail!("still running {} s after the signal", ROUND_LIMIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = output.finish().join("\n");
    let code = status.code();
    let completed = code == Some(0);
    if !completed && code != Some(130) {
        anyhow::bail!("exit {status}, expected 130 (or 0 had it finished first); its output:\n{}", tail(&output, 15));
    }
    if output.contains("panicked") || output.contains("RUST_BACKTRACE") {
        anyhow::bail!("it panicked:\n{}", tail(&output, 15));
    }
    // What an interrupted command must not leave behind.
    std::thread::sleep(Duration::from_millis(200));
    let survivors = processes_with_marker(&round.marker);
    if !survivors.is_empty() {
        anyhow::bail!("processes of its tree survived: {survivors:?}");
    }
    let left_in_temp: Vec<String> = std::fs::read_dir(temp)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect::<Vec<String>>()
        })
        .unwrap_or_default()
        .into_iter()
        // uv keeps its own empty lock files in the temp folder after every run, interrupted or not.
        .filter(|name: &String| !(name.starts_with("uv-") && name.ends_with(".lock")))
        .collect();
    if !left_in_temp.is_empty() {
        anyhow::bail!("left in its temp folder: {left_in_temp:?}");
    }
    let mut partial = partial_files(clone);
    if let Some(rehearsal) = rehearsal {
        for folder in [&rehearsal.release_dir, &rehearsal.runners_dir, &rehearsal.collected_dir] {
            partial.extend(partial_files(folder));
        }
    }
    if !partial.is_empty() {
        anyhow::bail!("half-written files: {partial:?}");
    }
    manifest_problems(&clone.join("dist")).map_err(|problem| anyhow::anyhow!("dist/manifest.json: {problem}"))?;
    git_state_problems(clone, scenario, &before, completed)?;
    match (scenario, rehearsal, &setup.stand_in) {
        (Scenario::Collect, Some(rehearsal), _) => {
            rehearsal.collected_problems().map_err(|problem| anyhow::anyhow!("collected/: {problem}"))?;
        }
        (Scenario::GithubRelease | Scenario::GithubReplace, Some(rehearsal), Some(stand_in)) => rehearsal
            .publication_problems(stand_in, setup.published_before.as_ref())
            .map_err(|problem| anyhow::anyhow!("the release it left: {problem}"))?,
        _ => {}
    }
    // The next run, uninterrupted, is correct (against the same stand-in: it resumes).
    restore(clone, start_commit, scenario)?;
    let (again, again_output) = run_to_end(xtask, clone, uv, setup, temp)?;
    if !again.success() {
        anyhow::bail!("the next run failed ({again}):\n{}", tail(&again_output, 15));
    }
    completed_problems(scenario, setup, rehearsal)
        .map_err(|problem| anyhow::anyhow!("after the next run: {problem}"))?;
    if let (Some(rehearsal), Some(_)) = (rehearsal, &setup.stand_in) {
        let verify = Setup {
            args: vec!["checksums".into(), "--verify".into(), "--release".into(), rehearsal.tag.clone()],
            environment: setup.environment.clone(),
            stand_in: None,
            published_before: None,
        };
        let (verified, verify_output) = run_to_end(xtask, clone, uv, &verify, temp)?;
        if !verified.success() {
            anyhow::bail!("checksums --verify --release rejects the release:\n{}", tail(&verify_output, 15));
        }
    }
    Ok(if completed {
        "finished before the signal, next run ok".into()
    } else {
        "exit 130, nothing left, next run ok".into()
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// No half-made release: either nothing changed in git, or the whole change is there.
fn git_state_problems(clone: &Path, scenario: Scenario, before: &str, completed: bool) -> anyhow::Result<()> {
    let head = git(clone, &["rev-parse", "HEAD"])?;
    let staged = git(clone, &["diff", "--cached", "--name-only"])?;
    let changed = git(clone, &["status", "--porcelain", "--untracked-files=no"])?;
    let tags = git(clone, &["tag", "--points-at", "HEAD"])?;
    match scenario {
        Scenario::ReleaseExecute => {
            let moved = head != before;
            if moved && tags.is_empty() {
                anyhow::bail!("a release commit without its tag");
            }
            if !moved && !tags.is_empty() && !completed {
                anyhow::bail!("a tag on the old HEAD: {tags}");
            }
            if !staged.is_empty() || !changed.is_empty() {
                anyhow::bail!("a half-cut changelog: staged {staged:?}, changed {changed:?}");
            }
        }
        Scenario::Bump => {
            if head != before {
                anyhow::bail!("bump made a commit");
            }
            if !changed.is_empty() {
                // Names only: a porcelain line's status columns start with a space that a trimmed
                // output loses on its first line.
                let names = git(clone, &["diff", "--name-only", "HEAD"])?;
                let files: BTreeSet<&str> = names.lines().map(str::trim).filter(|name| !name.is_empty()).collect();
                let complete: BTreeSet<&str> = ["packages/core/pyproject.toml", "uv.lock"].into_iter().collect();
                if !files.is_superset(&complete) {
                    anyhow::bail!("a partial bump: only {files:?} changed");
                }
            }
        }
        _ => {
            if head != before || !changed.is_empty() {
                anyhow::bail!("{} changed tracked files: {changed}", scenario.label());
            }
        }
    }
    Ok(())
}

/// Undo what a scenario's successful run changes in git, so every round starts the same.
fn restore(clone: &Path, start_commit: &str, scenario: Scenario) -> anyhow::Result<()> {
    if !scenario.changes_git() {
        return Ok(());
    }
    for tag in git(clone, &["tag", "--list"])?.lines().filter(|tag| !tag.is_empty()) {
        git(clone, &["tag", "--delete", tag])?;
    }
    git(clone, &["reset", "--quiet", "--hard", start_commit])?;
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let sh = process::shell_in(dir)?;
    process::read(cmd!(sh, "git {args...}"))
}
