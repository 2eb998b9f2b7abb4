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
    crate::process::check_interrupted()?;
    write(&runners, &merged, &into)?;
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
    let files = checksums::gather(dir).with_context(|| format!("checking the files of {}", dir.display()))?;
    Ok(RunnerFolder { label, dir: dir.to_path_buf(), records, files })
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

/// Copy each artifact and its `.sha256` into `into`, then the merged manifest.
fn write(runners: &[RunnerFolder], records: &[Value], into: &Path) -> anyhow::Result<()> {
    for record in records {
        let file = record["file"].as_str().unwrap_or_default();
        let Some(runner) = runners.iter().find(|runner| runner.files.contains_key(file)) else { continue };
        crate::process::check_interrupted()?;
        let source = runner.dir.join(file);
        let contents = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
        // Artifact uploads drop the executable bit; binaries get it back.
        let mode = if record["kind"].as_str() == Some("binary") { 0o755 } else { 0o644 };
        files::write_atomically_with_mode(&into.join(file), &contents, Some(mode))?;
        let checksum_name = naming::checksum_file_name(file);
        let line = crate::hashing::checksum_line(&runner.files[file], file);
        files::write_atomically(&into.join(checksum_name), line.as_bytes())?;
    }
    let existing = match std::fs::read_to_string(into.join(manifest::FILE_NAME)) {
        Ok(text) => serde_json::from_str::<Value>(&text).ok(),
        Err(_) => None,
    };
    let mut kept: Vec<Value> = existing
        .as_ref()
        .and_then(|document| document["artifacts"].as_array())
        .map(|old| {
            old.iter()
                .filter(|old| !records.iter().any(|new| new["file"] == old["file"]))
                .filter(|old| old["file"].as_str().is_some_and(|file| into.join(file).is_file()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    kept.extend(records.iter().cloned());
    kept.sort_by(|a, b| a["file"].as_str().unwrap_or_default().cmp(b["file"].as_str().unwrap_or_default()));
    let mut text = serde_json::to_string_pretty(&json!({ "artifacts": kept }))?;
    text.push('\n');
    files::write_atomically(&into.join(manifest::FILE_NAME), text.as_bytes())
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
        let message = crate::failure::lines(&merge(&[tampered]).unwrap_err()).0;
        assert!(message.contains("its manifest record says"), "{message}");

        let first = runner("one", &[("same", "x86_64-unknown-linux-gnu", hex('a'))]);
        let second = runner("two", &[("same", "x86_64-unknown-linux-gnu", hex('b'))]);
        let message = crate::failure::lines(&merge(&[first.clone(), second]).unwrap_err()).0;
        assert!(message.contains("from one") && message.contains("from two"), "{message}");
        // The same bytes from two folders (a re-downloaded artifact) are one artifact.
        assert_eq!(merge(&[first.clone(), first]).unwrap().len(), 1);
    }

    #[test]
    fn uploads_and_manifests_must_list_the_same_files() {
        let mut extra = runner("one", &[("x", "x86_64-unknown-linux-gnu", hex('a'))]);
        extra.files.insert("stray".into(), hex('d'));
        assert!(crate::failure::lines(&merge(&[extra]).unwrap_err()).0.contains("stray was uploaded"));
        let mut missing = runner("one", &[("x", "x86_64-unknown-linux-gnu", hex('a'))]);
        missing.files.clear();
        assert!(crate::failure::lines(&merge(&[missing]).unwrap_err()).0.contains("was not uploaded"));
    }

    #[test]
    fn runners_must_have_built_one_commit_and_one_version_per_package() {
        let mut other = runner("two", &[("y", "aarch64-apple-darwin", hex('b'))]);
        other.records[0]["git_commit"] = json!("fedcba9876543210fedcba9876543210fedcba98");
        other.records[0]["version"] = json!("0.2.6");
        let message = crate::failure::lines(
            &merge(&[runner("one", &[("x", "x86_64-unknown-linux-gnu", hex('a'))]), other]).unwrap_err(),
        )
        .0;
        assert!(message.contains("built from 2 commits"), "{message}");
        assert!(message.contains("proxy has versions 0.2.5 and 0.2.6"), "{message}");
    }

    #[test]
    fn every_supported_triple_satisfies_the_release_check() {
        let records: Vec<Value> = targets::SUPPORTED
            .iter()
            .map(|target| record(&format!("b-{}", target.triple), target.triple, &hex('a'), COMMIT))
            .collect();
        require_all_targets(&records).unwrap();
        let message = crate::failure::lines(&require_all_targets(&records[1..]).unwrap_err()).0;
        assert!(message.contains(targets::SUPPORTED[0].triple), "{message}");
    }
}
