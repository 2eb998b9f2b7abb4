//! The folder a GitHub Release is published from, checked before any request: `checksums.txt` and
//! exactly the files it lists (checked as `checksums --verify` checks them), with names GitHub
//! keeps as they are and sizes it accepts, and `manifest.json` saying which commit and versions
//! those files were built from, so that the tag can be checked against them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use crate::checksums_file::CHECKSUMS_FILE;
use crate::failure::{self, refuse, shell_quote};
use crate::naming::shown;
use crate::workspace::{self, Tag, Workspace};
use crate::{folder_verification, manifest, sidecars_json};

/// GitHub takes release assets under 2 GiB each.
pub const GITHUB_ASSET_SIZE_LIMIT: u64 = 2 << 30;
/// A manifest of two sidecars on five targets is a few KB; anything this large is not one.
pub const MANIFEST_SIZE_LIMIT: u64 = 1 << 20;

/// A file of the release: `checksums.txt` or a file it lists, checked against its line.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalFile {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub path: PathBuf,
}

/// A checked release folder.
#[derive(Debug, Clone)]
pub struct ReleaseFolder {
    pub dir: PathBuf,
    /// The files `checksums.txt` lists, in its order, then `checksums.txt` itself.
    pub files: Vec<LocalFile>,
    /// The commit every listed file was built from (their manifest records' `git_commit`).
    pub commit: String,
    /// Package (directory name) → version, from the records of the listed files.
    pub versions: BTreeMap<String, String>,
}

impl ReleaseFolder {
    /// How many files `checksums.txt` lists (the count `checksums --verify` reports).
    pub fn listed_count(&self) -> usize {
        self.files.len().saturating_sub(1)
    }

    /// The tag these files are released under: `v` + the version of [`workspace::TAG_PACKAGE`] they
    /// were built at (from the workspace when the folder has no sidecar of that package).
    pub fn release_tag(&self) -> anyhow::Result<Tag> {
        if let Some(tag) = workspace::release_tag_of(&self.versions) {
            return Ok(tag);
        }
        let workspace = Workspace::discover().map_err(|_| {
            refuse(
                format!(
                    "{} holds no {} sidecar, so its files do not say which release they belong to",
                    self.dir.display(),
                    workspace::TAG_PACKAGE
                ),
                "run from the repository the files were built in, or publish a folder that holds every sidecar",
            )
        })?;
        workspace.release_tag()
    }
}

/// `N file(s) match DIR/checksums.txt`: the line `checksums --verify` and `github-release` both print.
pub fn files_match_line(count: usize, dir: &Path) -> String {
    format!("{count} file(s) match {}", dir.join(CHECKSUMS_FILE).display())
}

/// Why GitHub would store an asset under another name than `name`, if it would: GitHub renames
/// names with characters other than ASCII letters, digits, `.`, `-` and `_`, and names that start
/// or end with a period.
pub fn github_renames(name: &str) -> Option<String> {
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        return Some(format!("it holds {bad:?}, which GitHub replaces with a period"));
    }
    if name.starts_with('.') || name.ends_with('.') {
        return Some("it starts or ends with a period, which GitHub removes".to_string());
    }
    None
}

