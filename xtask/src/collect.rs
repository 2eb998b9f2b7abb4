//! `cargo xtask collect`: the release job's merge of what the build runners uploaded. Each
//! runner's folder (its `dist/`: binaries, archives, `.sha256` files, `manifest.json`) is data, not
//! something to rebuild, and may be wrong: every file is checked against its `.sha256` and its
//! manifest record, a record must name the target its file name names and the commit it was built
//! from, one file's bytes belong to one target, all runners must have built one commit, and with
//! `--require-all-targets` every declared sidecar has its binary, archive and SBOM for every target.
//! The files land in one folder with one manifest; every error stays a few lines long.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

use crate::failure::{WithHint, refuse};
use crate::flags::CollectFlags;
use crate::github_api::{self, releases};
use crate::naming::shown;
use crate::release_folder::MANIFEST_SIZE_LIMIT;
use crate::sidecars_json::{self, PublishedSidecar};
use crate::workspace::Workspace;
use crate::{checksums, files, gha, manifest, naming, size_report, targets};

/// Problems listed in one error at most; the rest are counted.
const PROBLEMS_SHOWN: usize = 20;

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
    /// The size in bytes of each of `files`.
    pub sizes: BTreeMap<String, u64>,
}

pub fn run(flags: &CollectFlags) -> anyhow::Result<()> {
    // The repository of --previous-release comes from the command line: checked before any work.
    let previous_repo = flags.previous_release.then(|| github_api::repository(flags.repo.as_deref())).transpose()?;
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
    // Outside a repository there is nothing declared to check; inside one, a declaration that does
    // not read (a misspelt budget) is an error, never a reason to check nothing.
    let current = std::env::current_dir().context("reading the current directory")?;
    let workspace = match crate::workspace::find_root(&current) {
        Ok(root) => Some(Workspace::load(&root)?),
        Err(_) => None,
    };
    if flags.require_all_targets {
        let workspace = workspace.as_ref().ok_or_else(|| {
            refuse(
                "--require-all-targets needs the repository: it checks every declared sidecar",
                "run collect in the checkout of the commit the runners built",
            )
        })?;
        let expected: Vec<(String, String)> = workspace
            .sidecars()
            .map(|sidecar| (sidecar.sidecar.binary.clone(), sidecar.package.version.clone()))
            .collect();
        require_all_targets(&merged, &expected)?;
    }
    let (previous, previous_name) = previous_sidecars(flags, previous_repo.as_deref())?;
    let rows = size_report::rows(&merged, &previous);
    let size_table = size_report::render_table(&rows, previous_name.as_deref());
    let budgets: BTreeMap<String, size_report::SizeBudget> = match &workspace {
        Some(workspace) => {
            workspace.sidecars().map(|entry| (entry.sidecar.binary.clone(), entry.sidecar.budget)).collect()
        }
        None => {
            println!("outside the repository: no sidecar declares a size budget here, none is checked");
            BTreeMap::new()
        }
    };
    let over_budget = size_report::budget_problems(&rows, &budgets);
    if !over_budget.is_empty() {
        println!("{size_table}");
        gha::step_summary(&format!("### Sidecar sizes (over budget)\n\n{size_table}"))?;
        return Err(refuse(
            format!(
                "{} sidecar(s) over their size budget, nothing was written: {}",
                over_budget.len(),
                listed(&over_budget)
            ),
            "find what grew (the SBOMs list what each binary bundles), or raise [tool.xtask.sidecar.budget] in the \
             package's pyproject.toml on purpose, in its own commit",
        ));
    }
    let kept = records_kept(&into, &merged);
    let everything: Vec<Value> = kept.iter().chain(&merged).cloned().collect();
    let disagreements = agreement_problems(&everything);
    if !disagreements.is_empty() {
        return Err(refuse(
            format!("{} already holds artifacts of another build: {}", into.display(), listed(&disagreements)),
            format!("collect into an empty folder (--into DIR), or remove the old artifacts from {}", into.display()),
        ));
    }
    crate::process::check_interrupted()?;
    write(&runners, &merged, kept, &into)?;
    let table = render_table(&merged);
    println!(
        "collected {} artifacts from {} runner folder(s) into {}\n\n{table}\n{size_table}",
        merged.len(),
        runners.len(),
        into.display()
    );
    gha::step_summary(&format!("### Sidecar sizes\n\n{size_table}\n### Collected artifacts\n\n{table}"))?;
    let triples: BTreeSet<&str> = merged.iter().filter_map(|record| record["triple"].as_str()).collect();
    gha::step_output("triples", &triples.into_iter().collect::<Vec<_>>().join(" "))?;
    Ok(())
}

