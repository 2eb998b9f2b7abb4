//! `dist/manifest.json`: one record per artifact in `dist/` (binaries and archives), kept across
//! runs: a new build replaces the records of the files it rewrote and keeps the others.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

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
        })
    }
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

/// Read `dist/manifest.json` (if any), merge `records`, write it back atomically.
pub fn update(dist: &Path, records: &[ArtifactRecord]) -> anyhow::Result<()> {
    let path = dist.join(FILE_NAME);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str::<Value>(&text).with_context(|| format!("parsing {}", path.display()))?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let merged = merge(existing.as_ref(), records);
    let mut text = serde_json::to_string_pretty(&merged)?;
    text.push('\n');
    files::write_atomically(&path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn update_writes_parseable_json() {
        let folder = tempfile::tempdir().unwrap();
        update(folder.path(), &[record("x", "1")]).unwrap();
        update(folder.path(), &[record("y", "2")]).unwrap();
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
        ] {
            assert!(value["artifacts"][0].get(key).is_some(), "missing {key}");
        }
    }
}
