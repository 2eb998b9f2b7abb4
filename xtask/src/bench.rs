//! `cargo xtask bench`: time the xtask's hot paths and its own cold build side by side with the plain
//! tools a workflow would use instead, and write the medians to `target/bench/report.json`.
//!
//! Every comparison runs its commands as a user would (the built xtask executable, `sha256sum`,
//! `tar`, shell scripts), once each as a warm-up, then in rotation (ours, baseline, ours, …) so that
//! a busy machine slows both sides alike. Ratios are `ours / baseline`; a goal holds when the median
//! ratio is at most the goal.
//!
//! This file runs the comparisons asked for (the command, `bench_command.rs`, hands it the flags);
//! [`comparison`] names the comparisons, `measure` times them, `report` writes what they showed,
//! and one module per comparison (or pair sharing a rotation) holds its body.

mod archive;
mod cold_build;
pub mod comparison;
mod hash;
mod measure;
mod report;
mod sidecar;
mod smoke;

use std::time::Instant;

use crate::failure::refuse;
use crate::workspace::Workspace;
use crate::{files, tools};

use comparison::Comparison;
use measure::{BenchContext, Plan};
use report::{cores, load_average, machine_facts, render_report, render_table};

/// The comparisons named in `--only` (all when empty), in table order, each once.
pub fn selection(only: &[Comparison]) -> Vec<Comparison> {
    Comparison::ALL.into_iter().filter(|comparison| only.is_empty() || only.contains(comparison)).collect()
}

/// Run the comparisons of `only` (all when empty): smaller inputs and fewer runs when `quick`.
pub fn run(quick: bool, only: &[Comparison]) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    let selected = selection(only);
    let plan = Plan::new(quick);
    let context = BenchContext::new(&workspace, plan)?;
    check_tools(&selected)?;
    let load_at_start = load_average();
    let started = Instant::now();

    let wants = |comparison: Comparison| selected.contains(&comparison);
    let needs_sidecars = selected.iter().any(|comparison| comparison.needs_built_sidecars(plan.quick));
    if needs_sidecars {
        eprintln!("bench: building the sidecars once (cached when unchanged), so that every comparison has them");
        context.time(&context.xtask_invocation(&["sidecar"]), "prepare-sidecar")?;
    }

    let mut metrics = Vec::new();
    if wants(Comparison::Hash) || wants(Comparison::HashLimit) {
        metrics.extend(hash::bench_hash(&context, wants(Comparison::Hash), wants(Comparison::HashLimit))?);
    }
    if wants(Comparison::Archive) {
        metrics.push(archive::bench_archive(&context)?);
    }
    if wants(Comparison::SidecarCached) || wants(Comparison::SidecarParallel) {
        let (cached, parallel) = (wants(Comparison::SidecarCached), wants(Comparison::SidecarParallel));
        metrics.extend(sidecar::bench_sidecar(&context, cached, parallel)?);
    }
    if wants(Comparison::Smoke) {
        metrics.push(smoke::bench_smoke(&context)?);
    }
    if wants(Comparison::ColdBuild) {
        metrics.push(cold_build::bench_cold_build(&context)?);
    }

    let machine = machine_facts(plan, &load_at_start, &load_average(), started.elapsed().as_secs_f64());
    let report_path = context.bench_dir.join("report.json");
    files::write_atomically(&report_path, render_report(&metrics, &machine).as_bytes())?;
    let table = render_table(&metrics);
    files::write_atomically(&context.bench_dir.join("report.md"), table.as_bytes())?;
    println!("\n{table}");
    let missed: Vec<&str> =
        metrics.iter().filter(|metric| !metric.met()).map(|metric| metric.comparison.name()).collect();
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

/// The outside programs each selected comparison runs, found before any work starts.
fn check_tools(selected: &[Comparison]) -> anyhow::Result<()> {
    let mut needed: Vec<&str> = Vec::new();
    for comparison in selected {
        needed.extend(comparison.tools());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_keeps_table_order_and_each_comparison_once() {
        assert_eq!(selection(&[]), Comparison::ALL.to_vec());
        let only = [Comparison::Smoke, Comparison::Hash, Comparison::Smoke];
        assert_eq!(selection(&only), vec![Comparison::Hash, Comparison::Smoke]);
    }
}
