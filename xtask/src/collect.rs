//! `cargo xtask collect`: the release job's merge of what the build runners uploaded. Each
//! runner's folder (its `dist/`: binaries, archives, `.sha256` files, `manifest.json`) is data, not
//! something to rebuild: every file is checked against its `.sha256` and its manifest record, all
//! runners must have built one commit, and the files land in one folder with one manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use crate::failure::{WithHint, refuse};
use crate::flags::CollectFlags;
use crate::workspace::Workspace;
use crate::{checksums, files, gha, manifest, naming, targets};

/// One runner's folder, read and checked on its own.
#[derive(Debug, Clone)]
pub struct RunnerFolder {
    pub label: String,
    pub dir: PathBuf,
    /// The manifest's records, as the runner wrote them.
    pub records: Vec<Value>,
    /// Every artifact in the folder with its SHA-256 (checked against its `.sha256`).
    pub files: BTreeMap<String, String>,
    /// Regular files in the folder that no `.sha256` lists: an upload nobody accounted for.
    pub unlisted: Vec<String>,
}

pub fn run(flags: &CollectFlags) -> anyhow::Result<()> {
    let into = match &flags.into {
        Some(dir) => dir.clone(),
        None => Workspace::discover()?.dist_dir(),
    };
    let mut runner_dirs = Vec::new();
    for folder in &flags.folders {
        runner_dirs.extend(runner_folders(folder)?);
    }
    let runners: Vec<RunnerFolder> = runner_dirs.iter().map(|dir| read_runner(dir)).collect::<anyhow::Result<_>>()?;
    let merged = merge(&runners)?;
    if flags.require_all_targets {
        require_all_targets(&merged)?;
    }
    let kept = records_kept(&into, &merged);
    let everything: Vec<Value> = kept.iter().chain(&merged).cloned().collect();
    let disagreements = agreement_problems(&everything);
    if !disagreements.is_empty() {
        return Err(refuse(
            format!("{} already holds artifacts of another build: {}", into.display(), disagreements.join("; ")),
            format!("collect into an empty folder (--into DIR), or remove the old artifacts from {}", into.display()),
        ));
    }
    crate::process::check_interrupted()?;
    write(&runners, &merged, kept, &into)?;
    let table = render_table(&merged);
    println!(
        "collected {} artifacts from {} runner folder(s) into {}\n\n{table}",
        merged.len(),
        runners.len(),
        into.display()
    );
    gha::step_summary(&format!("### Collected artifacts\n\n{table}"))?;
    let triples: BTreeSet<&str> = merged.iter().filter_map(|record| record["triple"].as_str()).collect();
    gha::step_output("triples", &triples.into_iter().collect::<Vec<_>>().join(" "))?;
    Ok(())
}

/// `folder` itself when it holds a manifest, else each of its sub-folders that does.
fn runner_folders(folder: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if folder.join(manifest::FILE_NAME).is_file() {
        return Ok(vec![folder.to_path_buf()]);
    }
    let entries = std::fs::read_dir(folder)
        .with_context(|| format!("listing {}", folder.display()))
        .hint("pass the folder that actions/download-artifact filled, or one runner's dist/")?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir() && path.join(manifest::FILE_NAME).is_file())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(refuse(
            format!("{} holds no {} and no sub-folder with one", folder.display(), manifest::FILE_NAME),
            "each runner uploads its whole dist/ (files, .sha256 files and manifest.json); check the upload step",
        ));
    }
    Ok(found)
}

fn read_runner(dir: &Path) -> anyhow::Result<RunnerFolder> {
    let label = dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let manifest_path = dir.join(manifest::FILE_NAME);
    let text =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let document: Value = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", manifest_path.display()))
        .hint("the runner's upload is damaged: re-run its build job")?;
    let records = document["artifacts"].as_array().cloned().ok_or_else(|| {
        refuse(format!("{} has no `artifacts` list", manifest_path.display()), "re-run that runner's build job")
    })?;
    let listed = checksums::gather(dir).with_context(|| format!("checking the files of {}", dir.display()))?;
    // A `.sha256` whose file was not uploaded lists a name that is not there: only files count.
    let files: BTreeMap<String, String> = listed.into_iter().filter(|(name, _)| dir.join(name).is_file()).collect();
    let mut unlisted: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".sha256") && name != manifest::FILE_NAME && !name.starts_with('.'))
        .filter(|name| !files.contains_key(name))
        .collect();
    unlisted.sort();
    Ok(RunnerFolder { label, dir: dir.to_path_buf(), records, files, unlisted })
}

