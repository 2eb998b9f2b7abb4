//! `cargo xtask bench`: time the xtask's hot paths and its own cold build side by side with the plain
//! tools a workflow would use instead, and write the medians to `target/bench/report.json`.
//!
//! Every comparison runs its commands as a user would (the built xtask executable, `sha256sum`,
//! `tar`, shell scripts), once each as a warm-up, then in rotation (ours, baseline, ours, …) so that
//! a busy machine slows both sides alike. Ratios are `ours / baseline`; a goal holds when the median
//! ratio is at most the goal.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};
use xshell::cmd;

use crate::failure::refuse;
use crate::flags::BenchFlags;
use crate::process::{self, Supervised};
use crate::workspace::{SidecarPackage, Workspace};
use crate::{files, naming, targets, tools};

/// Every comparison, in the order they run and appear in the table.
pub const COMPARISONS: [&str; 7] =
    ["hash", "hash-limit", "archive", "sidecar-cached", "sidecar-parallel", "smoke", "cold-build"];

/// What a comparison must show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The median ratio ours / baseline is at most this.
    RatioAtMost(f64),
    /// No baseline: the median wall time is at most this many seconds.
    SecondsAtMost(f64),
}

pub fn goal_of(name: &str) -> Goal {
    match name {
        "hash" => Goal::RatioAtMost(0.25),
        "hash-limit" => Goal::RatioAtMost(0.6),
        "archive" => Goal::RatioAtMost(1.0),
        "sidecar-cached" => Goal::RatioAtMost(0.05),
        "sidecar-parallel" => Goal::RatioAtMost(0.75),
        "smoke" => Goal::RatioAtMost(0.5),
        _ => Goal::SecondsAtMost(30.0),
    }
}

/// The archive's compressed size may exceed `tar -czf`'s by this fraction at most.
pub const ARCHIVE_SIZE_TOLERANCE: f64 = 0.02;

/// How hard to measure.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    /// Timed runs of each command of a comparison that takes seconds (sidecar, smoke), after its warm-up.
    runs: usize,
    /// Timed runs of each command of a comparison that takes a fraction of a second (hash, archive):
    /// more of them make its median steadier on a busy machine at little cost.
    short_runs: usize,
    /// Cold builds of the xtask (each from an empty target folder, no warm-up).
    cold_builds: usize,
    /// Bytes of each of the four files `hash` reads.
    hash_file_bytes: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
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

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub ours: Vec<Sample>,
    /// Empty when the comparison has no baseline (cold-build).
    pub baseline: Vec<Sample>,
    /// What the baseline is, as a command a reader recognises.
    pub baseline_label: String,
    pub goal: Goal,
    /// Facts the goal also depends on, or that the table shows: name → number.
    pub extra: BTreeMap<String, f64>,
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

impl Metric {
    pub fn ours_seconds(&self) -> Option<f64> {
        median(&self.ours.iter().map(|sample| sample.wall_seconds).collect::<Vec<_>>())
    }

    pub fn baseline_seconds(&self) -> Option<f64> {
        median(&self.baseline.iter().map(|sample| sample.wall_seconds).collect::<Vec<_>>())
    }

    pub fn ratio(&self) -> Option<f64> {
        match (self.ours_seconds(), self.baseline_seconds()) {
            (Some(ours), Some(baseline)) if baseline > 0.0 => Some(ours / baseline),
            _ => None,
        }
    }

    fn cpu_median(samples: &[Sample]) -> Option<f64> {
        median(&samples.iter().filter_map(|sample| sample.cpu_seconds).collect::<Vec<_>>())
    }

    /// Whether the goal holds (and, for the archive, the size is within tolerance).
    pub fn met(&self) -> bool {
        let size_ok = self.extra.get("size_ratio").is_none_or(|ratio| *ratio <= 1.0 + ARCHIVE_SIZE_TOLERANCE);
        let timing_ok = match self.goal {
            Goal::RatioAtMost(goal) => self.ratio().is_some_and(|ratio| ratio <= goal),
            Goal::SecondsAtMost(goal) => self.ours_seconds().is_some_and(|seconds| seconds <= goal),
        };
        size_ok && timing_ok
    }

