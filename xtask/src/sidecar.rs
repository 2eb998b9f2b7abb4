//! `cargo xtask sidecar`: build each declared sidecar with PyInstaller for the host triple and
//! publish it into `dist/` with its checksum, a deterministic archive and a manifest record.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

use crate::build_info::{self, Provenance};
use crate::failure::refuse;
use crate::flags::SidecarFlags;
use crate::manifest::{self, ArtifactRecord};
use crate::process::Supervised;
use crate::targets::{self, Target};
use crate::workspace::{Package, Sidecar, Workspace};
use crate::{archive, build_cache, executable_format, files, gha, hashing, naming, tools};

/// Lines of PyInstaller's output kept to show when it fails.
const FAILURE_TAIL_LINES: usize = 30;

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
    let target = targets::buildable(flags.target.as_deref())?;
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
pub fn build_and_publish(
    workspace: &Workspace,
    target: &'static Target,
    packages: &[&Package],
    options: BuildOptions,
) -> anyhow::Result<Vec<Published>> {
    tools::find_python()?;
    let uv = tools::uv(workspace)?;
    gha::group("uv sync --locked", || tools::sync(workspace, &uv))?;
    let provenance = build_info::provenance(&workspace.root, true)?;
    let toolchain = toolchain(workspace, &uv)?;

    let workspace_digest = build_cache::workspace_digest(workspace)?;
    let mut jobs = Vec::new();
    let mut generated = GeneratedFiles(Vec::new());
    for package in packages {
        let sidecar = package.sidecar.as_ref().expect("sidecar_packages returns packages with a sidecar");
        let (build_info_path, build_info_text) = build_info::write(package, &provenance)?;
        generated.0.push(build_info_path);
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
        jobs.push(Job { package, sidecar, key });
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

    let mut failures = Vec::new();
    let mut published = Vec::new();
    for (job, outcome) in jobs.iter().zip(outcomes) {
        match outcome.and_then(|built| publish(workspace, target, job, &built, &provenance, &toolchain)) {
            Ok(item) => published.push(item),
            Err(error) => failures.push(format!("{}: {}", job.sidecar.binary, crate::failure::lines(&error).0)),
        }
    }
    crate::process::check_interrupted()?;
    if !failures.is_empty() {
        return Err(refuse(
            format!("{} sidecar(s) failed: {}", failures.len(), failures.join("; ")),
            "read the prefixed PyInstaller output above; `cargo xtask sidecar --package NAME --no-cache` rebuilds one",
        ));
    }
    let records: Vec<ArtifactRecord> = published.iter().flat_map(|item| item.records.clone()).collect();
    manifest::update(&workspace.dist_dir(), &records)?;
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
}

struct BuiltBinary {
    path: PathBuf,
    seconds: f64,
    cached: bool,
}

fn toolchain(workspace: &Workspace, uv: &Path) -> anyhow::Result<Toolchain> {
    let script = "import platform, PyInstaller; print(platform.python_version(), PyInstaller.__version__)";
    let output = tools::uv_run(workspace, uv, &["python", "-c", script])
        .stderr(Stdio::inherit())
        .output()
        .context("asking the locked environment for its Python and PyInstaller versions")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut words = text.split_whitespace();
    match (output.status.success(), words.next(), words.next()) {
        (true, Some(python), Some(pyinstaller)) => {
            Ok(Toolchain { python: python.to_string(), pyinstaller: pyinstaller.to_string() })
        }
        _ => Err(refuse(
            "PyInstaller is not importable in the locked environment",
            "check that pyinstaller is in the dev group of the root pyproject.toml, then `uv lock` and `uv sync --locked`",
        )),
    }
}

/// The sidecar binary: from the cache when its key is there, else from PyInstaller.
fn obtain_binary(
    workspace: &Workspace,
    uv: &Path,
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
        return Ok(BuiltBinary { path: cached, seconds: 0.0, cached: true });
    }
    let started = Instant::now();
    let built = run_pyinstaller(workspace, uv, target, job, provenance)?;
    executable_format::check_file(&built, target)?;
    build_cache::store(workspace, &job.key, &plain_name, &built)?;
    Ok(BuiltBinary { path: built, seconds: started.elapsed().as_secs_f64(), cached: false })
}

