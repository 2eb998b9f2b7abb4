//! The `archive` comparison: `cargo xtask archive` of a sidecar against `tar -czf`, in time and in
//! compressed size.

use std::path::Path;

use anyhow::Context;

use super::comparison::Comparison;
use super::measure::{BenchContext, Invocation};
use super::report::{Metric, metric};
use crate::failure::refuse;

/// `archive`: `cargo xtask archive` of the proxy sidecar vs `tar -czf` (gzip's default level 6).
pub fn bench_archive(context: &BenchContext<'_>) -> anyhow::Result<Metric> {
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
    let mut result = metric(
        Comparison::Archive,
        samples.next().unwrap_or_default(),
        samples.next().unwrap_or_default(),
        "tar -czf (gzip -6)",
    );
    let size_of = |path: &Path| std::fs::metadata(path).map(|metadata| metadata.len() as f64);
    let (ours_bytes, baseline_bytes) = (size_of(&ours_out)?, size_of(&tar_out)?);
    result.extra.insert("input_bytes".into(), size_of(&input)?);
    result.extra.insert("ours_bytes".into(), ours_bytes);
    result.extra.insert("baseline_bytes".into(), baseline_bytes);
    result.extra.insert("size_ratio".into(), ours_bytes / baseline_bytes);
    Ok(result)
}
