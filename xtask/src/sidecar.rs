//! `cargo xtask sidecar`: build each declared sidecar with PyInstaller for the host triple, sign it
//! when asked, and publish it into `dist/` with its checksum, a deterministic archive, a CycloneDX
//! SBOM and a manifest record for each.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;

use crate::build_info;
use crate::bundled_contents::{self, BundledContents};
use crate::code_signing::{self, Signing, SigningEnvironment};
use crate::failure::{Lines, refuse};
use crate::flags::SidecarFlags;
use crate::manifest::{self, ArtifactRecord};
use crate::process::{ChildOutput, Echo, Supervised};
use crate::provenance::{self, BuildTime, Provenance};
use crate::targets::{self, Target};
use crate::uv::{self, Groups, Uv};
use crate::workspace::{Package, Sidecar, SidecarPackage, Workspace};
use crate::{archive, build_cache, executable_format, files, gha, hashing, naming, sbom, tools};

/// Lines of PyInstaller's output kept when it fails: the last one that says something ends the error.
const FAILURE_TAIL_LINES: usize = 5;

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

    let workspace_digest = build_cache::workspace_digest(workspace)?;
    let mut jobs = Vec::new();
    let mut generated = GeneratedFiles(Vec::new());
    for &sidecar_package in packages {
        let SidecarPackage { package, sidecar } = sidecar_package;
        let (build_info_path, build_info_text) = build_info::write(sidecar_package, &provenance)?;
        generated.0.push(build_info_path.clone());
        let key = build_cache::key(
            &workspace_digest,
            &build_cache::KeyInputs {
                triple: target.triple,
                binary: &sidecar.binary,
                python_version: &toolchain.python,
                pyinstaller_version: &toolchain.pyinstaller,
                build_info: &build_info_text,
            },
        );
        jobs.push(Job { package, sidecar, key, build_info_path, build_info_text });
    }
    let inputs = BuildInputs { workspace_digest: &workspace_digest };

    let parallel = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, jobs.len().max(1));
    let mut outcomes: Vec<anyhow::Result<BuiltBinary>> = Vec::new();
    for batch in jobs.chunks(parallel) {
        let batch_outcomes: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|job| scope.spawn(|| obtain_binary(workspace, &uv, target, job, &provenance, &inputs, options)))
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

/// Bytes written and removed again in `dist/` before a build: a folder that cannot take them (read
/// only, full, over a file size limit) cannot take a sidecar either, and it is said before the
/// long part instead of after it.
const OUTPUT_PROBE_BYTES: usize = 256 * 1024;

fn check_output_folder(dist: &Path) -> anyhow::Result<()> {
    let hint = "make dist/ a writable folder with free space (or remove it: it is created again), then run again";
    // A link to a folder elsewhere (another disk) is fine; a link to nothing or a file is not.
    match (std::fs::symlink_metadata(dist), std::fs::metadata(dist)) {
        (Ok(_), Err(_)) => {
            return Err(refuse(format!("{} is a link to something that does not exist", dist.display()), hint));
        }
        (_, Ok(meta)) if !meta.is_dir() => {
            return Err(refuse(format!("{} exists but is not a folder", dist.display()), hint));
        }
        _ => {}
    }
    let probe = std::fs::create_dir_all(dist).with_context(|| format!("creating {}", dist.display())).and_then(|()| {
        let mut probe = tempfile::Builder::new()
            .prefix(".xtask-probe-")
            .tempfile_in(dist)
            .with_context(|| format!("creating a file in {}", dist.display()))?;
        std::io::Write::write_all(&mut probe, &vec![0; OUTPUT_PROBE_BYTES])
            .and_then(|()| probe.as_file().sync_all())
            .with_context(|| format!("writing a file in {}", dist.display()))
    });
    probe.map_err(|error| refuse(format!("{} cannot take the build: {error:#}", dist.display()), hint))?;
    // A manifest that cannot be read would fail the publish step; say it now.
    manifest::check_readable(dist)
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

/// What every sidecar of one build shares and must still be true after PyInstaller ran.
struct BuildInputs<'a> {
    workspace_digest: &'a str,
}