/// Check each runner against its own manifest, then the runners against each other; the merged
/// records sorted by file name.
pub fn merge(runners: &[RunnerFolder]) -> anyhow::Result<Vec<Value>> {
    let mut problems = Vec::new();
    let mut merged: BTreeMap<String, (Value, String)> = BTreeMap::new();
    for runner in runners {
        let mut recorded = BTreeSet::new();
        for record in &runner.records {
            let (Some(file), Some(sha256)) = (record["file"].as_str(), record["sha256"].as_str()) else {
                problems.push(format!("{}: a manifest record without `file` and `sha256`", runner.label));
                continue;
            };
            recorded.insert(file.to_string());
            if let Err(problem) = checksums::check_file_name(file) {
                problems.push(format!("{}: {problem}", runner.label));
                continue;
            }
            if record["triple"].as_str().is_none_or(|triple| targets::parse(triple).is_err()) {
                problems.push(format!("{}: {file} has no supported `triple`", runner.label));
            }
            match runner.files.get(file) {
                None => problems.push(format!("{}: {file} is in the manifest but was not uploaded", runner.label)),
                Some(actual) if actual != sha256 => {
                    problems.push(format!("{}: {file} is {actual}, its manifest record says {sha256}", runner.label))
                }
                Some(_) => {}
            }
            match merged.get(file) {
                Some((known, from)) if known["sha256"] != record["sha256"] => problems.push(format!(
                    "{file}: {} from {from}, {sha256} from {}",
                    known["sha256"].as_str().unwrap_or("?"),
                    runner.label
                )),
                Some(_) => {}
                None => {
                    merged.insert(file.to_string(), (record.clone(), runner.label.clone()));
                }
            }
        }
        for file in runner.files.keys().filter(|file| !recorded.contains(*file)) {
            problems.push(format!("{}: {file} was uploaded but its manifest has no record of it", runner.label));
        }
        for file in &runner.unlisted {
            problems.push(format!("{}: {file} was uploaded without a .sha256 or a manifest record", runner.label));
        }
    }
    let records: Vec<Value> = merged.into_values().map(|(record, _)| record).collect();
    problems.extend(agreement_problems(&records));
    if !problems.is_empty() {
        return Err(refuse(
            format!("the runners' artifacts do not merge: {}", problems.join("; ")),
            "re-run the build jobs of the named runners from the same commit; never edit a manifest by hand",
        ));
    }
    Ok(records)
}