    /// The report entry: `name, ours_s, baseline_s, ratio, baseline, runs`, then the details.
    pub fn to_json(&self) -> Value {
        let mut entry = json!({
            "name": self.name,
            "ours_s": rounded(self.ours_seconds()),
            "baseline_s": rounded(self.baseline_seconds()),
            "ratio": rounded(self.ratio()),
            "baseline": self.baseline_label,
            "runs": self.ours.len(),
            "goal": match self.goal {
                Goal::RatioAtMost(goal) => json!({"ratio_at_most": goal}),
                Goal::SecondsAtMost(goal) => json!({"seconds_at_most": goal}),
            },
            "met": self.met(),
            "ours_cpu_s": rounded(Metric::cpu_median(&self.ours)),
            "baseline_cpu_s": rounded(Metric::cpu_median(&self.baseline)),
            "ours_runs_s": self.ours.iter().map(|sample| rounded(Some(sample.wall_seconds))).collect::<Vec<_>>(),
            "baseline_runs_s": self.baseline.iter().map(|sample| rounded(Some(sample.wall_seconds))).collect::<Vec<_>>(),
        });
        if let Value::Object(fields) = &mut entry {
            for (name, value) in &self.extra {
                fields.insert(name.clone(), rounded(Some(*value)));
            }
        }
        entry
    }
}

/// Six decimals (microseconds) keep the ratio of two short medians exact to well under 0.1%;
/// not-a-number becomes null.
fn rounded(value: Option<f64>) -> Value {
    match value {
        Some(number) if number.is_finite() => json!((number * 1_000_000.0).round() / 1_000_000.0),
        _ => Value::Null,
    }
}

/// `target/bench/report.json`: `{"metrics": [...], "machine": {...}}`.
pub fn render_report(metrics: &[Metric], machine: &Value) -> String {
    let report = json!({
        "metrics": metrics.iter().map(Metric::to_json).collect::<Vec<_>>(),
        "machine": machine,
    });
    serde_json::to_string_pretty(&report).expect("a JSON value always serialises") + "\n"
}

fn seconds_text(seconds: Option<f64>) -> String {
    match seconds {
        Some(value) if value < 10.0 => format!("{value:.3} s"),
        Some(value) => format!("{value:.1} s"),
        None => "—".to_string(),
    }
}

/// A Markdown table of the metrics, one row each.
pub fn render_table(metrics: &[Metric]) -> String {
    let mut table = String::from(
        "| comparison | ours | baseline | ratio | goal | met | runs | notes |\n|---|---:|---|---:|---|---|---:|---|\n",
    );
    for metric in metrics {
        let baseline = match metric.baseline_seconds() {
            Some(seconds) => format!("{} `{}`", seconds_text(Some(seconds)), metric.baseline_label),
            None => metric.baseline_label.clone(),
        };
        let ratio = metric.ratio().map_or("—".to_string(), |ratio| format!("{ratio:.2}"));
        let goal = match metric.goal {
            Goal::RatioAtMost(goal) => format!("≤ {goal}"),
            Goal::SecondsAtMost(goal) => format!("≤ {goal} s wall"),
        };
        let met = if metric.met() { "yes" } else { "**no**" };
        table.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
            metric.name,
            seconds_text(metric.ours_seconds()),
            baseline,
            ratio,
            goal,
            met,
            metric.ours.len(),
            notes(metric)
        ));
    }
    table
}

fn notes(metric: &Metric) -> String {
    let mut parts = Vec::new();
    if let Some(cpu) = Metric::cpu_median(&metric.ours) {
        parts.push(format!("ours {cpu:.2} s CPU"));
    }
    if let Some(cpu) = Metric::cpu_median(&metric.baseline) {
        parts.push(format!("baseline {cpu:.2} s CPU"));
    }
    if let Some(crates) = metric.extra.get("crates") {
        parts.push(format!("{crates} crates"));
    }
    if let (Some(ours), Some(baseline)) = (metric.extra.get("ours_bytes"), metric.extra.get("baseline_bytes")) {
        parts.push(format!(
            "{:.2} MiB vs {:.2} MiB ({:+.2}%)",
            ours / 1_048_576.0,
            baseline / 1_048_576.0,
            (ours / baseline - 1.0) * 100.0
        ));
    }
    parts.join("; ")
}