struct Job<'a> {
    package: &'a Package,
    sidecar: &'a Sidecar,
    key: String,
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

fn toolchain(workspace: &Workspace, uv: &Uv) -> anyhow::Result<Toolchain> {
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

fn spec_path(package: &Package, sidecar: &Sidecar) -> anyhow::Result<PathBuf> {
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
fn obtain_binary(
    workspace: &Workspace,
    uv: &Uv,
    target: &Target,
    job: &Job<'_>,
    provenance: &Provenance,
    inputs: &BuildInputs<'_>,
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
    check_inputs_unchanged(workspace, job, inputs)?;
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
fn sign_if_asked(
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
/// the one this build wrote, or a source file, the lock or a spec changed. Such a binary is neither
/// cached nor published.
fn check_inputs_unchanged(workspace: &Workspace, job: &Job<'_>, inputs: &BuildInputs<'_>) -> anyhow::Result<()> {
    let build_info_now = std::fs::read_to_string(&job.build_info_path).ok();
    let mut changed = Vec::new();
    if build_info_now.as_deref() != Some(job.build_info_text.as_str()) {
        let state = if build_info_now.is_none() { "was removed" } else { "was rewritten" };
        changed.push(format!("{} {state}", job.build_info_path.display()));
    }
    if build_cache::workspace_digest(workspace)? != inputs.workspace_digest {
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

/// Where and with what a build publishes.
struct PublishContext<'a> {
    dist: &'a Path,
    target: &'a Target,
    provenance: &'a Provenance,
    toolchain: &'a Toolchain,
}

/// Copy the binary into `dist/` as `<binary>-<triple>`, write its `.sha256`, its archive, its SBOM
/// (`<binary>-<triple>.cdx.json`) and their `.sha256`, and remove the archives of other versions
/// of this binary and triple (an earlier build's). What the binary bundles must be what `uv.lock`
/// pins, or nothing is written. Each file appears complete or not at all, and in this order, so
/// that at every moment each manifest record and each `.sha256` matches its file: the manifest
/// forgets the files about to change, their stale `.sha256` files go, the files are written, the
/// manifest records them.
fn publish(
    workspace: &Workspace,
    context: &PublishContext<'_>,
    job: &Job<'_>,
    built: &BuiltBinary,
    declared_binaries: &[&str],
) -> anyhow::Result<Published> {
    let (dist, target, provenance, toolchain) = (context.dist, context.target, context.provenance, context.toolchain);
    let binary = &job.sidecar.binary;
    // Fresh builds were checked before caching; this also covers binaries taken from the cache.
    executable_format::check_file(&built.path, target)?;
    let contents = std::fs::read(&built.path).with_context(|| format!("reading {}", built.path.display()))?;
    let binary_hash = hashing::sha256_hex_of_bytes(&contents);
    let plain_name = naming::plain_file_name(binary, target);
    let mut entries = [archive::Entry { name: &plain_name, contents: &contents, mode: 0o755 }];
    let archive_bytes = archive::pack(target.archive_format(), &mut entries, provenance.source_date_epoch)?;
    let archive_hash = hashing::sha256_hex_of_bytes(&archive_bytes);
    let binary_name = naming::sidecar_file_name(binary, target);
    let archive_name = naming::archive_file_name(binary, &job.package.version, target);
    let sbom_name = naming::sbom_file_name(binary, target);
    check_size_budget(job.sidecar, &job.package.dir, target, contents.len() as u64)?;
    let lock_path = workspace.root.join("uv.lock");
    let lock_text = std::fs::read_to_string(&lock_path).with_context(|| format!("reading {}", lock_path.display()))?;
    sbom::check_against_lock(binary, &built.bundled, &sbom::locked_versions(&lock_text)?)?;
    let sbom_text = sbom::render(
        &sbom::Subject {
            binary,
            file_name: &binary_name,
            version: &job.package.version,
            triple: target.triple,
            sha256: &binary_hash,
            git_commit: &provenance.git_commit,
            source_date_epoch: provenance.source_date_epoch,
            pyinstaller_version: &toolchain.pyinstaller,
        },
        &built.bundled,
    );
    let sbom_hash = hashing::sha256_hex_of_bytes(sbom_text.as_bytes());

    let names_in_dist = file_names(dist)?;
    let stale: Vec<String> =
        naming::stale_archives(&names_in_dist, binary, Some(&job.package.version), target, declared_binaries)
            .into_iter()
            .map(str::to_string)
            .collect();
    let mut changing = vec![binary_name.clone(), archive_name.clone(), sbom_name.clone()];
    changing.extend(stale.iter().cloned());
    manifest::forget(dist, &changing)?;
    for name in &stale {
        eprintln!("[{binary}] removing {name} from dist/: an archive of another version");
        remove_if_present(&dist.join(name))?;
        remove_if_present(&dist.join(naming::checksum_file_name(name)))?;
    }
    for name in [&binary_name, &archive_name, &sbom_name] {
        remove_if_present(&dist.join(naming::checksum_file_name(name)))?;
    }

    files::write_atomically_with_mode(&dist.join(&binary_name), &contents, Some(0o755))?;
    write_checksum_file(dist, &binary_name, &binary_hash)?;
    files::write_atomically(&dist.join(&archive_name), &archive_bytes)?;
    write_checksum_file(dist, &archive_name, &archive_hash)?;
    files::write_atomically(&dist.join(&sbom_name), sbom_text.as_bytes())?;
    write_checksum_file(dist, &sbom_name, &sbom_hash)?;

    let record = |file: &str, kind: &'static str, size: usize, sha256: &str| ArtifactRecord {
        file: file.to_string(),
        kind,
        triple: target.triple.to_string(),
        package: job.package.name.clone(),
        version: job.package.version.clone(),
        size: size as u64,
        sha256: sha256.to_string(),
        build_seconds: built.seconds,
        cached: built.cached,
        git_commit: provenance.git_commit.clone(),
        python: toolchain.python.clone(),
        pyinstaller: toolchain.pyinstaller.clone(),
        runner: manifest::runner_label(),
    };
    let records = vec![
        record(&binary_name, "binary", contents.len(), &binary_hash),
        record(&archive_name, "archive", archive_bytes.len(), &archive_hash),
        record(&sbom_name, "sbom", sbom_text.len(), &sbom_hash),
    ];
    manifest::update(dist, &records)?;
    Ok(Published { records })
}

/// A binary over its declared `max-size-mb` is not published (the growth budget needs the previous
/// release, so `collect` checks it).
fn check_size_budget(sidecar: &Sidecar, package_dir: &Path, target: &Target, size: u64) -> anyhow::Result<()> {
    let row = crate::size_report::BinaryRow {
        binary: sidecar.binary.clone(),
        triple: target.triple.to_string(),
        size,
        build_seconds: None,
        previous: None,
    };
    let budgets = std::collections::BTreeMap::from([(sidecar.binary.clone(), sidecar.budget)]);
    match crate::size_report::budget_problems(&[row], &budgets).into_iter().next() {
        None => Ok(()),
        Some(problem) => Err(refuse(
            format!("{problem}: it is not published"),
            format!(
                "find what grew (compare its SBOM with the last release's), or raise max-size-mb under \
                 [tool.xtask.sidecar.budget] in {} on purpose",
                package_dir.join("pyproject.toml").display()
            ),
        )),
    }
}

/// After a sidecar failed: remove what earlier builds left of it for this triple (the binary, its
/// SBOM and archives of any version, their `.sha256`), so `dist/` never pairs a new build of one
/// sidecar with an old build of another.
fn withdraw(dist: &Path, target: &Target, job: &Job<'_>, declared_binaries: &[&str]) -> anyhow::Result<()> {
    let binary = &job.sidecar.binary;
    let names_in_dist = file_names(dist)?;
    let mut earlier: Vec<String> = naming::stale_archives(&names_in_dist, binary, None, target, declared_binaries)
        .into_iter()
        .map(str::to_string)
        .collect();
    for name in [naming::sidecar_file_name(binary, target), naming::sbom_file_name(binary, target)] {
        if names_in_dist.contains(&name) {
            earlier.push(name);
        }
    }
    if earlier.is_empty() {
        return Ok(());
    }
    manifest::forget(dist, &earlier)?;
    for name in &earlier {
        remove_if_present(&dist.join(name))?;
        remove_if_present(&dist.join(naming::checksum_file_name(name)))?;
    }
    eprintln!(
        "[{binary}] removed {} from dist/: from an earlier build, they would not match this one",
        earlier.join(", ")
    );
    Ok(())
}

/// The names of the entries directly in `dist`.
fn file_names(dist: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dist).with_context(|| format!("listing {}", dist.display()))? {
        names.push(
            entry.with_context(|| format!("listing {}", dist.display()))?.file_name().to_string_lossy().into_owned(),
        );
    }
    Ok(names)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn write_checksum_file(dist: &Path, file_name: &str, hex: &str) -> anyhow::Result<()> {
    let path = dist.join(naming::checksum_file_name(file_name));
    files::write_atomically(&path, hashing::checksum_line(hex, file_name).as_bytes())
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_binary_over_its_declared_size_is_refused_with_the_file_to_change() {
        let mut sidecar = crate::workspace::Sidecar {
            binary: "tool".into(),
            spec: "tool.spec".into(),
            import_package: "tool".into(),
            service: "tool".into(),
            smoke: crate::workspace::SmokeLaunch {
                args: vec![],
                health_port: String::new(),
                api_port: String::new(),
                password_env: None,
            },
            budget: Default::default(),
        };
        let linux = targets::parse("x86_64-unknown-linux-gnu").unwrap();
        let package_dir = Path::new("packages/proxy");
        check_size_budget(&sidecar, package_dir, linux, 50_000_000).unwrap();
        sidecar.budget.max_size_mb = Some(40.0);
        check_size_budget(&sidecar, package_dir, linux, 40_000_000).unwrap();
        let error = check_size_budget(&sidecar, package_dir, linux, 40_000_001).unwrap_err();
        let Lines { message, hint } = crate::failure::lines(&error);
        assert!(
            message.contains("tool for x86_64-unknown-linux-gnu is 40.00 MB, over its budget of 40 MB"),
            "{message}"
        );
        assert!(hint.unwrap().contains("packages/proxy/pyproject.toml"));
    }

    #[test]
    fn the_output_folder_may_be_a_link_to_a_folder_but_not_to_nothing_or_a_file() {
        let folder = tempfile::tempdir().unwrap();
        let elsewhere = folder.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let linked = folder.path().join("linked");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        check_output_folder(&linked).unwrap();
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "the probe file is removed");
        check_output_folder(&folder.path().join("created")).unwrap();
        assert!(folder.path().join("created").is_dir());
        let dangling = folder.path().join("dangling");
        std::os::unix::fs::symlink(folder.path().join("nothing"), &dangling).unwrap();
        let Lines { message, hint } = crate::failure::lines(&check_output_folder(&dangling).unwrap_err());
        assert!(message.contains("is a link to something that does not exist"), "{message}");
        assert!(hint.is_some());
        std::fs::write(folder.path().join("file"), "x").unwrap();
        let error = check_output_folder(&folder.path().join("file")).unwrap_err();
        assert!(crate::failure::lines(&error).message.contains("exists but is not a folder"));
    }
}
