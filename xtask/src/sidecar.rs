//! `cargo xtask sidecar`: build each declared sidecar with PyInstaller for the host triple, sign it
//! when asked, and publish it into `dist/` with its checksum, a deterministic archive, a CycloneDX
//! SBOM and a manifest record for each.
//!
//! This file is the recipe and the data its steps share; `sidecar/build.rs` gets each binary (the
//! cache or PyInstaller, then signing) and `sidecar/publish.rs` writes it into `dist/`.

use std::path::{Path, PathBuf};

use crate::build_info;
use crate::bundled_contents::BundledContents;
use crate::code_signing::{self, SigningEnvironment};
use crate::failure::{Lines, refuse};
use crate::flags::SidecarFlags;
use crate::manifest::ArtifactRecord;
use crate::provenance::{self, BuildTime, Provenance};
use crate::targets::{self, Target};
use crate::uv::{self, Groups, Uv};
use crate::workspace::{Package, Sidecar, SidecarPackage, Workspace};
use crate::{build_cache, gha, tools};

mod build;
mod publish;

use build::{obtain_binary, sign_if_asked, spec_path, toolchain};
use publish::{check_output_folder, publish, withdraw};

#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    pub use_cache: bool,
}

/// The interpreter and PyInstaller that the locked environment builds with.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub python: String,
    pub pyinstaller: String,
}

/// One sidecar, published.
#[derive(Debug, Clone)]
pub struct Published {
    pub records: Vec<ArtifactRecord>,
}

pub fn run(flags: &SidecarFlags) -> anyhow::Result<()> {
    let workspace = Workspace::discover()?;
    let target = targets::buildable(flags.target)?;
    let packages = workspace.sidecar_packages(flags.package.as_deref())?;
    let published = build_and_publish(&workspace, target, &packages, BuildOptions { use_cache: !flags.no_cache })?;
    let table = render_table(&published);
    println!("\n{table}");
    gha::step_summary(&format!("### Sidecars for {}\n\n{table}", target.triple))?;
    let names: Vec<String> = published.iter().flat_map(|p| p.records.iter().map(|r| r.file.clone())).collect();
    gha::step_output("files", &names.join(" "))?;
    Ok(())
}

/// Build every package's sidecar for `target` and publish them into `dist/`.
///
/// Holds the clone's build lock throughout. Everything that can be checked cheaply is checked
/// before the first long step (tools, the commit, the specs, the output folder); `dist/` and its
/// manifest stay in step after each sidecar, so a failure or an interrupt leaves no stale record.
pub fn build_and_publish(
    workspace: &Workspace,
    target: &'static Target,
    packages: &[SidecarPackage<'_>],
    options: BuildOptions,
) -> anyhow::Result<Vec<Published>> {
    let _build_lock = workspace.lock_builds()?;
    tools::find_python()?;
    let uv = Uv::get(workspace)?;
    let provenance = provenance::provenance(&workspace.root, BuildTime::CommitTime)?;
    let signing = code_signing::plan(&SigningEnvironment::read(), cfg!(target_os = "macos"))?;
    for SidecarPackage { package, sidecar } in packages {
        spec_path(package, sidecar)?;
    }
    let dist = workspace.dist_dir();
    check_output_folder(&dist)?;
    gha::group("uv sync --locked", || uv::sync(workspace, &uv, Groups::Build))?;
    let toolchain = toolchain(workspace, &uv)?;

    let mut jobs = Vec::new();
    let mut generated = GeneratedFiles(Vec::new());
    for &sidecar_package in packages {
        let SidecarPackage { package, sidecar } = sidecar_package;
        let (build_info_path, build_info_text) = build_info::write(sidecar_package, &provenance)?;
        generated.0.push(build_info_path.clone());
        let sources_digest = build_cache::sources_digest(workspace, package)?;
        let key = build_cache::key(
            &sources_digest,
            &build_cache::KeyInputs {
                triple: target.triple,
                binary: &sidecar.binary,
                python_version: &toolchain.python,
                pyinstaller_version: &toolchain.pyinstaller,
                build_info: &build_info_text,
            },
        );
        jobs.push(Job { package, sidecar, key, sources_digest, build_info_path, build_info_text });
    }

    let parallel = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, jobs.len().max(1));
    let mut outcomes: Vec<anyhow::Result<BuiltBinary>> = Vec::new();
    for batch in jobs.chunks(parallel) {
        let batch_outcomes: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|job| scope.spawn(|| obtain_binary(workspace, &uv, target, job, &provenance, options)))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("build thread panicked"))))
                .collect()
        });
        outcomes.extend(batch_outcomes);
    }

    let declared_binaries: Vec<&str> = workspace.sidecars().map(|entry| entry.sidecar.binary.as_str()).collect();
    let mut failures = Vec::new();
    let mut published = Vec::new();
    for (job, outcome) in jobs.iter().zip(outcomes) {
        // After an interrupt nothing more is published: what is in dist/ already is in the manifest.
        crate::process::check_interrupted()?;
        let context = PublishContext { dist: &dist, target, provenance: &provenance, toolchain: &toolchain };
        let signed = outcome.and_then(|built| sign_if_asked(workspace, target, job, built, signing.as_ref()));
        match signed.and_then(|built| publish(workspace, &context, job, &built, &declared_binaries)) {
            Ok(item) => published.push(item),
            Err(error) => {
                crate::process::check_interrupted()?;
                let Lines { mut message, hint } = crate::failure::lines(&error);
                if let Err(cleanup) = withdraw(&dist, target, job, &declared_binaries) {
                    message.push_str(&format!(" (and cleaning dist/: {})", crate::failure::lines(&cleanup).message));
                }
                failures.push((format!("{}: {message}", job.sidecar.binary), hint));
            }
        }
    }
    crate::process::check_interrupted()?;
    if !failures.is_empty() {
        let messages: Vec<&str> = failures.iter().map(|(message, _)| message.as_str()).collect();
        let hint = match failures.as_slice() {
            [(_, Some(hint))] => hint.clone(),
            _ => "read the prefixed PyInstaller output above; `cargo xtask sidecar --package NAME --no-cache` rebuilds one"
                .to_string(),
        };
        return Err(refuse(format!("{} sidecar(s) failed: {}", failures.len(), messages.join("; ")), hint));
    }
    Ok(published)
}

