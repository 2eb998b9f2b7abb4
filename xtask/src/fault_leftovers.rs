//! What an interrupted command must not leave behind, checked after each round of the fault loop
//! (`cargo xtask test --long`) and by its release scenarios: processes of its tree (found by the
//! round's marker), half-written files, a manifest that does not describe `dist/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{hashing, manifest};

/// The environment marker every process of a round inherits: what is left of a round is found by it.
pub const MARKER: &str = "XTASK_FAULT_ROUND";

/// Pids of live processes whose environment carries the round's marker.
pub fn processes_with_marker(marker: &str) -> Vec<u32> {
    let needle = format!("{MARKER}={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')));
            alive
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|environ| environ.split(|byte| *byte == 0).any(|entry| entry == needle.as_bytes()))
        })
        .collect()
}

/// Files named like the xtask's temporaries anywhere in a folder but `target/`, `.git/`, `.venv/`.
pub fn partial_files(clone: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![clone.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                if dir == clone && [".git", "target", ".venv"].contains(&name.as_str()) {
                    continue;
                }
                pending.push(path);
            } else if name.ends_with(".partial") || name.starts_with(".xtask-") {
                found.push(path);
            }
        }
    }
    found
}

/// The manifest describes exactly the artifacts in `dist/`, each with its hash.
pub fn manifest_problems(dist: &Path) -> Result<(), String> {
    let path = dist.join(manifest::FILE_NAME);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let document: serde_json::Value = serde_json::from_str(&text).map_err(|error| format!("not JSON: {error}"))?;
    let records = document["artifacts"].as_array().ok_or("no artifacts list")?;
    let mut recorded = BTreeSet::new();
    for record in records {
        let file = record["file"].as_str().ok_or("a record without a file")?;
        recorded.insert(file.to_string());
        let on_disk = dist.join(file);
        let actual = hashing::sha256_hex_of_file(&on_disk).map_err(|_| format!("{file} is recorded but missing"))?;
        if Some(actual.as_str()) != record["sha256"].as_str() {
            return Err(format!("{file} differs from its record"));
        }
    }
    let unrecorded: Vec<String> = std::fs::read_dir(dist)
        .map_err(|error| error.to_string())?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            crate::naming::parse_sidecar_file_name(name).is_some()
                || crate::naming::parse_sbom_file_name(name).is_some()
                || crate::archive::ArchiveFormat::of_file_name(name).is_some()
        })
        .filter(|name| !recorded.contains(name))
        .collect();
    if !unrecorded.is_empty() {
        return Err(format!("artifacts without a record: {unrecorded:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_that_lies_about_dist_is_caught() {
        let folder = tempfile::tempdir().unwrap();
        let dist = folder.path();
        let file = "lumen-argus-x86_64-unknown-linux-gnu";
        std::fs::write(dist.join(file), b"binary").unwrap();
        let record = |sha: &str| format!("{{\"artifacts\": [{{\"file\": \"{file}\", \"sha256\": \"{sha}\"}}]}}");
        std::fs::write(dist.join("manifest.json"), record(&hashing::sha256_hex_of_bytes(b"binary"))).unwrap();
        assert_eq!(manifest_problems(dist), Ok(()));
        std::fs::write(dist.join("manifest.json"), record(&"0".repeat(64))).unwrap();
        assert!(manifest_problems(dist).unwrap_err().contains("differs"));
        std::fs::write(dist.join("manifest.json"), "{\"artifacts\": []}").unwrap();
        assert!(manifest_problems(dist).unwrap_err().contains("without a record"));
        std::fs::write(dist.join("manifest.json"), "{\"artifacts\": [").unwrap();
        assert!(manifest_problems(dist).unwrap_err().contains("not JSON"));
    }

    #[test]
    fn partial_files_are_found_outside_target_and_git() {
        let folder = tempfile::tempdir().unwrap();
        let clone = folder.path();
        for dir in ["dist", "target", ".git", "packages/core"] {
            std::fs::create_dir_all(clone.join(dir)).unwrap();
        }
        std::fs::write(clone.join("dist/.xtask-abc.partial"), "").unwrap();
        std::fs::write(clone.join("packages/core/.xtask-1"), "").unwrap();
        std::fs::write(clone.join("target/.xtask-ignored.partial"), "").unwrap();
        std::fs::write(clone.join("dist/fine"), "").unwrap();
        let mut found: Vec<PathBuf> =
            partial_files(clone).iter().map(|path| path.strip_prefix(clone).unwrap().to_path_buf()).collect();
        found.sort();
        let expected: Vec<PathBuf> = ["dist/.xtask-abc.partial", "packages/core/.xtask-1"]
            .iter()
            .map(|path| path.split('/').collect())
            .collect();
        assert_eq!(found, expected);
    }
}
