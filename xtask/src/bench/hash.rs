//! The `hash` and `hash-limit` comparisons: `cargo xtask checksums` over four files of random bytes
//! against `sha256sum --check` and `openssl dgst -sha256`, in one rotation.

use anyhow::Context;
use xshell::cmd;

use super::comparison::Comparison;
use super::measure::{BenchContext, Invocation};
use super::report::{Metric, metric};
use crate::{files, naming, process};

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
pub fn bench_hash(context: &BenchContext<'_>, hash: bool, hash_limit: bool) -> anyhow::Result<Vec<Metric>> {
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
        metrics.push(metric(Comparison::Hash, ours_samples.clone(), samples.next().unwrap_or_default(), label));
    }
    if hash_limit {
        let label = "openssl dgst -sha256 (4 files)";
        metrics.push(metric(Comparison::HashLimit, ours_samples, samples.next().unwrap_or_default(), label));
    }
    for metric in &mut metrics {
        metric.extra.insert("input_bytes".into(), (4 * context.plan.hash_file_bytes) as f64);
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_reproducible_and_incompressible_enough() {
        let first = random_bytes(1 << 16, 7);
        assert_eq!(first, random_bytes(1 << 16, 7));
        assert_ne!(first, random_bytes(1 << 16, 8));
        let distinct: std::collections::BTreeSet<u8> = first.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }
}
