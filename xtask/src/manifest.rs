//! `dist/manifest.json`: one record per artifact in `dist/` (binaries and archives), kept across
//! runs: a new build replaces the records of the files it rewrote and keeps the others. Every
//! write also drops the records whose file is gone or no longer has the recorded size and hash, so
//! the manifest never describes a file that is not there.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use crate::failure::WithHint;
use crate::files;

pub const FILE_NAME: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactRecord {
    pub file: String,
    /// `binary` or `archive`.
    pub kind: &'static str,
    pub triple: String,
    pub package: String,
    pub version: String,
    pub size: u64,
    pub sha256: String,
    pub build_seconds: f64,
    pub cached: bool,
    pub git_commit: String,
    pub python: String,
    pub pyinstaller: String,
    /// Where it was built: see [`runner_label`].
    pub runner: String,
}

impl ArtifactRecord {
    fn to_json(&self) -> Value {
        json!({
            "file": self.file,
            "kind": self.kind,
            "triple": self.triple,
            "package": self.package,
            "version": self.version,
            "size": self.size,
            "sha256": self.sha256,
            "build_seconds": (self.build_seconds * 1000.0).round() / 1000.0,
            "cached": self.cached,
            "git_commit": self.git_commit,
            "python": self.python,
            "pyinstaller": self.pyinstaller,
            "runner": self.runner,
        })
    }
}

/// Where a build runs, as recorded in `runner`: `XTASK_RUNNER` when set (the workflow passes its
/// runner label, e.g. `ubuntu-24.04`), else inside Actions the runner's image and architecture
/// (`ImageOS`, `RUNNER_ARCH`), else `local`.
pub fn runner_label() -> String {
    let variable =
        |name: &str| std::env::var(name).ok().map(|value| value.trim().to_string()).filter(|v| !v.is_empty());
    if let Some(label) = variable("XTASK_RUNNER") {
        return label;
    }
    if crate::gha::in_actions() {
        let parts: Vec<String> = ["ImageOS", "RUNNER_ARCH"].iter().filter_map(|name| variable(name)).collect();
        if !parts.is_empty() {
            return format!("github {}", parts.join(" "));
        }
        return "github".to_string();
    }
    "local".to_string()
}