fn run_pyinstaller(
    workspace: &Workspace,
    uv: &Path,
    target: &Target,
    job: &Job<'_>,
    provenance: &Provenance,
) -> anyhow::Result<PathBuf> {
    let binary = &job.sidecar.binary;
    let build_dir = workspace.target_dir().join("sidecar").join(target.triple).join(binary);
    let out_dir = build_dir.join("out");
    if out_dir.exists() {
        std::fs::remove_dir_all(&out_dir).with_context(|| format!("clearing {}", out_dir.display()))?;
    }
    let spec = job.package.dir.join(&job.sidecar.spec);
    if !spec.is_file() {
        return Err(refuse(
            format!("{} declares spec {} but there is no such file", job.package.distribution, spec.display()),
            "fix `spec` under [tool.xtask.sidecar] in the package's pyproject.toml",
        ));
    }
    let (spec_text, out_text, work_text) =
        (spec.to_string_lossy(), out_dir.to_string_lossy(), build_dir.join("work").to_string_lossy().into_owned());
    let mut command = tools::uv_run(
        workspace,
        uv,
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
    );
    command
        .env("PYTHONHASHSEED", "0")
        .env("SOURCE_DATE_EPOCH", provenance.source_date_epoch.to_string())
        // A config (and binary cache) folder per sidecar: concurrent builds never share one.
        .env("PYINSTALLER_CONFIG_DIR", build_dir.join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("[{binary}] building with PyInstaller for {}", target.triple);
    let mut child = Supervised::spawn(&mut command, &format!("PyInstaller for {binary}"))?;
    let tail = Arc::new(Mutex::new(Vec::<String>::new()));
    let readers: Vec<_> = child
        .take_output_pipes()
        .into_iter()
        .map(|pipe| {
            let (binary, tail) = (binary.clone(), Arc::clone(&tail));
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("[{binary}] {line}");
                    let mut kept = tail.lock().expect("tail lock");
                    kept.push(line);
                    if kept.len() > FAILURE_TAIL_LINES {
                        kept.remove(0);
                    }
                }
            })
        })
        .collect();
    let status = child.wait()?;
    for reader in readers {
        let _ = reader.join();
    }
    let built = out_dir.join(naming::plain_file_name(binary, target));
    if !status.success() || !built.is_file() {
        return Err(refuse(
            format!("PyInstaller failed for {binary} ({status})"),
            format!("its output is above, each line prefixed with [{binary}]"),
        ));
    }
    Ok(built)
}

/// Copy the binary into `dist/` as `<binary>-<triple>`, write its `.sha256`, its archive and the
/// archive's `.sha256`. Each file appears complete or not at all.
fn publish(
    workspace: &Workspace,
    target: &Target,
    job: &Job<'_>,
    built: &BuiltBinary,
    provenance: &Provenance,
    toolchain: &Toolchain,
) -> anyhow::Result<Published> {
    let dist = workspace.dist_dir();
    let binary = &job.sidecar.binary;
    // Fresh builds were checked before caching; this also covers binaries taken from the cache.
    executable_format::check_file(&built.path, target)?;
    let contents = std::fs::read(&built.path).with_context(|| format!("reading {}", built.path.display()))?;

    let binary_name = naming::sidecar_file_name(binary, target);
    let binary_path = dist.join(&binary_name);
    files::write_atomically_with_mode(&binary_path, &contents, Some(0o755))?;
    let binary_hash = hashing::sha256_hex_of_bytes(&contents);
    write_checksum_file(&dist, &binary_name, &binary_hash)?;

    let plain_name = naming::plain_file_name(binary, target);
    let mut entries = [archive::Entry { name: &plain_name, contents: &contents, mode: 0o755 }];
    let archive_bytes = match target.archive_extension() {
        "zip" => archive::zip(&mut entries, provenance.source_date_epoch)?,
        _ => archive::tar_gz(&mut entries, provenance.source_date_epoch)?,
    };
    let archive_name = naming::archive_file_name(binary, &job.package.version, target);
    files::write_atomically(&dist.join(&archive_name), &archive_bytes)?;
    let archive_hash = hashing::sha256_hex_of_bytes(&archive_bytes);
    write_checksum_file(&dist, &archive_name, &archive_hash)?;

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
    };
    Ok(Published {
        records: vec![
            record(&binary_name, "binary", contents.len(), &binary_hash),
            record(&archive_name, "archive", archive_bytes.len(), &archive_hash),
        ],
    })
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