/// `tag` must be the tag of the files' versions.
pub fn check_tag_matches(tag: &Tag, expected: &Tag, folder: &ReleaseFolder) -> anyhow::Result<()> {
    if tag == expected {
        return Ok(());
    }
    let versions: Vec<String> =
        folder.versions.iter().map(|(package, version)| format!("{package} {version}")).collect();
    Err(refuse(
        format!(
            "--tag {tag} does not belong to the files in {}: they were built at {} (commit {}), whose release tag is {expected}",
            folder.dir.display(),
            versions.join(", "),
            short(&folder.commit)
        ),
        format!(
            "publish them as {expected} (`--tag {expected}`), or build the files of {tag} from that tag \
             (the binaries workflow does, or `git checkout {tag}` then `cargo xtask sidecar`)"
        ),
    ))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Read and check `dir` as a release: every problem is found before any request is sent.
pub fn read(dir: &Path) -> anyhow::Result<ReleaseFolder> {
    let nothing_sent = |error: anyhow::Error, hint: &str| {
        if failure::is_interrupt(&error) {
            return error;
        }
        let message = failure::lines(&error).message;
        refuse(format!("{message}; nothing was sent"), hint.to_string())
    };
    let write_list = checksums_command(dir);
    let rebuild_hint =
        format!("rebuild or re-download the named files, then `{write_list}`; never edit a hash by hand");
    let list_hint = format!("run `{write_list}` first, or pass --dir with the release folder");
    let (text, listed) =
        folder_verification::read_list(dir, &list_hint).map_err(|error| nothing_sent(error, &list_hint))?;
    if listed.is_empty() {
        return Err(refuse(format!("{} lists no files", dir.join(CHECKSUMS_FILE).display()), list_hint));
    }
    check_names_and_sizes(dir, &listed)?;
    let verified = folder_verification::verify(dir).map_err(|error| nothing_sent(error, &rebuild_hint))?;
    let (index, artifacts): (Vec<_>, Vec<_>) =
        verified.iter().cloned().partition(|(name, _)| name == sidecars_json::FILE_NAME);
    let (commit, versions) = manifest_binding(dir, &artifacts)?;
    check_sidecar_index(dir, &artifacts, !index.is_empty())?;
    let mut files = Vec::new();
    for (name, sha256) in verified {
        let path = dir.join(&name);
        let size = std::fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?.len();
        files.push(LocalFile { name, sha256, size, path });
    }
    files.push(LocalFile {
        name: CHECKSUMS_FILE.into(),
        sha256: crate::hashing::sha256_hex_of_bytes(text.as_bytes()),
        size: text.len() as u64,
        path: dir.join(CHECKSUMS_FILE),
    });
    Ok(ReleaseFolder { dir: dir.to_path_buf(), files, commit, versions })
}

/// `cargo xtask checksums '<dir>'`: the command that writes `dir`'s list, ready to paste.
fn checksums_command(dir: &Path) -> String {
    format!("cargo xtask checksums {}", shell_quote(&dir.to_string_lossy()))
}

/// Names GitHub would rename, two names GitHub would take for one, and files over GitHub's limit:
/// all refused before hashing anything.
fn check_names_and_sizes(dir: &Path, listed: &[(String, String)]) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let mut seen_lowercase: BTreeMap<String, &str> = BTreeMap::new();
    for (_, name) in listed {
        if let Some(why) = github_renames(name) {
            problems.push(format!("{}: GitHub would publish it under another name ({why})", shown(name)));
        }
        if name.starts_with('-') {
            problems.push(format!("{}: starts with '-', so commands would take it for a flag", shown(name)));
        }
        if name.contains(".xtask-staged-") || name.contains(".xtask-replaced-") {
            problems.push(format!("{}: carries the mark github-release gives copies in transit", shown(name)));
        }
        if let Some(first) = seen_lowercase.insert(name.to_ascii_lowercase(), name)
            && first != name
        {
            problems.push(format!("{} and {}: one name to GitHub, which ignores case", shown(first), shown(name)));
        }
        let size = std::fs::symlink_metadata(dir.join(name)).map(|metadata| metadata.len()).unwrap_or(0);
        if size >= GITHUB_ASSET_SIZE_LIMIT {
            problems.push(format!(
                "{}: {:.2} GiB; GitHub takes release files under 2 GiB",
                shown(name),
                size as f64 / (1u64 << 30) as f64
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(refuse(
        format!("{} cannot be published as it is, nothing was sent: {}", dir.display(), problems.join("; ")),
        format!(
            "name release files with ASCII letters, digits, '.', '-' and '_' only, not starting with '-' or '.' (as \
             `cargo xtask sidecar` does), and keep each under 2 GiB; then `{}` again",
            checksums_command(dir)
        ),
    ))
}

/// The manifest records of `names`, read leniently: `None` when there is no readable manifest.
fn records_of(dir: &Path, names: &BTreeSet<&str>) -> anyhow::Result<Option<Vec<Value>>> {
    let path = dir.join(manifest::FILE_NAME);
    let Ok(metadata) = std::fs::symlink_metadata(&path) else { return Ok(None) };
    let hint = "publish a folder made by `cargo xtask sidecar` or `cargo xtask collect`: they write manifest.json \
                beside the files";
    if !metadata.is_file() {
        return Err(refuse(format!("{} is not a regular file", path.display()), hint));
    }
    if metadata.len() > MANIFEST_SIZE_LIMIT {
        return Err(refuse(
            format!("{} is {} bytes; a manifest is a few KB, so this is not one", path.display(), metadata.len()),
            hint,
        ));
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|error| refuse(format!("{} is not valid JSON ({error})", path.display()), hint))?;
    let Some(records) = document["artifacts"].as_array() else {
        return Err(refuse(format!("{} has no `artifacts` list", path.display()), hint));
    };
    let wanted = |record: &&Value| record["file"].as_str().is_some_and(|file| names.contains(file));
    Ok(Some(records.iter().filter(wanted).cloned().collect()))
}

/// The one commit and the versions the listed files were built from, from `manifest.json`.
fn manifest_binding(dir: &Path, verified: &[(String, String)]) -> anyhow::Result<(String, BTreeMap<String, String>)> {
    let names: BTreeSet<&str> = verified.iter().map(|(name, _)| name.as_str()).collect();
    let manifest_path = dir.join(manifest::FILE_NAME);
    let Some(records) = records_of(dir, &names)? else {
        return Err(refuse(
            format!(
                "{} is missing: nothing says which commit the files of {} were built from, so the tag cannot be checked",
                manifest_path.display(),
                dir.display()
            ),
            format!(
                "publish a folder made by `cargo xtask sidecar` or `cargo xtask collect` (they write manifest.json \
                 beside the files), then `{}`",
                checksums_command(dir)
            ),
        ));
    };
    let mut problems = Vec::new();
    let mut commits = BTreeSet::new();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, sha256) in verified {
        let found: Vec<&Value> = records.iter().filter(|record| record["file"].as_str() == Some(name)).collect();
        let record = match found.as_slice() {
            [] => {
                problems.push(format!("{name}: no record in manifest.json"));
                continue;
            }
            [record] => *record,
            _ => {
                problems.push(format!("{name}: {} records in manifest.json", found.len()));
                continue;
            }
        };
        if record["sha256"].as_str() != Some(sha256.as_str()) {
            let recorded = record["sha256"].as_str().map_or("nothing".to_string(), shown);
            problems.push(format!("{name}: manifest.json records {recorded}, checksums.txt says {sha256}"));
        }
        match record["git_commit"].as_str() {
            Some(commit) if is_commit(commit) => {
                commits.insert(commit.to_ascii_lowercase());
            }
            Some(other) => problems.push(format!("{name}: built from commit {} (not a commit id)", shown(other))),
            None => problems.push(format!("{name}: its record has no git_commit")),
        }
        match (record["package"].as_str(), record["version"].as_str()) {
            (Some(package), Some(version)) => {
                versions.entry(package.to_string()).or_default().insert(version.to_string());
            }
            _ => problems.push(format!("{name}: its record has no package and version")),
        }
    }
    if commits.len() > 1 {
        problems.push(format!(
            "built from {} commits ({}); a release is built from one",
            commits.len(),
            commits.iter().map(|commit| short(commit)).collect::<Vec<_>>().join(", ")
        ));
    }
    for (package, seen) in versions.iter().filter(|(_, seen)| seen.len() > 1) {
        problems.push(format!("{package} at {}", seen.iter().cloned().collect::<Vec<_>>().join(" and ")));
    }
    if !problems.is_empty() {
        problems.truncate(20);
        return Err(refuse(
            format!(
                "{} does not describe the files of {}, nothing was sent: {}",
                manifest_path.display(),
                dir.display(),
                problems.join("; ")
            ),
            format!(
                "rebuild the folder with `cargo xtask sidecar` (or `cargo xtask collect` from the runners' folders), \
                 then `{}`; never edit a manifest by hand",
                checksums_command(dir)
            ),
        ));
    }
    let commit = commits.into_iter().next().expect("every file has a commit when there is no problem");
    let versions = versions
        .into_iter()
        .map(|(package, seen)| (package, seen.into_iter().next().expect("one version each")))
        .collect();
    Ok((commit, versions))
}

/// A folder with sidecar binaries publishes `sidecars.json`, and it must be exactly what
/// `checksums` derives from the manifest and the listed hashes: downstream apps trust it.
fn check_sidecar_index(dir: &Path, artifacts: &[(String, String)], index_listed: bool) -> anyhow::Result<()> {
    let names: BTreeSet<&str> = artifacts.iter().map(|(name, _)| name.as_str()).collect();
    let records = records_of(dir, &names)?.unwrap_or_default();
    let hashes: BTreeMap<String, String> = artifacts.iter().cloned().collect();
    let expected = sidecars_json::render(&records, &folder_verification::listed_files(dir, &hashes)?)?;
    let path = dir.join(sidecars_json::FILE_NAME);
    let fix = format!("run `{}`: it writes sidecars.json from manifest.json and lists it", checksums_command(dir));
    match (expected, index_listed) {
        (None, false) => Ok(()),
        (None, true) => Err(refuse(
            format!(
                "{} lists {} but the folder holds no sidecar binary, nothing was sent",
                CHECKSUMS_FILE,
                path.display()
            ),
            fix,
        )),
        (Some(_), false) => Err(refuse(
            format!(
                "{} lists sidecar binaries but not {}: downstream apps read it to find each binary's build_id, \
                 nothing was sent",
                dir.join(CHECKSUMS_FILE).display(),
                sidecars_json::FILE_NAME
            ),
            fix,
        )),
        (Some(text), true) => {
            let on_disk = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            if on_disk != text.as_bytes() {
                return Err(refuse(
                    format!(
                        "{} does not describe the files of {} as manifest.json and checksums.txt do, nothing was sent",
                        path.display(),
                        dir.display()
                    ),
                    fix,
                ));
            }
            Ok(())
        }
    }
}

/// When `dir` is the repository's `dist/`, the files must have been built from HEAD: after
/// `release --execute` they are the build of the commit before the release commit.
pub fn check_built_from_head(dir: &Path, commit: &str) -> anyhow::Result<()> {
    let Ok(workspace) = Workspace::discover() else { return Ok(()) };
    let same_folder = match (dir.canonicalize(), workspace.dist_dir().canonicalize()) {
        (Ok(folder), Ok(dist)) => folder == dist,
        _ => false,
    };
    if !same_folder {
        return Ok(());
    }
    let Ok(head) = crate::provenance::git_commit(&workspace.root) else { return Ok(()) };
    if !is_commit(&head) || head.eq_ignore_ascii_case(commit) {
        return Ok(());
    }
    Err(refuse(
        format!(
            "{} holds files built from commit {}, but HEAD is {}: they are not what this checkout releases \
             (was a commit, such as the release commit of `release --execute`, made after the build?)",
            dir.display(),
            short(commit),
            short(&head)
        ),
        "build them again for HEAD: `cargo xtask sidecar`, then `cargo xtask checksums` (a tag's release files \
         are built by the binaries workflow)",
    ))
}

/// `checksums --verify` of the repository's `dist/`: when its manifest records which commit the
/// checked files come from, they must come from HEAD.
pub fn check_built_from_head_if_recorded(dir: &Path, checked: &[(String, String)]) -> anyhow::Result<()> {
    let names: BTreeSet<&str> = checked.iter().map(|(name, _)| name.as_str()).collect();
    let Ok(Some(records)) = records_of(dir, &names) else { return Ok(()) };
    let commits: BTreeSet<&str> =
        records.iter().filter_map(|record| record["git_commit"].as_str()).filter(|c| is_commit(c)).collect();
    match commits.into_iter().collect::<Vec<_>>().as_slice() {
        [commit] => check_built_from_head(dir, commit),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_github_keeps_and_names_it_renames() {
        for kept in ["lumen-argus-0.2.0rc1-x86_64-unknown-linux-gnu.tar.gz", "checksums.txt", "a_b-c.d"] {
            assert_eq!(github_renames(kept), None, "{kept}");
        }
        for renamed in ["my file", "tool+local", "tilde~", "(1).zip", ".hidden", "trailing.", "é.bin"] {
            assert!(github_renames(renamed).is_some(), "{renamed}");
        }
    }

    #[test]
    fn shown_values_stay_short() {
        assert_eq!(shown("abc"), "\"abc\"");
        let long = "x".repeat(10_000_000);
        let text = shown(&long);
        assert!(text.len() < 100 && text.contains("10000000 characters"), "{text}");
    }
}