/// The sidecars of the previous release to compare with (`--previous FILE`, or the latest release
/// of `previous_repo` for `--previous-release`), and what to call that release in the table; none
/// without either flag.
fn previous_sidecars(
    flags: &CollectFlags,
    previous_repo: Option<&str>,
) -> anyhow::Result<(Vec<PublishedSidecar>, Option<String>)> {
    if let Some(path) = &flags.previous {
        let hint = "pass the sidecars.json of a published release to --previous";
        let metadata = std::fs::metadata(path).with_context(|| format!("reading {}", path.display())).hint(hint)?;
        if !metadata.is_file() {
            return Err(refuse(format!("{} is not a regular file", path.display()), hint));
        }
        let size = metadata.len();
        if size > MANIFEST_SIZE_LIMIT {
            return Err(refuse(
                format!("{} is {size} bytes; a sidecars.json is a few KB, so this is not one", path.display()),
                "pass the sidecars.json of a published release to --previous",
            ));
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.file_name().map(|name| name.to_string_lossy().into_owned());
        return Ok((sidecars_json::parse(&text, &path.display().to_string())?, name));
    }
    let Some(repo) = previous_repo else {
        return Ok((Vec::new(), None));
    };
    let token = github_api::Token::from_environment();
    let connection = github_api::connect(repo, token.clone())?;
    let found = || -> anyhow::Result<Option<(Vec<PublishedSidecar>, String)>> {
        let Some(release) = releases::latest_release(&connection)? else {
            println!("{} has no published release yet: nothing to compare sizes with", connection.repo);
            return Ok(None);
        };
        let assets = releases::list_assets(&connection, release.id)?;
        let Some(asset) = assets.iter().find(|asset| asset.name == sidecars_json::FILE_NAME && asset.is_uploaded())
        else {
            println!("release {} has no {}: nothing to compare sizes with", release.tag, sidecars_json::FILE_NAME);
            return Ok(None);
        };
        if asset.size > MANIFEST_SIZE_LIMIT {
            return Err(refuse(
                format!("{} of release {} is {} bytes; that is not one", asset.name, release.tag, asset.size),
                "compare with a local copy instead: --previous FILE",
            ));
        }
        let scratch = tempfile::tempdir().context("creating a temporary folder")?;
        let path = scratch.path().join(sidecars_json::FILE_NAME);
        let sha256 = releases::download_asset(&connection, asset, &path)?;
        if asset.sha256.as_ref().is_some_and(|digest| *digest != sha256) {
            return Err(refuse(
                format!("{} of release {} does not match GitHub's digest of it", asset.name, release.tag),
                "download it again (run again); if it persists, compare with a local copy: --previous FILE",
            ));
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let source = format!("{} of release {}", sidecars_json::FILE_NAME, release.tag);
        Ok(Some((sidecars_json::parse(&text, &source)?, release.tag)))
    };
    let found = found().map_err(|error| github_api::scrub_error(error, token.as_ref()))?;
    Ok(found.map_or((Vec::new(), None), |(sidecars, tag)| (sidecars, Some(tag))))
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
    let size = std::fs::metadata(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?.len();
    if size > MANIFEST_SIZE_LIMIT {
        return Err(refuse(
            format!("{} is {size} bytes; a runner's manifest is a few KB, so this is not one", manifest_path.display()),
            "the runner's upload is damaged or not a build's dist/: re-run that runner's build job",
        ));
    }
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
        // What `checksums` writes (a runner's dist/ after a local dry run) is made again from the merge.
        .filter(|name| !checksums::WRITTEN_HERE.contains(&name.as_str()))
        .filter(|name| !files.contains_key(name))
        .collect();
    unlisted.sort();
    let mut sizes = BTreeMap::new();
    for name in files.keys() {
        let path = dir.join(name);
        sizes.insert(
            name.clone(),
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.len(),
        );
    }
    Ok(RunnerFolder { label, dir: dir.to_path_buf(), records, files, unlisted, sizes })
}

/// What a record must say of its file, beyond the file's hash: `Err` with the problem.
fn check_record(file: &str, record: &Value) -> Result<(), String> {
    let sha256 = record["sha256"].as_str().unwrap_or_default();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{file}: its record's sha256 {} is not 64 hex digits", shown(sha256)));
    }
    let triple = record["triple"].as_str().unwrap_or_default();
    if targets::parse(triple).is_err() {
        return Err(format!("{file}: its record names no supported triple ({})", shown(triple)));
    }
    match naming::target_of_file_name(file) {
        Some(target) if target.triple == triple => {}
        Some(target) => return Err(format!("{file}: its name is for {}, its record says {triple}", target.triple)),
        None => {
            return Err(format!(
                "{file}: its name names no target (`<binary>-<triple>`, its SBOM or an archive of it)"
            ));
        }
    }
    // The kind is the one its name says: a binary, an SBOM or an archive of a binary.
    let kind_by_name = if naming::parse_sidecar_file_name(file).is_some() {
        "binary"
    } else if naming::parse_sbom_file_name(file).is_some() {
        "sbom"
    } else {
        "archive"
    };
    if record["kind"].as_str() != Some(kind_by_name) {
        return Err(format!(
            "{file}: its record's kind is {}, its name is that of {kind_by_name}",
            shown(&record["kind"].to_string())
        ));
    }
    match record["git_commit"].as_str() {
        Some(commit) if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) => {}
        Some(other) => {
            return Err(format!("{file}: built from {} (not a commit id; built outside git?)", shown(other)));
        }
        None => return Err(format!("{file}: its record has no git_commit")),
    }
    for key in ["package", "version"] {
        if record[key].as_str().is_none_or(|value| value.is_empty() || value.len() > 128) {
            return Err(format!("{file}: its record has no {key}"));
        }
    }
    Ok(())
}

/// The fields two records of one file must agree on.
fn identity(record: &Value) -> [&Value; 5] {
    [&record["sha256"], &record["triple"], &record["kind"], &record["package"], &record["version"]]
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
            if file.len() > 255 {
                problems.push(format!("{}: {} is not a file name", runner.label, shown(file)));
                continue;
            }
            if let Err(problem) = crate::checksums_file::check_file_name(file) {
                problems.push(format!("{}: {problem}", runner.label));
                continue;
            }
            recorded.insert(file.to_string());
            if let Err(problem) = check_record(file, record) {
                problems.push(format!("{}: {problem}", runner.label));
                continue;
            }
            match runner.files.get(file) {
                None => problems.push(format!("{}: {file} is in the manifest but was not uploaded", runner.label)),
                Some(actual) if actual != sha256 => {
                    problems.push(format!("{}: {file} is {actual}, its manifest record says {sha256}", runner.label));
                }
                Some(_) if record["size"].as_u64() != runner.sizes.get(file).copied() => {
                    let recorded =
                        record["size"].as_u64().map_or("no size".to_string(), |size| format!("{size} bytes"));
                    let actual = runner.sizes.get(file).copied().unwrap_or_default();
                    problems.push(format!(
                        "{}: {file} is {actual} bytes, its manifest record says {recorded}",
                        runner.label
                    ));
                }
                Some(_) => {}
            }
            match merged.get(file) {
                Some((known, from)) if known["sha256"] != record["sha256"] => problems.push(format!(
                    "{file}: {} from {from}, {sha256} from {}",
                    known["sha256"].as_str().unwrap_or("?"),
                    runner.label
                )),
                Some((known, from)) if identity(known) != identity(record) => problems.push(format!(
                    "{file}: {from} and {} describe it differently (triple, kind, package or version)",
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
            problems.push(format!(
                "{}: {} was uploaded without a .sha256 or a manifest record",
                runner.label,
                shown(file)
            ));
        }
    }
    let records: Vec<Value> = merged.into_values().map(|(record, _)| record).collect();
    problems.extend(one_target_per_file_content(&records));
    problems.extend(agreement_problems(&records));
    if !problems.is_empty() {
        return Err(refuse(
            format!("the runners' artifacts do not merge: {}", listed(&problems)),
            "re-run the build jobs of the named runners from the same commit; never edit a manifest by hand",
        ));
    }
    Ok(records)
}

/// Problems joined, at most [`PROBLEMS_SHOWN`] of them, the rest counted.
fn listed(problems: &[String]) -> String {
    let mut text = problems.iter().take(PROBLEMS_SHOWN).cloned().collect::<Vec<_>>().join("; ");
    if problems.len() > PROBLEMS_SHOWN {
        text.push_str(&format!("; and {} more", problems.len() - PROBLEMS_SHOWN));
    }
    text
}

/// A build for one target cannot produce the bytes of another's: the same sha256 under two
/// triples is one file uploaded (or copied) under several labels.
fn one_target_per_file_content(records: &[Value]) -> Vec<String> {
    let mut by_content: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for record in records {
        if let (Some(sha256), Some(triple), Some(file)) =
            (record["sha256"].as_str(), record["triple"].as_str(), record["file"].as_str())
        {
            by_content.entry(sha256).or_default().insert(triple, file);
        }
    }
    by_content
        .into_iter()
        .filter(|(_, triples)| triples.len() > 1)
        .map(|(sha256, triples)| {
            let labels: Vec<String> = triples.iter().map(|(triple, file)| format!("{file} ({triple})")).collect();
            format!(
                "one file's bytes (sha256:{}…) are uploaded for several targets: {}",
                &sha256[..12],
                labels.join(", ")
            )
        })
        .collect()
}

/// All records come from one commit, and each package has one version.
fn agreement_problems(records: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let commits: BTreeSet<&str> = records.iter().filter_map(|record| record["git_commit"].as_str()).collect();
    if commits.len() > 1 {
        problems.push(format!(
            "built from {} commits ({}); a release is built from one",
            commits.len(),
            commits.into_iter().map(shown).collect::<Vec<_>>().join(", ")
        ));
    }
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for record in records {
        if let (Some(package), Some(version)) = (record["package"].as_str(), record["version"].as_str()) {
            versions.entry(package).or_default().insert(version);
        }
    }
    for (package, seen) in versions.into_iter().filter(|(_, seen)| seen.len() > 1) {
        problems
            .push(format!("{package} has versions {}", seen.into_iter().map(shown).collect::<Vec<_>>().join(" and ")));
    }
    problems
}

/// Every `(binary, version)` declared has its binary, its archive and its SBOM for every supported target.
fn require_all_targets(records: &[Value], sidecars: &[(String, String)]) -> anyhow::Result<()> {
    let present: BTreeSet<&str> = records.iter().filter_map(|record| record["file"].as_str()).collect();
    let mut missing = Vec::new();
    for target in &targets::SUPPORTED {
        for (binary, version) in sidecars {
            for file in [
                naming::sidecar_file_name(binary, target),
                naming::archive_file_name(binary, version, target),
                naming::sbom_file_name(binary, target),
            ] {
                if !present.contains(file.as_str()) {
                    missing.push(file);
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(refuse(
            format!("{} release file(s) missing: {}", missing.len(), listed(&missing)),
            "every build job must succeed for every sidecar before a release: re-run the failed ones",
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
    const LINUX: &str = "x86_64-unknown-linux-gnu";
    const MAC: &str = "aarch64-apple-darwin";

    fn hex(seed: char) -> String {
        std::iter::repeat_n(seed, 64).collect()
    }

    fn record(file: &str, triple: &str, sha: &str, commit: &str) -> Value {
        json!({"file": file, "kind": "binary", "triple": triple, "package": "proxy", "version": "0.2.5",
               "sha256": sha, "git_commit": commit, "size": 6})
    }

    fn runner(label: &str, entries: &[(&str, &str, String)]) -> RunnerFolder {
        RunnerFolder {
            label: label.into(),
            dir: PathBuf::from(label),
            records: entries.iter().map(|(file, triple, sha)| record(file, triple, sha, COMMIT)).collect(),
            files: entries.iter().map(|(file, _, sha)| (file.to_string(), sha.clone())).collect(),
            unlisted: Vec::new(),
            sizes: entries.iter().map(|(file, ..)| (file.to_string(), 6)).collect(),
        }
    }

    fn message(result: anyhow::Result<Vec<Value>>) -> String {
        crate::failure::lines(&result.unwrap_err()).message
    }

    #[test]
    fn two_runners_merge_into_one_sorted_manifest() {
        let linux = runner("sidecars-linux", &[("b-x86_64-unknown-linux-gnu", LINUX, hex('b'))]);
        let mac = runner("sidecars-mac", &[("a-aarch64-apple-darwin", MAC, hex('a'))]);
        let merged = merge(&[linux, mac]).unwrap();
        let files: Vec<_> = merged.iter().map(|record| record["file"].as_str().unwrap()).collect();
        assert_eq!(files, ["a-aarch64-apple-darwin", "b-x86_64-unknown-linux-gnu"]);
        assert!(require_all_targets(&merged, &[("a".into(), "0.2.5".into())]).is_err());
    }

    #[test]
    fn a_file_that_disagrees_with_its_record_or_another_runner_is_refused() {
        let name = "x-x86_64-unknown-linux-gnu";
        let mut tampered = runner("one", &[(name, LINUX, hex('a'))]);
        tampered.files.insert(name.into(), hex('c'));
        assert!(message(merge(&[tampered])).contains("its manifest record says"));

        let first = runner("one", &[(name, LINUX, hex('a'))]);
        let second = runner("two", &[(name, LINUX, hex('b'))]);
        let text = message(merge(&[first.clone(), second]));
        assert!(text.contains("from one") && text.contains("from two"), "{text}");
        // The same bytes from two folders (a re-downloaded artifact) are one artifact.
        assert_eq!(merge(&[first.clone(), first.clone()]).unwrap().len(), 1);
        // The same file described as another package by another runner is not.
        let mut relabelled = first.clone();
        relabelled.records[0]["package"] = json!("agent");
        assert!(message(merge(&[first, relabelled])).contains("describe it differently"));
    }

    #[test]
    fn a_record_must_name_the_target_its_file_name_names_and_its_commit() {
        let text = message(merge(&[runner("one", &[("x-x86_64-unknown-linux-gnu", MAC, hex('a'))])]));
        assert!(
            text.contains("its name is for x86_64-unknown-linux-gnu, its record says aarch64-apple-darwin"),
            "{text}"
        );
        let text = message(merge(&[runner("one", &[("x-plain", LINUX, hex('a'))])]));
        assert!(text.contains("its name names no target"), "{text}");
        let mut no_commit = runner("one", &[("x-x86_64-unknown-linux-gnu", LINUX, hex('a'))]);
        no_commit.records[0].as_object_mut().unwrap().remove("git_commit");
        assert!(message(merge(&[no_commit])).contains("has no git_commit"));
        let mut unknown = runner("one", &[("x-x86_64-unknown-linux-gnu", LINUX, hex('a'))]);
        unknown.records[0]["git_commit"] = json!("unknown");
        assert!(message(merge(&[unknown])).contains("not a commit id"));
    }

    #[test]
    fn one_binary_labelled_with_several_targets_is_refused() {
        let linux = runner("linux", &[("x-x86_64-unknown-linux-gnu", LINUX, hex('a'))]);
        let mac = runner("mac", &[("x-aarch64-apple-darwin", MAC, hex('a'))]);
        let text = message(merge(&[linux, mac]));
        assert!(text.contains("uploaded for several targets"), "{text}");
        assert!(text.contains("x-aarch64-apple-darwin (aarch64-apple-darwin)"), "{text}");
    }

    #[test]
    fn uploads_and_manifests_must_list_the_same_files() {
        let name = "x-x86_64-unknown-linux-gnu";
        let mut extra = runner("one", &[(name, LINUX, hex('a'))]);
        extra.files.insert("stray".into(), hex('d'));
        assert!(message(merge(&[extra])).contains("stray was uploaded"));
        let mut stray = runner("one", &[(name, LINUX, hex('a'))]);
        stray.unlisted.push("surprise".into());
        assert!(message(merge(&[stray])).contains("\"surprise\" was uploaded without"));
        let mut missing = runner("one", &[(name, LINUX, hex('a'))]);
        missing.files.clear();
        assert!(message(merge(&[missing])).contains("was not uploaded"));
    }

    #[test]
    fn runners_must_have_built_one_commit_and_one_version_per_package() {
        let mut other = runner("two", &[("y-aarch64-apple-darwin", MAC, hex('b'))]);
        other.records[0]["git_commit"] = json!("fedcba9876543210fedcba9876543210fedcba98");
        other.records[0]["version"] = json!("0.2.6");
        let text = message(merge(&[runner("one", &[("x-x86_64-unknown-linux-gnu", LINUX, hex('a'))]), other]));
        assert!(text.contains("built from 2 commits"), "{text}");
        assert!(text.contains("proxy has versions \"0.2.5\" and \"0.2.6\""), "{text}");
    }

    #[test]
    fn hostile_values_make_short_errors() {
        let huge = "x".repeat(5_000_000);
        let mut hostile = runner("one", &[("x-x86_64-unknown-linux-gnu", LINUX, hex('a'))]);
        hostile.records[0]["sha256"] = json!(huge);
        hostile.records.push(record(&format!("{huge}-x86_64-unknown-linux-gnu"), LINUX, &hex('b'), COMMIT));
        let mut many = runner("two", &[]);
        for n in 0..100 {
            many.unlisted.push(format!("stray-{n}"));
        }
        let text = message(merge(&[hostile, many]));
        assert!(text.len() < 4000, "{} bytes", text.len());
        assert!(text.contains("and 82 more"), "{text}");
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
            manifest.push(record(name, LINUX, &hex, COMMIT));
        }
        std::fs::write(runner_dir.join("manifest.json"), json!({ "artifacts": manifest }).to_string()).unwrap();
        let runner = read_runner(&runner_dir).unwrap();
        assert!(message(merge(&[runner])).contains(&format!("{missing} is in the manifest but was not uploaded")));
    }

    #[test]
    fn old_artifacts_in_the_destination_must_agree_with_the_new_ones() {
        let folder = tempfile::tempdir().unwrap();
        let into = folder.path();
        std::fs::write(into.join("old"), b"old").unwrap();
        let mut old = record("old", MAC, &hex('a'), "2222222222222222222222222222222222222222");
        old["version"] = json!("0.1.0");
        std::fs::write(into.join("manifest.json"), json!({ "artifacts": [old] }).to_string()).unwrap();
        let new = vec![record("new", LINUX, &hex('b'), COMMIT)];
        let kept = records_kept(into, &new);
        assert_eq!(kept.len(), 1);
        let all: Vec<Value> = kept.into_iter().chain(new).collect();
        let problems = agreement_problems(&all).join("; ");
        assert!(problems.contains("2 commits") && problems.contains("\"0.1.0\" and \"0.2.5\""), "{problems}");
    }

    #[test]
    fn every_declared_sidecar_needs_its_binary_archive_and_sbom_for_every_target() {
        let sidecars = [("a".to_string(), "1.0".to_string()), ("b".to_string(), "2.0".to_string())];
        let mut records: Vec<Value> = Vec::new();
        for target in &targets::SUPPORTED {
            for (binary, version) in &sidecars {
                for file in [
                    naming::sidecar_file_name(binary, target),
                    naming::archive_file_name(binary, version, target),
                    naming::sbom_file_name(binary, target),
                ] {
                    records.push(record(&file, target.triple, &hex('a'), COMMIT));
                }
            }
        }
        require_all_targets(&records, &sidecars).unwrap();
        // Every triple is still present, but one sidecar is missing on one of them.
        let gone = naming::sidecar_file_name("b", &targets::SUPPORTED[2]);
        records.retain(|record| record["file"] != gone.as_str());
        let text = crate::failure::lines(&require_all_targets(&records, &sidecars).unwrap_err()).message;
        assert!(text.contains(&format!("1 release file(s) missing: {gone}")), "{text}");
    }
}
