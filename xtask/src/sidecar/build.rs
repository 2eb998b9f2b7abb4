//! Getting one sidecar's binary: from the build cache, or from a PyInstaller run whose output is
//! checked against the triple and against inputs that changed under it; then a signed copy when
//! signing is asked for.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;

use super::{BuildOptions, BuiltBinary, Job, Toolchain};
use crate::code_signing::{self, Signing};
use crate::failure::refuse;
use crate::process::{ChildOutput, Echo, Supervised};
use crate::provenance::Provenance;
use crate::targets::Target;
use crate::uv::{self, Groups, Uv};
use crate::workspace::{Package, Sidecar, Workspace};
use crate::{build_cache, bundled_contents, executable_format, naming};

/// Lines of PyInstaller's output kept when it fails: the last one that says something ends the error.
const FAILURE_TAIL_LINES: usize = 5;

pub(super) fn toolchain(workspace: &Workspace, uv: &Uv) -> anyhow::Result<Toolchain> {
    let script = "import platform, PyInstaller; print(platform.python_version(), PyInstaller.__version__)";
    let mut command = uv::run(workspace, uv, Groups::Build, &["python", "-c", script])?;
    command.stdout(Stdio::piped());
    let mut child = Supervised::spawn(&mut command, "the locked environment's Python")?;
    let output = ChildOutput::tee(&mut child, Echo::Nowhere, 1);
    let status = child.wait().context("asking the locked environment for its Python and PyInstaller versions")?;
    let text = output.finish().concat();
    let mut words = text.split_whitespace();
    match (status.success(), words.next(), words.next()) {
        (true, Some(python), Some(pyinstaller)) => {
            Ok(Toolchain { python: python.to_string(), pyinstaller: pyinstaller.to_string() })
        }
        _ => Err(refuse(
            format!(
                "PyInstaller is not importable in the locked environment {}",
                uv::project_venv(workspace).display()
            ),
            format!(
                "remove {} and run again (it is created anew); if that does not help, check that pyinstaller is in \
                 the build group of the root pyproject.toml, then `uv lock`",
                uv::project_venv(workspace).display()
            ),
        )),
    }
}

pub(super) fn spec_path(package: &Package, sidecar: &Sidecar) -> anyhow::Result<PathBuf> {
    let spec = package.dir.join(&sidecar.spec);
    if !spec.is_file() {
        return Err(refuse(
            format!("{} declares spec {} but there is no such file", package.distribution, spec.display()),
            "fix `spec` under [tool.xtask.sidecar] in the package's pyproject.toml",
        ));
    }
    Ok(spec)
}

/// The sidecar binary: from the cache when its key is there, else from PyInstaller. A fresh
/// binary is cached only when its inputs were the same after PyInstaller as before it.
pub(super) fn obtain_binary(
    workspace: &Workspace,
    uv: &Uv,
    target: &Target,
    job: &Job<'_>,
    provenance: &Provenance,
    options: BuildOptions,
) -> anyhow::Result<BuiltBinary> {
    let plain_name = naming::plain_file_name(&job.sidecar.binary, target);
    if options.use_cache
        && let Some(cached) = build_cache::lookup(workspace, &job.key, &plain_name)
    {
        eprintln!("[{}] cached: {}", job.sidecar.binary, &job.key[..16]);
        return Ok(BuiltBinary { path: cached.binary, seconds: 0.0, cached: true, bundled: cached.bundled });
    }
    let started = Instant::now();
    let built = run_pyinstaller(workspace, uv, target, job, provenance)?;
    executable_format::check_file(&built, target)?;
    // PyInstaller names its work folder for one spec after the spec file's stem.
    let spec = spec_path(job.package, job.sidecar)?;
    let spec_stem = spec.file_stem().context("the sidecar's spec file has no name")?;
    let work_folder = build_dir(workspace, target, job).join("work").join(spec_stem);
    let bundled = bundled_contents::read(workspace, uv, &work_folder, &job.sidecar.binary)?;
    check_inputs_unchanged(workspace, job)?;
    build_cache::store(workspace, &job.key, &plain_name, &built, &bundled)?;
    Ok(BuiltBinary { path: built, seconds: started.elapsed().as_secs_f64(), cached: false, bundled })
}

