//! How the bench measures: the plan (how many runs, how large the inputs), a command as data, one
//! timed run with its wall and CPU seconds, the warm-up and rotation of a comparison's commands,
//! and the median of their samples.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use xshell::cmd;

use crate::failure::refuse;
use crate::process::{self, Supervised};
use crate::workspace::Workspace;
use crate::{naming, targets};

/// How hard to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub quick: bool,
    /// Timed runs of each command of a comparison that takes seconds (sidecar, smoke), after its warm-up.
    pub runs: usize,
    /// Timed runs of each command of a comparison that takes a fraction of a second (hash, archive):
    /// more of them make its median steadier on a busy machine at little cost.
    pub short_runs: usize,
    /// Cold builds of the xtask (each from an empty target folder, no warm-up).
    pub cold_builds: usize,
    /// Bytes of each of the four files `hash` reads.
    pub hash_file_bytes: usize,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan { quick, runs: 3, short_runs: 3, cold_builds: 1, hash_file_bytes: 4 << 20 }
        } else {
            Plan { quick, runs: 5, short_runs: 9, cold_builds: 3, hash_file_bytes: 64 << 20 }
        }
    }
}

/// One timed run of a command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub wall_seconds: f64,
    /// User + system seconds of the command and everything it waited for.
    pub cpu_seconds: Option<f64>,
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 })
}

/// The order of the timed runs of `variants` commands: 0, 1, …, 0, 1, …, each `runs` times.
pub fn rotation(variants: usize, runs: usize) -> Vec<usize> {
    (0..runs).flat_map(|_| 0..variants).collect()
}

/// A command as data, so that it can be run many times and shown in the table.
#[derive(Debug, Clone)]
pub struct Invocation {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    dir: PathBuf,
}

impl Invocation {
    pub fn new(program: impl Into<PathBuf>, dir: &Path) -> Invocation {
        Invocation { program: program.into(), args: Vec::new(), env: Vec::new(), dir: dir.to_path_buf() }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Invocation {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Invocation {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<OsString>) -> Invocation {
        self.env.push((name.to_string(), value.into()));
        self
    }

    fn command(&self) -> anyhow::Result<Command> {
        let (sh, program, args) = (process::shell_in(&self.dir)?, &self.program, &self.args);
        let env = self.env.iter().map(|(name, value)| (name, value));
        Ok(cmd!(sh, "{program} {args...}").envs(env).into())
    }

    pub fn shell(script: &str, dir: &Path) -> Invocation {
        Invocation::new("sh", dir).arg("-c").arg(script).arg("sh")
    }
}

/// What every comparison shares: where things are and how hard to measure.
pub struct BenchContext<'a> {
    pub workspace: &'a Workspace,
    pub plan: Plan,
    pub bench_dir: PathBuf,
    pub logs_dir: PathBuf,
    /// The built xtask, run as `cargo xtask` runs it.
    pub xtask: PathBuf,
}

impl<'a> BenchContext<'a> {
    pub fn new(workspace: &'a Workspace, plan: Plan) -> anyhow::Result<BenchContext<'a>> {
        let bench_dir = workspace.target_dir().join("bench");
        let logs_dir = bench_dir.join("logs");
        std::fs::create_dir_all(&logs_dir).with_context(|| format!("creating {}", logs_dir.display()))?;
        let xtask = std::env::current_exe().context("finding the xtask's own executable")?;
        Ok(BenchContext { workspace, plan, bench_dir, logs_dir, xtask })
    }

    pub fn xtask_invocation(&self, args: &[&str]) -> Invocation {
        Invocation::new(&self.xtask, &self.workspace.root).args(args.iter().copied())
    }

    /// Run once, output into `logs/<label>.log`; wall and CPU seconds, or an error with the log's tail.
    pub fn time(&self, invocation: &Invocation, label: &str) -> anyhow::Result<Sample> {
        crate::process::check_interrupted()?;
        let log_path = self.logs_dir.join(format!("{label}.log"));
        let log = File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut command = invocation.command()?;
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let cpu_before = children_cpu_seconds();
        let started = Instant::now();
        let status = Supervised::spawn(&mut command, &invocation.program.display().to_string())?.wait()?;
        let wall_seconds = started.elapsed().as_secs_f64();
        let cpu_seconds = cpu_before.zip(children_cpu_seconds()).map(|(before, after)| after - before);
        crate::process::check_interrupted()?;
        if !status.success() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("--- last lines of {} ---\n{}", log_path.display(), tail.join("\n"));
            return Err(refuse(
                format!("bench step {label} failed ({status}): {} {:?}", invocation.program.display(), invocation.args),
                format!("its output is in {}; run that command alone to see why", log_path.display()),
            ));
        }
        Ok(Sample { wall_seconds, cpu_seconds })
    }