/// The comparisons named in `--only` (all when empty), in table order; unknown names are refused.
pub fn selection(only: &[String]) -> anyhow::Result<Vec<&'static str>> {
    for name in only {
        if !COMPARISONS.contains(&name.trim()) {
            return Err(refuse(
                format!("there is no comparison called {name:?}"),
                format!("pick from {}", COMPARISONS.join(", ")),
            ));
        }
    }
    Ok(COMPARISONS
        .into_iter()
        .filter(|name| only.is_empty() || only.iter().any(|wanted| wanted.trim() == *name))
        .collect())
}

pub fn run(flags: &BenchFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    let selected = selection(&flags.only)?;
    let plan = Plan::new(flags.quick);
    let context = BenchContext::new(&workspace, plan)?;
    check_tools(&selected)?;
    let load_at_start = load_average();
    let started = Instant::now();

    let wants = |name: &str| selected.contains(&name);
    let needs_sidecars =
        wants("sidecar-cached") || wants("sidecar-parallel") || wants("smoke") || (wants("archive") && !plan.quick);
    if needs_sidecars {
        eprintln!("bench: building the sidecars once (cached when unchanged), so that every comparison has them");
        context.time(&context.xtask_invocation(&["sidecar"]), "prepare-sidecar")?;
    }

    let mut metrics = Vec::new();
    if wants("hash") || wants("hash-limit") {
        metrics.extend(bench_hash(&context, wants("hash"), wants("hash-limit"))?);
    }
    if wants("archive") {
        metrics.push(bench_archive(&context)?);
    }
    if wants("sidecar-cached") || wants("sidecar-parallel") {
        metrics.extend(bench_sidecar(&context, wants("sidecar-cached"), wants("sidecar-parallel"))?);
    }
    if wants("smoke") {
        metrics.push(bench_smoke(&context)?);
    }
    if wants("cold-build") {
        metrics.push(bench_cold_build(&context)?);
    }

    let machine = machine_facts(plan, &load_at_start, &load_average(), started.elapsed().as_secs_f64());
    let report_path = context.bench_dir.join("report.json");
    files::write_atomically(&report_path, render_report(&metrics, &machine).as_bytes())?;
    let table = render_table(&metrics);
    files::write_atomically(&context.bench_dir.join("report.md"), table.as_bytes())?;
    println!("\n{table}");
    let missed: Vec<&str> = metrics.iter().filter(|metric| !metric.met()).map(|metric| metric.name.as_str()).collect();
    println!(
        "{} of {} goals met{}; load average {} at the start, {} at the end ({} cores); wrote {}",
        metrics.len() - missed.len(),
        metrics.len(),
        if missed.is_empty() { String::new() } else { format!(" (missed: {})", missed.join(", ")) },
        load_at_start.join(" "),
        load_average().join(" "),
        cores(),
        report_path.display()
    );
    Ok(())
}

/// A command as data, so that it can be run many times and shown in the table.
#[derive(Debug, Clone)]
struct Invocation {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    dir: PathBuf,
}

impl Invocation {
    fn new(program: impl Into<PathBuf>, dir: &Path) -> Invocation {
        Invocation { program: program.into(), args: Vec::new(), env: Vec::new(), dir: dir.to_path_buf() }
    }

    fn arg(mut self, arg: impl Into<OsString>) -> Invocation {
        self.args.push(arg.into());
        self
    }

    fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Invocation {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn env(mut self, name: &str, value: impl Into<OsString>) -> Invocation {
        self.env.push((name.to_string(), value.into()));
        self
    }

    fn command(&self) -> anyhow::Result<Command> {
        let (sh, program, args) = (process::shell_in(&self.dir)?, &self.program, &self.args);
        let env = self.env.iter().map(|(name, value)| (name, value));
        Ok(cmd!(sh, "{program} {args...}").envs(env).into())
    }

    fn shell(script: &str, dir: &Path) -> Invocation {
        Invocation::new("sh", dir).arg("-c").arg(script).arg("sh")
    }
}

/// What every comparison shares: where things are and how hard to measure.
struct BenchContext<'a> {
    workspace: &'a Workspace,
    plan: Plan,
    bench_dir: PathBuf,
    logs_dir: PathBuf,
    /// The built xtask, run as `cargo xtask` runs it.
    xtask: PathBuf,
}

