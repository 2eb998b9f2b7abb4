//! The `sidecar-cached` and `sidecar-parallel` comparisons: `cargo xtask sidecar` from the cache,
//! without it, and PyInstaller run one spec after the other as a plain workflow would, in one
//! rotation.

use std::collections::BTreeMap;

use super::comparison::Comparison;
use super::measure::{BenchContext, Invocation, Sample};
use super::report::{Metric, metric};
use crate::uv::Uv;
use crate::workspace::SidecarPackage;

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
pub fn bench_sidecar(context: &BenchContext<'_>, cached: bool, parallel: bool) -> anyhow::Result<Vec<Metric>> {
    let workspace = context.workspace;
    let mut variants = Vec::new();
    if cached {
        variants.push(("sidecar-cached", context.xtask_invocation(&["sidecar"])));
    }
    variants.push(("sidecar-no-cache", context.xtask_invocation(&["sidecar", "--no-cache"])));
    let mut generated_build_info = Vec::new();
    if parallel {
        let uv = Uv::get(workspace)?;
        let mut specs = Vec::new();
        for SidecarPackage { package, sidecar } in workspace.sidecar_packages(None)? {
            specs.push(package.dir.join(&sidecar.spec));
            let build_info = package.dir.join(&sidecar.import_package).join("_build_info.py");
            if !build_info.exists() {
                generated_build_info.push(build_info);
            }
        }
        let script = Invocation::shell(PYINSTALLER_ONE_AFTER_THE_OTHER, &workspace.root)
            .arg(&uv.path)
            .arg(&context.xtask)
            .arg(context.bench_dir.join("pyinstaller"))
            .args(specs)
            // The interpreter the xtask's own builds use, so both sides freeze with one Python.
            .env("UV_PYTHON", &uv.python);
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
        metrics.push(metric(
            Comparison::SidecarCached,
            take("sidecar-cached"),
            take("sidecar-no-cache"),
            "sidecar --no-cache",
        ));
    }
    if parallel {
        let label = "uv run python -m PyInstaller, each spec in turn";
        metrics.push(metric(
            Comparison::SidecarParallel,
            take("sidecar-no-cache"),
            take("pyinstaller-one-after-the-other"),
            label,
        ));
    }
    Ok(metrics)
}