    /// A warm-up of each variant, then `runs` rotations; the samples of each variant.
    pub fn rotate(
        &self,
        group: &str,
        runs: usize,
        variants: &[(&str, Invocation)],
    ) -> anyhow::Result<Vec<Vec<Sample>>> {
        self.rotate_with(group, runs, variants, |_, _| Ok(()))
    }

    /// Like `rotate`, calling `after_run(variant, run)` after each run (run `None` for the warm-up).
    pub fn rotate_with(
        &self,
        group: &str,
        runs: usize,
        variants: &[(&str, Invocation)],
        mut after_run: impl FnMut(usize, Option<usize>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<Vec<Sample>>> {
        for (index, (name, invocation)) in variants.iter().enumerate() {
            eprintln!("bench {group}: warm-up {name}");
            self.time(invocation, &format!("{group}-{name}-warm-up"))?;
            after_run(index, None)?;
        }
        let mut samples = vec![Vec::new(); variants.len()];
        for (position, index) in rotation(variants.len(), runs).into_iter().enumerate() {
            let run = position / variants.len() + 1;
            let (name, invocation) = &variants[index];
            let sample = self.time(invocation, &format!("{group}-{name}-{run}"))?;
            eprintln!("bench {group}: {name} run {run}: {:.3} s", sample.wall_seconds);
            samples[index].push(sample);
            after_run(index, Some(run))?;
        }
        Ok(samples)
    }

    pub fn host_sidecar_paths(&self) -> anyhow::Result<Vec<(String, PathBuf)>> {
        let target = targets::host()?;
        let packages = self.workspace.sidecar_packages(None)?;
        Ok(packages
            .iter()
            .map(|entry| {
                let path = self.workspace.dist_dir().join(naming::sidecar_file_name(&entry.sidecar.binary, target));
                (entry.sidecar.binary.clone(), path)
            })
            .collect())
    }
}

/// A warm-up and the rotation of two commands, where the baseline takes the next of its invocations
/// for each run (each with its own ports).
pub fn rotate_with_fresh_baselines(
    context: &BenchContext<'_>,
    group: &str,
    ours: (&str, Invocation),
    baseline: (&str, Vec<Invocation>),
) -> anyhow::Result<(Vec<Sample>, Vec<Sample>)> {
    let mut fresh = baseline.1.into_iter();
    let mut next_baseline = || fresh.next().ok_or_else(|| anyhow::anyhow!("bench ran out of baseline commands"));
    eprintln!("bench {group}: warm-up");
    context.time(&ours.1, &format!("{group}-{}-warm-up", ours.0))?;
    context.time(&next_baseline()?, &format!("{group}-{}-warm-up", baseline.0))?;
    let (mut ours_samples, mut baseline_samples) = (Vec::new(), Vec::new());
    for (position, index) in rotation(2, context.plan.runs).into_iter().enumerate() {
        let run = position / 2 + 1;
        if index == 0 {
            let sample = context.time(&ours.1, &format!("{group}-{}-{run}", ours.0))?;
            eprintln!("bench {group}: {} run {run}: {:.3} s", ours.0, sample.wall_seconds);
            ours_samples.push(sample);
        } else {
            let sample = context.time(&next_baseline()?, &format!("{group}-{}-{run}", baseline.0))?;
            eprintln!("bench {group}: {} run {run}: {:.3} s", baseline.0, sample.wall_seconds);
            baseline_samples.push(sample);
        }
    }
    Ok((ours_samples, baseline_samples))
}

/// User + system seconds of every finished child this process waited for.
#[cfg(unix)]
fn children_cpu_seconds() -> Option<f64> {
    // SAFETY: rusage is plain integers and timevals, for which all zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return None;
    }
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1_000_000.0;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

#[cfg(not(unix))]
fn children_cpu_seconds() -> Option<f64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts_ignores_order() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn runs_alternate_ours_first() {
        assert_eq!(rotation(2, 3), vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(rotation(3, 2), vec![0, 1, 2, 0, 1, 2]);
        assert!(rotation(2, 0).is_empty());
    }
}