impl<'a> BenchContext<'a> {
    fn new(workspace: &'a Workspace, plan: Plan) -> anyhow::Result<BenchContext<'a>> {
        let bench_dir = workspace.target_dir().join("bench");
        let logs_dir = bench_dir.join("logs");
        std::fs::create_dir_all(&logs_dir).with_context(|| format!("creating {}", logs_dir.display()))?;
        let xtask = std::env::current_exe().context("finding the xtask's own executable")?;
        Ok(BenchContext { workspace, plan, bench_dir, logs_dir, xtask })
    }

    fn xtask_invocation(&self, args: &[&str]) -> Invocation {
        Invocation::new(&self.xtask, &self.workspace.root).args(args.iter().copied())
    }

    /// Run once, output into `logs/<label>.log`; wall and CPU seconds, or an error with the log's tail.
    fn time(&self, invocation: &Invocation, label: &str) -> anyhow::Result<Sample> {
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
    fn rotate(&self, group: &str, runs: usize, variants: &[(&str, Invocation)]) -> anyhow::Result<Vec<Vec<Sample>>> {
        self.rotate_with(group, runs, variants, |_, _| Ok(()))
    }

    /// Like `rotate`, calling `after_run(variant, run)` after each run (run `None` for the warm-up).
    fn rotate_with(
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

    fn host_sidecar_paths(&self) -> anyhow::Result<Vec<(String, PathBuf)>> {
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

fn metric(name: &str, ours: Vec<Sample>, baseline: Vec<Sample>, baseline_label: &str) -> Metric {
    Metric {
        name: name.to_string(),
        ours,
        baseline,
        baseline_label: baseline_label.to_string(),
        goal: goal_of(name),
        extra: BTreeMap::new(),
    }
}

/// The outside programs each selected comparison runs, found before any work starts.
fn check_tools(selected: &[&str]) -> anyhow::Result<()> {
    let mut needed: Vec<&str> = Vec::new();
    for name in selected {
        needed.extend(match *name {
            "hash" => &["sha256sum"][..],
            "hash-limit" => &["openssl"][..],
            "archive" => &["tar", "gzip"][..],
            "sidecar-parallel" => &["sh", "git"][..],
            "smoke" => &["sh", "curl", "sha256sum"][..],
            _ => &[][..],
        });
    }
    needed.sort();
    needed.dedup();
    let missing: Vec<&str> = needed.into_iter().filter(|tool| tools::find_on_path(tool).is_none()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(refuse(
            format!("the bench's baselines need {} on PATH", missing.join(", ")),
            "install them (coreutils, openssl, tar, gzip, curl), or leave those comparisons out with --only",
        ))
    }
}

/// Random bytes, fast and reproducible (xorshift64*): incompressible input for the hashers.
fn random_bytes(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

/// `hash`: `cargo xtask checksums` over four files vs `sha256sum -c`; `hash-limit`: vs `openssl dgst`.
fn bench_hash(context: &BenchContext<'_>, hash: bool, hash_limit: bool) -> anyhow::Result<Vec<Metric>> {
    let folder = context.bench_dir.join("hash");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let names: Vec<String> = (1..=4).map(|index| format!("input-{index}.bin")).collect();
    for (index, name) in names.iter().enumerate() {
        let path = folder.join(name);
        let checksum_path = folder.join(naming::checksum_file_name(name));
        let fresh = std::fs::metadata(&path)
            .is_ok_and(|metadata| metadata.len() == context.plan.hash_file_bytes as u64)
            && checksum_path.is_file();
        if fresh {
            continue;
        }
        eprintln!(
            "bench hash: writing {} ({} MiB of random bytes)",
            path.display(),
            context.plan.hash_file_bytes >> 20
        );
        std::fs::write(&path, random_bytes(context.plan.hash_file_bytes, 0x9e37_79b9 + index as u64))
            .with_context(|| format!("writing {}", path.display()))?;
        let sh = process::shell_in(&folder)?;
        let checksum_line = process::read(cmd!(sh, "sha256sum {name}"))?;
        files::write_atomically(&checksum_path, format!("{checksum_line}\n").as_bytes())?;
    }
    let checksum_files: Vec<String> = names.iter().map(|name| naming::checksum_file_name(name)).collect();
    let ours = context.xtask_invocation(&["checksums"]).arg(&folder);
    let mut variants = vec![("xtask-checksums", ours)];
    if hash {
        let sha256sum =
            Invocation::new("sha256sum", &folder).args(["--check", "--strict", "--quiet"]).args(&checksum_files);
        variants.push(("sha256sum", sha256sum));
    }
    if hash_limit {
        variants.push(("openssl", Invocation::new("openssl", &folder).args(["dgst", "-sha256"]).args(&names)));
    }
    let mut samples = context.rotate("hash", context.plan.short_runs, &variants)?.into_iter();
    let ours_samples = samples.next().unwrap_or_default();
    let mut metrics = Vec::new();
    if hash {
        let label = "sha256sum --check (4 files)";
        metrics.push(metric("hash", ours_samples.clone(), samples.next().unwrap_or_default(), label));
    }
    if hash_limit {
        let label = "openssl dgst -sha256 (4 files)";
        metrics.push(metric("hash-limit", ours_samples, samples.next().unwrap_or_default(), label));
    }
    for metric in &mut metrics {
        metric.extra.insert("input_bytes".into(), (4 * context.plan.hash_file_bytes) as f64);
    }
    Ok(metrics)
}

/// `archive`: `cargo xtask archive` of the proxy sidecar vs `tar -czf` (gzip's default level 6).
fn bench_archive(context: &BenchContext<'_>) -> anyhow::Result<Metric> {
    let folder = context.bench_dir.join("archive");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let input = if context.plan.quick {
        // Quick: the first 8 MiB of the xtask's own executable, a real binary that needs no build.
        let path = folder.join("quick-input.bin");
        let bytes = std::fs::read(&context.xtask).with_context(|| format!("reading {}", context.xtask.display()))?;
        std::fs::write(&path, &bytes[..bytes.len().min(8 << 20)])
            .with_context(|| format!("writing {}", path.display()))?;
        path
    } else {
        let sidecars = context.host_sidecar_paths()?;
        // The largest sidecar: the one whose archive a release waits for longest.
        sidecars
            .into_iter()
            .map(|(_, path)| path)
            .filter(|path| path.is_file())
            .max_by_key(|path| std::fs::metadata(path).map_or(0, |metadata| metadata.len()))
            .ok_or_else(|| refuse("no sidecar in dist/ to archive", "run `cargo xtask sidecar` first"))?
    };
    let input_dir = input.parent().unwrap_or(Path::new(".")).to_path_buf();
    let input_name = input.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    let ours_out = folder.join("ours.tar.gz");
    let tar_out = folder.join("tar.tar.gz");
    let ours = context.xtask_invocation(&["archive"]).arg(&input).arg("--out").arg(&ours_out);
    let tar = Invocation::new("tar", &context.workspace.root)
        .arg("-czf")
        .arg(&tar_out)
        .arg("-C")
        .arg(&input_dir)
        .arg(&input_name);
    let mut samples =
        context.rotate("archive", context.plan.short_runs, &[("xtask-archive", ours), ("tar-czf", tar)])?.into_iter();
    let mut result =
        metric("archive", samples.next().unwrap_or_default(), samples.next().unwrap_or_default(), "tar -czf (gzip -6)");
    let size_of = |path: &Path| std::fs::metadata(path).map(|metadata| metadata.len() as f64);
    let (ours_bytes, baseline_bytes) = (size_of(&ours_out)?, size_of(&tar_out)?);
    result.extra.insert("input_bytes".into(), size_of(&input)?);
    result.extra.insert("ours_bytes".into(), ours_bytes);
    result.extra.insert("baseline_bytes".into(), baseline_bytes);
    result.extra.insert("size_ratio".into(), ours_bytes / baseline_bytes);
    Ok(result)
}

/// The two PyInstaller runs of a plain workflow, one after the other, with the flags `sidecar` uses.
/// Arguments: uv, the xtask (for build-info), the output folder, then each spec.
const PYINSTALLER_ONE_AFTER_THE_OTHER: &str = r#"set -eu
uv=$1; xtask=$2; out=$3; shift 3
"$xtask" build-info
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH PYTHONHASHSEED=0
for spec in "$@"; do
  name=$(basename "$spec" .spec)
  "$uv" run --locked --quiet --no-default-groups --group build python -m PyInstaller "$spec" --noconfirm --log-level WARN \
    --distpath "$out/$name/out" --workpath "$out/$name/work"
done
"#;

/// `sidecar-cached`: cached `sidecar` vs `--no-cache`; `sidecar-parallel`: `--no-cache` vs PyInstaller
/// one spec after the other. The three commands run in one rotation.
fn bench_sidecar(context: &BenchContext<'_>, cached: bool, parallel: bool) -> anyhow::Result<Vec<Metric>> {
    let workspace = context.workspace;
    let mut variants = Vec::new();
    if cached {
        variants.push(("sidecar-cached", context.xtask_invocation(&["sidecar"])));
    }
    variants.push(("sidecar-no-cache", context.xtask_invocation(&["sidecar", "--no-cache"])));
    let mut generated_build_info = Vec::new();
    if parallel {
        let uv = tools::uv(workspace)?;
        let mut specs = Vec::new();
        for SidecarPackage { package, sidecar } in workspace.sidecar_packages(None)? {
            specs.push(package.dir.join(&sidecar.spec));
            let build_info = package.dir.join(&sidecar.import_package).join("_build_info.py");
            if !build_info.exists() {
                generated_build_info.push(build_info);
            }
        }
        let script = Invocation::shell(PYINSTALLER_ONE_AFTER_THE_OTHER, &workspace.root)
            .arg(uv)
            .arg(&context.xtask)
            .arg(context.bench_dir.join("pyinstaller"))
            .args(specs);
        variants.push(("pyinstaller-one-after-the-other", script));
    }
    // The baseline's build-info files would make source runs report a stale commit: remove them
    // after each run, as `sidecar` does.
    let remove_generated = |_: usize, _: Option<usize>| {
        for path in &generated_build_info {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    };
    let samples = context.rotate_with("sidecar", context.plan.runs, &variants, remove_generated)?;
    let by_name: BTreeMap<&str, Vec<Sample>> = variants.iter().map(|(name, _)| *name).zip(samples).collect();
    let take = |name: &str| by_name.get(name).cloned().unwrap_or_default();
    let mut metrics = Vec::new();
    if cached {
        metrics.push(metric("sidecar-cached", take("sidecar-cached"), take("sidecar-no-cache"), "sidecar --no-cache"));
    }
    if parallel {
        let label = "uv run python -m PyInstaller, each spec in turn";
        metrics.push(metric(
            "sidecar-parallel",
            take("sidecar-no-cache"),
            take("pyinstaller-one-after-the-other"),
            label,
        ));
    }
    Ok(metrics)
}

/// A plain workflow's smoke test of one binary after another: start it on fixed ports, poll with
/// `curl` and `sleep 1` until it answers, compare its build_id with `sha256sum` of the file, kill it.
/// Arguments: agent binary, proxy binary, agent port, proxy port, proxy dashboard port.
const SMOKE_WITH_CURL: &str = r#"set -eu
check() {
  binary=$1; api_port=$2; shift 2
  "$binary" "$@" >/dev/null 2>&1 &
  pid=$!
  tries=0
  until body=$(curl -fsS "http://127.0.0.1:$api_port/api/v1/build" 2>/dev/null); do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then kill "$pid"; echo "$binary did not answer"; exit 1; fi
    sleep 1
  done
  expected="sha256:$(sha256sum "$binary" | cut -d ' ' -f 1)"
  kill "$pid"
  wait "$pid" || true
  case "$body" in
    *"$expected"*) echo "$binary: build_id matches" ;;
    *) echo "$binary: build_id does not match $expected: $body"; exit 1 ;;
  esac
}
check "$1" "$3" relay --host 127.0.0.1 --port "$3"
check "$2" "$5" serve --host 127.0.0.1 --port "$4" --dashboard-port "$5"
"#;

/// Three free loopback ports, held together while chosen so that they differ.
fn free_ports() -> anyhow::Result<[u16; 3]> {
    let listeners = [
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
    ];
    let mut ports = [0u16; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// `smoke`: `cargo xtask smoke` of both sidecars vs the curl script above.
fn bench_smoke(context: &BenchContext<'_>) -> anyhow::Result<Metric> {
    let sidecars: BTreeMap<String, PathBuf> = context.host_sidecar_paths()?.into_iter().collect();
    let (Some(agent), Some(proxy)) = (sidecars.get("lumen-argus-agent"), sidecars.get("lumen-argus")) else {
        return Err(refuse(
            "the smoke baseline knows the lumen-argus-agent and lumen-argus sidecars, and one is not declared",
            "leave smoke out with --only, or teach SMOKE_WITH_CURL in xtask/src/bench.rs the new sidecar",
        ));
    };
    let ours = context.xtask_invocation(&["smoke"]);
    // Ports are chosen anew for every run (after a warm-up, then the runs), like a workflow's fixed ones.
    let mut baselines = Vec::new();
    for _ in 0..=context.plan.runs {
        let [agent_port, proxy_port, dashboard_port] = free_ports()?;
        baselines.push(Invocation::shell(SMOKE_WITH_CURL, &context.workspace.root).arg(agent).arg(proxy).args([
            agent_port.to_string(),
            proxy_port.to_string(),
            dashboard_port.to_string(),
        ]));
    }
    // The rotation runs one baseline invocation; give each run its own ports by rotating the list.
    let samples = rotate_with_fresh_baselines(context, "smoke", ("xtask-smoke", ours), ("curl-sleep-1", baselines))?;
    let label = "start + curl/sleep 1 poll + sha256sum + kill, one binary after the other";
    Ok(metric("smoke", samples.0, samples.1, label))
}

/// A warm-up and the rotation of two commands, where the baseline takes the next of its invocations
/// for each run (each with its own ports).
fn rotate_with_fresh_baselines(
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

/// `cold-build`: `cargo build --locked -p xtask` into an empty target folder, with the committed
/// profile; wall and CPU seconds and the number of crates compiled.
fn bench_cold_build(context: &BenchContext<'_>) -> anyhow::Result<Metric> {
    let cargo = std::env::var_os("CARGO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("cargo"));
    let target_dir = context.bench_dir.join("cold-target");
    let invocation = Invocation::new(cargo, &context.workspace.root)
        .args(["build", "--locked", "--package", "xtask", "--color", "never"])
        .env("CARGO_TARGET_DIR", &target_dir);
    let mut samples = Vec::new();
    let mut crates = 0;
    for run in 1..=context.plan.cold_builds {
        remove_dir_if_present(&target_dir)?;
        let label = format!("cold-build-{run}");
        let sample = context.time(&invocation, &label)?;
        eprintln!(
            "bench cold-build: run {run}: {:.1} s wall, {:.1} s CPU",
            sample.wall_seconds,
            sample.cpu_seconds.unwrap_or(f64::NAN)
        );
        let log = std::fs::read_to_string(context.logs_dir.join(format!("{label}.log"))).unwrap_or_default();
        crates = count_compiled_crates(&log);
        samples.push(sample);
    }
    remove_dir_if_present(&target_dir)?;
    let mut result = metric("cold-build", samples, Vec::new(), "none (seconds from an empty target folder)");
    result.extra.insert("crates".into(), crates as f64);
    if let Some(cpu) = Metric::cpu_median(&result.ours) {
        result.extra.insert("cpu_s".into(), cpu);
    }
    Ok(result)
}

/// The `Compiling <crate> v<version>` lines of cargo's output.
pub fn count_compiled_crates(cargo_output: &str) -> usize {
    cargo_output.lines().filter(|line| line.trim_start().starts_with("Compiling ")).count()
}

fn remove_dir_if_present(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// User + system seconds of every finished child this process waited for.
#[cfg(unix)]
fn children_cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The 1, 5 and 15 minute load averages (Linux), or nothing elsewhere.
fn load_average() -> Vec<String> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).map(str::to_string).collect())
        .unwrap_or_default()
}

fn machine_facts(plan: Plan, load_at_start: &[String], load_at_end: &[String], seconds: f64) -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_default();
    let numbers = |loads: &[String]| loads.iter().filter_map(|load| load.parse::<f64>().ok()).collect::<Vec<_>>();
    json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cores": cores(),
        "cpu_model": cpu_model,
        "load_average_at_start": numbers(load_at_start),
        "load_average_at_end": numbers(load_at_end),
        "quick": plan.quick,
        "bench_seconds": (seconds * 10.0).round() / 10.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: f64) -> Sample {
        Sample { wall_seconds: seconds, cpu_seconds: Some(seconds * 2.0) }
    }

    fn hash_metric() -> Metric {
        metric(
            "hash",
            vec![sample(0.3), sample(0.1), sample(0.2)],
            vec![sample(0.8), sample(0.9), sample(0.7)],
            "sha256sum",
        )
    }

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

    #[test]
    fn ratio_is_ours_median_over_baseline_median_and_decides_the_goal() {
        let metric = hash_metric();
        assert_eq!(metric.ours_seconds(), Some(0.2));
        assert_eq!(metric.baseline_seconds(), Some(0.8));
        assert_eq!(metric.ratio(), Some(0.25));
        assert!(metric.met(), "0.25 is within the goal of 0.25");
        let slow = Metric { ours: vec![sample(0.5)], ..hash_metric() };
        assert!(!slow.met());
    }

    #[test]
    fn archive_goal_needs_the_size_within_two_percent() {
        let mut archive = metric("archive", vec![sample(1.0)], vec![sample(2.0)], "tar -czf");
        archive.extra.insert("size_ratio".into(), 1.019);
        assert!(archive.met());
        archive.extra.insert("size_ratio".into(), 1.03);
        assert!(!archive.met());
    }

    #[test]
    fn cold_build_goal_is_wall_seconds_without_a_baseline() {
        let mut cold = metric("cold-build", vec![sample(29.0), sample(31.0), sample(28.0)], vec![], "none");
        cold.extra.insert("crates".into(), 40.0);
        assert_eq!(cold.ratio(), None);
        assert!(cold.met());
        let entry = cold.to_json();
        assert_eq!(entry["ratio"], Value::Null);
        assert_eq!(entry["baseline_s"], Value::Null);
        assert_eq!(entry["crates"], json!(40.0));
        cold.ours = vec![sample(31.0)];
        assert!(!cold.met());
    }

    #[test]
    fn report_has_the_documented_shape() {
        let machine = json!({"cores": 2});
        let report: Value = serde_json::from_str(&render_report(&[hash_metric()], &machine)).unwrap();
        let entry = &report["metrics"][0];
        for key in ["name", "ours_s", "baseline_s", "ratio", "baseline", "runs"] {
            assert!(entry.get(key).is_some(), "metric entry lacks {key}: {entry}");
        }
        assert_eq!(entry["name"], "hash");
        assert_eq!(entry["ours_s"], json!(0.2));
        assert_eq!(entry["baseline_s"], json!(0.8));
        assert_eq!(entry["ratio"], json!(0.25));
        assert_eq!(entry["baseline"], "sha256sum");
        assert_eq!(entry["runs"], json!(3));
        assert_eq!(entry["met"], json!(true));
        assert_eq!(report["machine"], machine);
    }

    #[test]
    fn table_has_a_row_per_metric_with_its_numbers() {
        let mut cold = metric("cold-build", vec![sample(25.0)], vec![], "none");
        cold.extra.insert("crates".into(), 41.0);
        let table = render_table(&[hash_metric(), cold]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("| comparison | ours | baseline | ratio |"));
        assert!(
            lines[2].starts_with("| `hash` | 0.200 s | 0.800 s `sha256sum` | 0.25 | ≤ 0.25 | yes | 3 |"),
            "{}",
            lines[2]
        );
        assert!(lines[3].starts_with("| `cold-build` | 25.0 s | none | — | ≤ 30 s wall | yes | 1 |"), "{}", lines[3]);
        assert!(lines[3].contains("41 crates"));
    }

    #[test]
    fn selection_keeps_table_order_and_refuses_unknown_names() {
        assert_eq!(selection(&[]).unwrap(), COMPARISONS.to_vec());
        let only = vec!["smoke".to_string(), "hash".to_string()];
        assert_eq!(selection(&only).unwrap(), vec!["hash", "smoke"]);
        let error = selection(&["hashes".to_string()]).unwrap_err();
        assert!(format!("{error:#}").contains("hashes"));
    }

    #[test]
    fn counts_compiling_lines_only() {
        let output = "   Compiling libc v0.2.1\n   Compiling xtask v0.0.0 (/repo/xtask)\n    Finished `dev` profile\n";
        assert_eq!(count_compiled_crates(output), 2);
    }

    #[test]
    fn random_bytes_are_reproducible_and_incompressible_enough() {
        let first = random_bytes(1 << 16, 7);
        assert_eq!(first, random_bytes(1 << 16, 7));
        assert_ne!(first, random_bytes(1 << 16, 8));
        let distinct: std::collections::BTreeSet<u8> = first.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }
}