/// `target/sidecar/<triple>/<binary>/`: PyInstaller's work, output and config folders, and the
/// signed copy.
fn build_dir(workspace: &Workspace, target: &Target, job: &Job<'_>) -> PathBuf {
    workspace.target_dir().join("sidecar").join(target.triple).join(&job.sidecar.binary)
}

/// With signing asked for, sign a copy of the binary (the cache keeps the unsigned one) and
/// publish that: every hash and the SBOM then describe the signed bytes.
pub(super) fn sign_if_asked(
    workspace: &Workspace,
    target: &Target,
    job: &Job<'_>,
    built: BuiltBinary,
    signing: Option<&Signing>,
) -> anyhow::Result<BuiltBinary> {
    let Some(signing) = signing else { return Ok(built) };
    let staged =
        build_dir(workspace, target, job).join("signed").join(naming::plain_file_name(&job.sidecar.binary, target));
    code_signing::sign_copy(signing, &built.path, &staged, target, &job.sidecar.binary)?;
    Ok(BuiltBinary { path: staged, ..built })
}

/// Refuse a binary whose inputs changed while PyInstaller read them: its `_build_info.py` is not
/// the one this build wrote, or a source file, the lock or a spec that its key covers changed. Such
/// a binary is neither cached nor published.
fn check_inputs_unchanged(workspace: &Workspace, job: &Job<'_>) -> anyhow::Result<()> {
    let build_info_now = std::fs::read_to_string(&job.build_info_path).ok();
    let mut changed = Vec::new();
    if build_info_now.as_deref() != Some(job.build_info_text.as_str()) {
        let state = if build_info_now.is_none() { "was removed" } else { "was rewritten" };
        changed.push(format!("{} {state}", job.build_info_path.display()));
    }
    if build_cache::sources_digest(workspace, job.package)? != job.sources_digest {
        changed.push("the sources, uv.lock or a spec changed".to_string());
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(refuse(
        format!(
            "the inputs of {} changed while PyInstaller ran ({}): the binary is neither cached nor published",
            job.sidecar.binary,
            changed.join("; ")
        ),
        "something else wrote to this clone during the build (an editor, git, another tool); run again when it is idle",
    ))
}

fn run_pyinstaller(
    workspace: &Workspace,
    uv: &Uv,
    target: &Target,
    job: &Job<'_>,
    provenance: &Provenance,
) -> anyhow::Result<PathBuf> {
    let binary = &job.sidecar.binary;
    let build_dir = build_dir(workspace, target, job);
    let out_dir = build_dir.join("out");
    if out_dir.exists() {
        std::fs::remove_dir_all(&out_dir).with_context(|| format!("clearing {}", out_dir.display()))?;
    }
    let spec = spec_path(job.package, job.sidecar)?;
    let (spec_text, out_text, work_text) =
        (spec.to_string_lossy(), out_dir.to_string_lossy(), build_dir.join("work").to_string_lossy().into_owned());
    let mut command = uv::run(
        workspace,
        uv,
        Groups::Build,
        &[
            "python",
            "-m",
            "PyInstaller",
            &spec_text,
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            &out_text,
            "--workpath",
            &work_text,
        ],
    )?;
    command
        .env("PYTHONHASHSEED", "0")
        .env("SOURCE_DATE_EPOCH", provenance.source_date_epoch.to_string())
        // A config (and binary cache) folder per sidecar: concurrent builds never share one.
        .env("PYINSTALLER_CONFIG_DIR", build_dir.join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("[{binary}] building with PyInstaller for {}", target.triple);
    let mut child = Supervised::spawn(&mut command, &format!("PyInstaller for {binary}"))?;
    let output = ChildOutput::tee(&mut child, Echo::Stderr(format!("[{binary}] ")), FAILURE_TAIL_LINES);
    let status = child.wait()?;
    let last_lines = output.finish();
    let built = out_dir.join(naming::plain_file_name(binary, target));
    if !status.success() || !built.is_file() {
        let last_line = last_lines.iter().rev().find(|line| !line.trim().is_empty());
        let said = last_line.map(|line| format!(": {}", line.trim())).unwrap_or_default();
        return Err(refuse(
            format!("PyInstaller failed for {binary} ({status}){said}"),
            format!("its output is above, each line prefixed with [{binary}]"),
        ));
    }
    Ok(built)
}