/// All records come from one commit, and each package has one version.
fn agreement_problems(records: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let commits: BTreeSet<&str> = records.iter().filter_map(|record| record["git_commit"].as_str()).collect();
    if commits.len() > 1 {
        problems.push(format!(
            "built from {} commits ({}); a release is built from one",
            commits.len(),
            commits.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for record in records {
        if let (Some(package), Some(version)) = (record["package"].as_str(), record["version"].as_str()) {
            versions.entry(package).or_default().insert(version);
        }
    }
    for (package, seen) in versions.into_iter().filter(|(_, seen)| seen.len() > 1) {
        problems.push(format!("{package} has versions {}", seen.into_iter().collect::<Vec<_>>().join(" and ")));
    }
    problems
}

fn require_all_targets(records: &[Value]) -> anyhow::Result<()> {
    let present: BTreeSet<&str> = records.iter().filter_map(|record| record["triple"].as_str()).collect();
    let missing: Vec<&str> =
        targets::SUPPORTED.iter().map(|target| target.triple).filter(|triple| !present.contains(triple)).collect();
    if !missing.is_empty() {
        return Err(refuse(
            format!("no artifacts for {}", missing.join(", ")),
            "every build job must succeed before a release: re-run the failed ones",
        ));
    }
    Ok(())
}

/// The records of `into`'s manifest that stay: files the merge does not replace and that exist.
fn records_kept(into: &Path, merged: &[Value]) -> Vec<Value> {
    let existing = std::fs::read_to_string(into.join(manifest::FILE_NAME))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    existing
        .as_ref()
        .and_then(|document| document["artifacts"].as_array())
        .map(|old| {
            old.iter()
                .filter(|old| !merged.iter().any(|new| new["file"] == old["file"]))
                .filter(|old| old["file"].as_str().is_some_and(|file| into.join(file).is_file()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Stage every artifact, its `.sha256` and the merged manifest next to their places in `into`,
/// then rename them all: an error or an interrupt before that leaves `into` as it was.
fn write(runners: &[RunnerFolder], records: &[Value], kept: Vec<Value>, into: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(into)
        .with_context(|| format!("creating {}", into.display()))
        .hint("pass a folder (or a path where one can be made) to --into")?;
    let mut staged = Vec::new();
    for record in records {
        let file = record["file"].as_str().unwrap_or_default();
        let Some(runner) = runners.iter().find(|runner| runner.files.contains_key(file)) else { continue };
        crate::process::check_interrupted()?;
        let source = runner.dir.join(file);
        let contents = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
        // Artifact uploads drop the executable bit; binaries get it back.
        let mode = if record["kind"].as_str() == Some("binary") { 0o755 } else { 0o644 };
        staged.push(files::stage_with_mode(&into.join(file), &contents, mode)?);
        let line = crate::hashing::checksum_line(&runner.files[file], file);
        staged.push(files::stage_with_mode(&into.join(naming::checksum_file_name(file)), line.as_bytes(), 0o644)?);
    }
    let mut all = kept;
    all.extend(records.iter().cloned());
    all.sort_by(|a, b| a["file"].as_str().unwrap_or_default().cmp(b["file"].as_str().unwrap_or_default()));
    let mut text = serde_json::to_string_pretty(&json!({ "artifacts": all }))?;
    text.push('\n');
    staged.push(files::stage_with_mode(&into.join(manifest::FILE_NAME), text.as_bytes(), 0o644)?);
    crate::process::check_interrupted()?;
    files::rename_all_into_place(staged)
}

fn render_table(records: &[Value]) -> String {
    let mut table = String::from("| triple | file | sha256 |\n|---|---|---|\n");
    for record in records {
        table.push_str(&format!(
            "| {} | `{}` | `{}` |\n",
            record["triple"].as_str().unwrap_or("?"),
            record["file"].as_str().unwrap_or("?"),
            record["sha256"].as_str().unwrap_or("?"),
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn hex(seed: char) -> String {
        std::iter::repeat_n(seed, 64).collect()
    }

    fn record(file: &str, triple: &str, sha: &str, commit: &str) -> Value {
        json!({"file": file, "kind": "binary", "triple": triple, "package": "proxy", "version": "0.2.5",
               "sha256": sha, "git_commit": commit})
    }

    fn runner(label: &str, entries: &[(&str, &str, String)]) -> RunnerFolder {
        RunnerFolder {
            label: label.into(),
            dir: PathBuf::from(label),
            records: entries.iter().map(|(file, triple, sha)| record(file, triple, sha, COMMIT)).collect(),
            files: entries.iter().map(|(file, _, sha)| (file.to_string(), sha.clone())).collect(),
            unlisted: Vec::new(),
        }
    }

    #[test]
    fn two_runners_merge_into_one_sorted_manifest() {
        let linux = runner(
            "sidecars-x86_64-unknown-linux-gnu",
            &[("b-x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu", hex('b'))],
        );
        let mac =
            runner("sidecars-aarch64-apple-darwin", &[("a-aarch64-apple-darwin", "aarch64-apple-darwin", hex('a'))]);
        let merged = merge(&[linux, mac]).unwrap();
        let files: Vec<_> = merged.iter().map(|record| record["file"].as_str().unwrap()).collect();
        assert_eq!(files, ["a-aarch64-apple-darwin", "b-x86_64-unknown-linux-gnu"]);
        assert!(require_all_targets(&merged).is_err());
    }

    #[test]
    fn a_file_that_disagrees_with_its_record_or_another_runner_is_refused() {
        let mut tampered = runner("one", &[("x-x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu", hex('a'))]);
        tampered.files.insert("x-x86_64-unknown-linux-gnu".into(), hex('c'));
        let message = crate::failure::lines(&merge(&[tampered]).unwrap_err()).message;
        assert!(message.contains("its manifest record says"), "{message}");

        let first = runner("one", &[("same", "x86_64-unknown-linux-gnu", hex('a'))]);
        let second = runner("two", &[("same", "x86_64-unknown-linux-gnu", hex('b'))]);
        let message = crate::failure::lines(&merge(&[first.clone(), second]).unwrap_err()).message;
        assert!(message.contains("from one") && message.contains("from two"), "{message}");
        // The same bytes from two folders (a re-downloaded artifact) are one artifact.
        assert_eq!(merge(&[first.clone(), first]).unwrap().len(), 1);
    }

    #[test]
    fn uploads_and_manifests_must_list_the_same_files() {
        let mut extra = runner("one", &[("x", "x86_64-unknown-linux-gnu", hex('a'))]);
        extra.files.insert("stray".into(), hex('d'));
        assert!(crate::failure::lines(&merge(&[extra]).unwrap_err()).message.contains("stray was uploaded"));
        let mut stray = runner("one", &[("x", "x86_64-unknown-linux-gnu", hex('a'))]);
        stray.unlisted.push("surprise".into());
        assert!(crate::failure::lines(&merge(&[stray]).unwrap_err()).message.contains("surprise was uploaded without"));
        let mut missing = runner("one", &[("x", "x86_64-unknown-linux-gnu", hex('a'))]);
        missing.files.clear();
        assert!(crate::failure::lines(&merge(&[missing]).unwrap_err()).message.contains("was not uploaded"));
    }

    #[test]
    fn runners_must_have_built_one_commit_and_one_version_per_package() {
        let mut other = runner("two", &[("y", "aarch64-apple-darwin", hex('b'))]);
        other.records[0]["git_commit"] = json!("fedcba9876543210fedcba9876543210fedcba98");
        other.records[0]["version"] = json!("0.2.6");
        let message = crate::failure::lines(
            &merge(&[runner("one", &[("x", "x86_64-unknown-linux-gnu", hex('a'))]), other]).unwrap_err(),
        )
        .message;
        assert!(message.contains("built from 2 commits"), "{message}");
        assert!(message.contains("proxy has versions 0.2.5 and 0.2.6"), "{message}");
    }

    #[test]
    fn a_listed_file_that_was_not_uploaded_is_refused_and_nothing_is_written() {
        let folder = tempfile::tempdir().unwrap();
        let runner_dir = folder.path().join("downloads/sidecars-x");
        std::fs::create_dir_all(&runner_dir).unwrap();
        let (present, missing) = ("lumen-argus-x86_64-unknown-linux-gnu", "lumen-argus-agent-x86_64-unknown-linux-gnu");
        std::fs::write(runner_dir.join(present), b"binary").unwrap();
        let mut manifest = Vec::new();
        for (name, contents) in [(present, &b"binary"[..]), (missing, &b"agent"[..])] {
            let hex = crate::hashing::sha256_hex_of_bytes(contents);
            std::fs::write(runner_dir.join(format!("{name}.sha256")), crate::hashing::checksum_line(&hex, name))
                .unwrap();
            manifest.push(record(name, "x86_64-unknown-linux-gnu", &hex, COMMIT));
        }
        std::fs::write(runner_dir.join("manifest.json"), json!({ "artifacts": manifest }).to_string()).unwrap();
        let runner = read_runner(&runner_dir).unwrap();
        let message = crate::failure::lines(&merge(&[runner]).unwrap_err()).message;
        assert!(message.contains(&format!("{missing} is in the manifest but was not uploaded")), "{message}");
    }

    #[test]
    fn old_artifacts_in_the_destination_must_agree_with_the_new_ones() {
        let folder = tempfile::tempdir().unwrap();
        let into = folder.path();
        std::fs::write(into.join("old"), b"old").unwrap();
        let mut old = record("old", "aarch64-apple-darwin", &hex('a'), "2222222222222222222222222222222222222222");
        old["version"] = json!("0.1.0");
        std::fs::write(into.join("manifest.json"), json!({ "artifacts": [old] }).to_string()).unwrap();
        let new = vec![record("new", "x86_64-unknown-linux-gnu", &hex('b'), COMMIT)];
        let kept = records_kept(into, &new);
        assert_eq!(kept.len(), 1);
        let all: Vec<Value> = kept.into_iter().chain(new).collect();
        let problems = agreement_problems(&all).join("; ");
        assert!(problems.contains("2 commits") && problems.contains("0.1.0 and 0.2.5"), "{problems}");
    }

    #[test]
    fn every_supported_triple_satisfies_the_release_check() {
        let records: Vec<Value> = targets::SUPPORTED
            .iter()
            .map(|target| record(&format!("b-{}", target.triple), target.triple, &hex('a'), COMMIT))
            .collect();
        require_all_targets(&records).unwrap();
        let message = crate::failure::lines(&require_all_targets(&records[1..]).unwrap_err()).message;
        assert!(message.contains(targets::SUPPORTED[0].triple), "{message}");
    }
}