/// The manifest after replacing the records of `records`' files, sorted by file name.
pub fn merge(existing: Option<&Value>, records: &[ArtifactRecord]) -> Value {
    let mut artifacts: Vec<Value> = existing
        .and_then(|manifest| manifest.get("artifacts"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|old| {
                    !records.iter().any(|new| old.get("file").and_then(Value::as_str) == Some(new.file.as_str()))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    artifacts.extend(records.iter().map(ArtifactRecord::to_json));
    artifacts.sort_by(|a, b| {
        let name = |value: &Value| value.get("file").and_then(Value::as_str).unwrap_or_default().to_string();
        name(a).cmp(&name(b))
    });
    json!({ "artifacts": artifacts })
}

/// Read `dist/manifest.json` (if any), merge `records`, drop stale records, write it back atomically.
pub fn update(dist: &Path, records: &[ArtifactRecord]) -> anyhow::Result<()> {
    rewrite(dist, &[], records)
}

/// Drop the records of `files` (about to be rewritten or removed), and any stale record.
pub fn forget(dist: &Path, files: &[String]) -> anyhow::Result<()> {
    rewrite(dist, files, &[])
}

/// Refuse a manifest that cannot be read, before a build that would fail to update it.
pub fn check_readable(dist: &Path) -> anyhow::Result<()> {
    read(dist).map(drop)
}

fn read(dist: &Path) -> anyhow::Result<Option<Value>> {
    let path = dist.join(FILE_NAME);
    Ok(match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str::<Value>(&text).map_err(|error| {
            crate::failure::refuse(
                format!("{} is not valid JSON ({error})", path.display()),
                "remove it and run `cargo xtask sidecar` again: the build writes a new one",
            )
        })?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(error)
                .with_context(|| format!("reading {}", path.display()))
                .hint(format!("remove {} (the build writes a new one) and run again", path.display()));
        }
    })
}

fn rewrite(dist: &Path, forgotten: &[String], records: &[ArtifactRecord]) -> anyhow::Result<()> {
    let path = dist.join(FILE_NAME);
    let existing = read(dist)?;
    if existing.is_none() && records.is_empty() {
        return Ok(());
    }
    let mut merged = merge(existing.as_ref(), records);
    if let Some(artifacts) = merged.get_mut("artifacts").and_then(Value::as_array_mut) {
        artifacts.retain(|artifact| {
            let file = artifact.get("file").and_then(Value::as_str).unwrap_or_default();
            !forgotten.iter().any(|name| name == file) && matches_file_on_disk(dist, artifact)
        });
    }
    let mut text = serde_json::to_string_pretty(&merged)?;
    text.push('\n');
    files::write_atomically(&path, text.as_bytes())
}

/// The record's file is a plain file directly in `dist` with the recorded size and SHA-256.
fn matches_file_on_disk(dist: &Path, artifact: &Value) -> bool {
    let field = |key: &str| artifact.get(key).and_then(Value::as_str);
    let (Some(file), Some(sha256)) = (field("file"), field("sha256")) else { return false };
    let plain_name = !file.is_empty() && !file.contains(['/', '\\']) && file != "." && file != "..";
    let path = dist.join(file);
    let size_matches = std::fs::symlink_metadata(&path)
        .is_ok_and(|meta| meta.is_file() && Some(meta.len()) == artifact.get("size").and_then(Value::as_u64));
    plain_name && size_matches && crate::hashing::sha256_hex_of_file(&path).is_ok_and(|hex| hex == sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Lines;

    fn record(file: &str, sha: &str) -> ArtifactRecord {
        ArtifactRecord {
            file: file.into(),
            kind: "binary",
            triple: "x86_64-unknown-linux-gnu".into(),
            package: "proxy".into(),
            version: "1.0".into(),
            size: 3,
            sha256: sha.into(),
            build_seconds: 1.23456,
            cached: false,
            git_commit: "unknown".into(),
            python: "3.11.7".into(),
            pyinstaller: "6.19.0".into(),
            runner: "local".into(),
        }
    }

    #[test]
    fn new_records_replace_old_ones_of_the_same_file_and_keep_the_rest() {
        let first = merge(None, &[record("b", "1"), record("a", "1")]);
        let second = merge(Some(&first), &[record("b", "2")]);
        let artifacts = second["artifacts"].as_array().unwrap();
        let files: Vec<_> = artifacts.iter().map(|a| a["file"].as_str().unwrap()).collect();
        assert_eq!(files, ["a", "b"]);
        assert_eq!(artifacts[1]["sha256"], "2");
        assert_eq!(artifacts[0]["build_seconds"], 1.235);
    }

    /// A file in `dist` and the record that describes it.
    fn published(dist: &Path, file: &str, contents: &str) -> ArtifactRecord {
        std::fs::write(dist.join(file), contents).unwrap();
        let mut described = record(file, &crate::hashing::sha256_hex_of_bytes(contents.as_bytes()));
        described.size = contents.len() as u64;
        described
    }

    fn files_in_manifest(dist: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(dist.join(FILE_NAME)).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        value["artifacts"].as_array().unwrap().iter().map(|a| a["file"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn update_writes_parseable_json() {
        let folder = tempfile::tempdir().unwrap();
        update(folder.path(), &[published(folder.path(), "x", "one")]).unwrap();
        update(folder.path(), &[published(folder.path(), "y", "two")]).unwrap();
        let text = std::fs::read_to_string(folder.path().join(FILE_NAME)).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["artifacts"].as_array().unwrap().len(), 2);
        for key in [
            "file",
            "kind",
            "triple",
            "package",
            "version",
            "size",
            "sha256",
            "build_seconds",
            "cached",
            "git_commit",
            "python",
            "pyinstaller",
            "runner",
        ] {
            assert!(value["artifacts"][0].get(key).is_some(), "missing {key}");
        }
    }

    #[test]
    fn records_of_missing_or_changed_files_are_dropped_at_every_write() {
        let folder = tempfile::tempdir().unwrap();
        let dist = folder.path();
        let records = [published(dist, "a", "one"), published(dist, "b", "two"), published(dist, "c", "three")];
        update(dist, &records).unwrap();
        assert_eq!(files_in_manifest(dist), ["a", "b", "c"]);
        std::fs::remove_file(dist.join("a")).unwrap();
        std::fs::write(dist.join("b"), "TWO").unwrap();
        update(dist, &[published(dist, "d", "four")]).unwrap();
        assert_eq!(files_in_manifest(dist), ["c", "d"], "a is gone and b changed under the same size");
        forget(dist, &["c".to_string()]).unwrap();
        assert_eq!(files_in_manifest(dist), ["d"]);
        // A record naming something other than a plain file of dist/ never survives.
        update(dist, &[published(dist, "e", "five"), record("../d", "x")]).unwrap();
        assert_eq!(files_in_manifest(dist), ["d", "e"]);
    }

    #[test]
    fn a_corrupt_manifest_is_refused_with_the_fix() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join(FILE_NAME), "{\"artifacts\": [").unwrap();
        let error = forget(folder.path(), &[]).unwrap_err();
        let Lines { message, hint } = crate::failure::lines(&error);
        assert!(message.contains("manifest.json is not valid JSON"), "{message}");
        assert!(hint.unwrap().contains("remove it"));
    }
}