/// `_build_info.py` files written for a build, removed afterwards (also on failure): left behind,
/// they would make source runs report a stale commit instead of `unknown`.
struct GeneratedFiles(Vec<PathBuf>);

impl Drop for GeneratedFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

struct Job<'a> {
    package: &'a Package,
    sidecar: &'a Sidecar,
    key: String,
    /// The [`build_cache::sources_digest`] in `key`: it must still be the same after PyInstaller ran.
    sources_digest: String,
    build_info_path: PathBuf,
    build_info_text: String,
}

struct BuiltBinary {
    /// The bytes to publish: unsigned from PyInstaller or the cache, or a signed copy of them.
    path: PathBuf,
    seconds: f64,
    cached: bool,
    /// What PyInstaller bundled into it: the SBOM's contents.
    bundled: BundledContents,
}

/// Where and with what a build publishes.
struct PublishContext<'a> {
    dist: &'a Path,
    target: &'a Target,
    provenance: &'a Provenance,
    toolchain: &'a Toolchain,
}

/// A Markdown table of what was published.
pub fn render_table(published: &[Published]) -> String {
    let mut table = String::from("| file | size | build | sha256 |\n|---|---:|---|---|\n");
    for record in published.iter().flat_map(|item| &item.records) {
        let build = if record.cached { "cached".to_string() } else { format!("{:.1} s", record.build_seconds) };
        table.push_str(&format!(
            "| `{}` | {:.1} MiB | {} | `{}` |\n",
            record.file,
            record.size as f64 / 1_048_576.0,
            build,
            &record.sha256
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(file: &str, size: u64, build_seconds: f64, cached: bool) -> ArtifactRecord {
        ArtifactRecord {
            file: file.to_string(),
            kind: "binary",
            triple: "x86_64-unknown-linux-gnu".to_string(),
            package: "agent".to_string(),
            version: "0.4.0".to_string(),
            size,
            sha256: "ab".repeat(32),
            build_seconds,
            cached,
            git_commit: "unknown".to_string(),
            python: "3.11.7".to_string(),
            pyinstaller: "6.19.0".to_string(),
            runner: "local".to_string(),
        }
    }

    #[test]
    fn the_table_lists_every_published_file_with_its_size_build_time_or_cache_hit_and_hash() {
        let published = [
            Published { records: vec![record("lumen-argus-agent-x86_64-unknown-linux-gnu", 7_340_032, 4.26, false)] },
            Published { records: vec![record("lumen-argus-x86_64-unknown-linux-gnu", 524_288, 0.0, true)] },
        ];
        let hash = "ab".repeat(32);
        assert_eq!(
            render_table(&published),
            format!(
                "| file | size | build | sha256 |\n|---|---:|---|---|\n\
                 | `lumen-argus-agent-x86_64-unknown-linux-gnu` | 7.0 MiB | 4.3 s | `{hash}` |\n\
                 | `lumen-argus-x86_64-unknown-linux-gnu` | 0.5 MiB | cached | `{hash}` |\n"
            )
        );
        assert_eq!(
            render_table(&[]),
            "| file | size | build | sha256 |\n|---|---:|---|---|\n",
            "a header without rows"
        );
    }
}
