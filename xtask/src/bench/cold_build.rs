//! The `cold-build` comparison: the xtask's own build from an empty target folder, timed against a
//! goal in seconds (no baseline), with the number of crates it compiled.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::comparison::Comparison;
use super::measure::{BenchContext, Invocation};
use super::report::{Metric, metric};

/// `cold-build`: `cargo build --locked -p xtask` into an empty target folder, with the committed
/// profile; wall and CPU seconds and the number of crates compiled.
pub fn bench_cold_build(context: &BenchContext<'_>) -> anyhow::Result<Metric> {
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
    let mut result = metric(Comparison::ColdBuild, samples, Vec::new(), "none (seconds from an empty target folder)");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_compiling_lines_only() {
        let output = "   Compiling libc v0.2.1\n   Compiling xtask v0.0.0 (/repo/xtask)\n    Finished `dev` profile\n";
        assert_eq!(count_compiled_crates(output), 2);
    }
}
