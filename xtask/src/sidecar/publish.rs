//! Publishing one built sidecar into `dist/`: the binary, its deterministic archive and SBOM, a
//! `.sha256` of each and their manifest records, written in an order that keeps every record and
//! checksum true of its file; and taking an earlier build's files away when a sidecar fails.

use std::path::Path;

use anyhow::Context;

use super::{BuiltBinary, Job, PublishContext, Published};
use crate::failure::refuse;
use crate::manifest::{self, ArtifactRecord};
use crate::targets::Target;
use crate::workspace::{Sidecar, Workspace};
use crate::{archive, executable_format, files, hashing, naming, sbom};

/// Bytes written and removed again in `dist/` before a build: a folder that cannot take them (read
/// only, full, over a file size limit) cannot take a sidecar either, and it is said before the
/// long part instead of after it.
const OUTPUT_PROBE_BYTES: usize = 256 * 1024;

pub(super) fn check_output_folder(dist: &Path) -> anyhow::Result<()> {
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

/// Copy the binary into `dist/` as `<binary>-<triple>`, write its `.sha256`, its archive, its SBOM
/// (`<binary>-<triple>.cdx.json`) and their `.sha256`, and remove the archives of other versions
/// of this binary and triple (an earlier build's). What the binary bundles must be what `uv.lock`
/// pins, or nothing is written. Each file appears complete or not at all, and in this order, so
/// that at every moment each manifest record and each `.sha256` matches its file: the manifest
/// forgets the files about to change, their stale `.sha256` files go, the files are written, the
/// manifest records them.
pub(super) fn publish(
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
pub(super) fn withdraw(dist: &Path, target: &Target, job: &Job<'_>, declared_binaries: &[&str]) -> anyhow::Result<()> {
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::failure::Lines;
    use crate::targets;
    use crate::workspace::Package;

    fn declared_sidecar(binary: &str) -> Sidecar {
        Sidecar {
            binary: binary.into(),
            spec: format!("{binary}.spec"),
            import_package: binary.into(),
            service: binary.into(),
            smoke: crate::workspace::SmokeLaunch {
                args: vec![],
                health_port: String::new(),
                api_port: String::new(),
                password_env: None,
            },
            budget: Default::default(),
        }
    }

    #[test]
    fn a_binary_over_its_declared_size_is_refused_with_the_file_to_change() {
        let mut sidecar = declared_sidecar("tool");
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

    #[test]
    fn a_failed_sidecar_takes_its_earlier_files_and_records_away_and_leaves_everything_else() {
        let folder = tempfile::tempdir().unwrap();
        let dist = folder.path();
        let linux = targets::parse("x86_64-unknown-linux-gnu").unwrap();
        let sidecar = declared_sidecar("tool");
        let package = Package {
            name: "tool".into(),
            distribution: "tool".into(),
            version: "1.0.0".into(),
            dir: dist.join("tool"),
            dependencies: vec![],
            sidecar: Some(sidecar.clone()),
        };
        let job = Job {
            package: &package,
            sidecar: &sidecar,
            key: String::new(),
            sources_digest: String::new(),
            build_info_path: std::path::PathBuf::new(),
            build_info_text: String::new(),
        };
        let earlier = [
            "tool-x86_64-unknown-linux-gnu",
            "tool-x86_64-unknown-linux-gnu.cdx.json",
            "tool-0.9.0-x86_64-unknown-linux-gnu.tar.gz",
            "tool-1.0.0-x86_64-unknown-linux-gnu.tar.gz",
        ];
        // Another declared binary whose name starts with this one's, another triple, a stranger.
        let kept = [
            "tool-agent-x86_64-unknown-linux-gnu",
            "tool-agent-1.0.0-x86_64-unknown-linux-gnu.tar.gz",
            "tool-aarch64-apple-darwin",
            "tool-1.0.0-aarch64-apple-darwin.tar.gz",
            "notes.txt",
        ];
        for name in earlier.iter().chain(&kept) {
            std::fs::write(dist.join(name), format!("bytes of {name}")).unwrap();
            write_checksum_file(dist, name, &hashing::sha256_hex_of_bytes(format!("bytes of {name}").as_bytes()))
                .unwrap();
        }
        let record = |name: &str| {
            let bytes = format!("bytes of {name}");
            serde_json::json!({"file": name, "size": bytes.len(), "sha256": hashing::sha256_hex_of_bytes(bytes.as_bytes())})
        };
        let manifest = serde_json::json!({"artifacts": [record(earlier[0]), record(earlier[2]), record(kept[0])]});
        std::fs::write(dist.join(manifest::FILE_NAME), manifest.to_string()).unwrap();

        withdraw(dist, linux, &job, &["tool", "tool-agent"]).unwrap();
        let mut left = file_names(dist).unwrap();
        left.sort();
        let mut expected: Vec<String> =
            kept.iter().flat_map(|name| [name.to_string(), naming::checksum_file_name(name)]).collect();
        expected.push(manifest::FILE_NAME.to_string());
        expected.sort();
        assert_eq!(left, expected);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dist.join(manifest::FILE_NAME)).unwrap()).unwrap();
        let recorded: Vec<&str> =
            manifest["artifacts"].as_array().unwrap().iter().map(|record| record["file"].as_str().unwrap()).collect();
        assert_eq!(recorded, [kept[0]], "the records of the files taken away go with them");
        // Nothing of it left: a second withdrawal changes nothing.
        withdraw(dist, linux, &job, &["tool", "tool-agent"]).unwrap();
        assert_eq!(file_names(dist).unwrap().len(), expected.len());
    }
}
