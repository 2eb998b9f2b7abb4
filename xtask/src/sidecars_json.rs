//! `sidecars.json`: the machine-readable index of a release's sidecars, one entry per binary and
//! target, for the apps that bundle them. `checksums` derives it from `manifest.json` and the
//! checked hashes, lists it in `checksums.txt`, and `github-release` publishes it; `collect` reads a
//! previous release's copy to compare sizes. The format is in docs/reference/sidecars-json.md.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::failure::refuse;
use crate::naming::{self, shown};

pub const FILE_NAME: &str = "sidecars.json";
/// Raised only when a field changes meaning or goes away; new fields keep the version.
pub const SCHEMA_VERSION: u64 = 1;

/// One sidecar on one target, as a previous release described it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedSidecar {
    pub binary: String,
    pub triple: String,
    pub version: String,
    pub size: u64,
    pub build_seconds: Option<f64>,
}

/// The text of `sidecars.json` for the manifest `records` of the files listed in `listed`
/// (file name → SHA-256 hex); `None` when no listed file is a sidecar binary.
///
/// Every listed binary gets an entry with its archive and SBOM (same package and target, `null`
/// when none is listed); a record whose hash is not the listed one is refused: the index would
/// describe other bytes.
pub fn render(records: &[Value], listed: &BTreeMap<String, String>) -> anyhow::Result<Option<String>> {
    let listed_records: Vec<&Value> =
        records.iter().filter(|record| record["file"].as_str().is_some_and(|file| listed.contains_key(file))).collect();
    let mut problems = Vec::new();
    for record in &listed_records {
        let file = record["file"].as_str().unwrap_or_default();
        if record["sha256"].as_str() != Some(listed[file].as_str()) {
            problems.push(format!("{file}: manifest.json records another hash than its .sha256"));
        }
    }
    let companion = |binary_record: &Value, kind: &str| -> Option<&Value> {
        listed_records.iter().copied().find(|record| {
            record["kind"].as_str() == Some(kind)
                && record["package"] == binary_record["package"]
                && record["triple"] == binary_record["triple"]
        })
    };
    let mut entries = Vec::new();
    let mut commits = std::collections::BTreeSet::new();
    for record in listed_records.iter().filter(|record| record["kind"].as_str() == Some("binary")) {
        let file = record["file"].as_str().unwrap_or_default();
        let Some((binary, target)) = naming::parse_sidecar_file_name(file) else {
            problems.push(format!("{}: a binary record whose name names no target", shown(file)));
            continue;
        };
        if record["triple"].as_str() != Some(target.triple) {
            problems.push(format!("{file}: its record says another target than its name"));
            continue;
        }
        let archive = companion(record, "archive");
        if let Some(commit) = record["git_commit"].as_str() {
            commits.insert(commit.to_string());
        }
        let text = |value: &Value| value.as_str().map_or(Value::Null, |text| json!(text));
        entries.push(json!({
            "package": record["package"],
            "binary": binary,
            "version": record["version"],
            "triple": target.triple,
            "file": file,
            "build_id": format!("sha256:{}", listed[file]),
            "size": record["size"],
            "archive": archive.map_or(Value::Null, |archive| archive["file"].clone()),
            "archive_sha256": archive.map_or(Value::Null, |archive| archive["sha256"].clone()),
            "archive_size": archive.map_or(Value::Null, |archive| archive["size"].clone()),
            "sbom": companion(record, "sbom").map_or(Value::Null, |sbom| sbom["file"].clone()),
            "git_commit": text(&record["git_commit"]),
            "python": text(&record["python"]),
            "pyinstaller": text(&record["pyinstaller"]),
            "build_seconds": record["build_seconds"],
            "cached": record["cached"],
            "runner": record.get("runner").map_or(json!("unknown"), text),
        }));
    }
    if commits.len() > 1 {
        problems.push(format!("the binaries come from {} commits; a release is built from one", commits.len()));
    }
    if !problems.is_empty() {
        problems.truncate(20);
        return Err(refuse(
            format!("cannot describe the sidecars for {FILE_NAME}: {}", problems.join("; ")),
            "rebuild the folder with `cargo xtask sidecar` (or `cargo xtask collect` from the runners' folders); \
             never edit manifest.json or a .sha256 by hand",
        ));
    }
    if entries.is_empty() {
        return Ok(None);
    }
    entries.sort_by_key(|entry| (entry["binary"].to_string(), entry["triple"].to_string()));
    let document = json!({
        "schema_version": SCHEMA_VERSION,
        "git_commit": commits.into_iter().next(),
        "sidecars": entries,
    });
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    Ok(Some(text))
}

/// The sidecars of a `sidecars.json` (a previous release's): refused when it is not one, or when
/// its `schema_version` is newer than this xtask reads.
pub fn parse(text: &str, source: &str) -> anyhow::Result<Vec<PublishedSidecar>> {
    let hint = "pass the sidecars.json of a release made by `cargo xtask checksums`";
    let document: Value = serde_json::from_str(text)
        .map_err(|error| refuse(format!("{source} is not valid JSON ({error})"), hint.to_string()))?;
    match document["schema_version"].as_u64() {
        Some(version) if version <= SCHEMA_VERSION && version >= 1 => {}
        Some(version) => {
            return Err(refuse(
                format!("{source} has schema_version {version}; this xtask reads up to {SCHEMA_VERSION}"),
                "update this checkout (a newer xtask wrote that file)",
            ));
        }
        None => return Err(refuse(format!("{source} has no schema_version: it is not a sidecars.json"), hint)),
    }
    let Some(entries) = document["sidecars"].as_array() else {
        return Err(refuse(format!("{source} has no `sidecars` list"), hint));
    };
    let mut sidecars = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let field = |key: &str| entry[key].as_str().map(str::to_string);
        match (field("binary"), field("triple"), field("version"), entry["size"].as_u64()) {
            (Some(binary), Some(triple), Some(version), Some(size)) => sidecars.push(PublishedSidecar {
                binary,
                triple,
                version,
                size,
                build_seconds: entry["build_seconds"].as_f64(),
            }),
            _ => {
                return Err(refuse(
                    format!("{source}: entry {} lacks binary, triple, version or size", index + 1),
                    hint.to_string(),
                ));
            }
        }
    }
    Ok(sidecars)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn hex(seed: char) -> String {
        std::iter::repeat_n(seed, 64).collect()
    }

    fn record(file: &str, kind: &str, triple: &str, sha: &str) -> Value {
        json!({"file": file, "kind": kind, "triple": triple, "package": "proxy", "version": "0.2.5",
               "size": 1000, "sha256": sha, "build_seconds": 12.5, "cached": false, "git_commit": COMMIT,
               "python": "3.11.9", "pyinstaller": "6.19.0", "runner": "ubuntu-24.04"})
    }

    fn linux_release() -> (Vec<Value>, BTreeMap<String, String>) {
        let triple = "x86_64-unknown-linux-gnu";
        let records = vec![
            record("lumen-argus-x86_64-unknown-linux-gnu", "binary", triple, &hex('a')),
            record("lumen-argus-0.2.5-x86_64-unknown-linux-gnu.tar.gz", "archive", triple, &hex('b')),
            record("lumen-argus-x86_64-unknown-linux-gnu.cdx.json", "sbom", triple, &hex('c')),
        ];
        let listed = records
            .iter()
            .map(|record| (record["file"].as_str().unwrap().to_string(), record["sha256"].as_str().unwrap().to_string()))
            .collect();
        (records, listed)
    }

    #[test]
    fn one_entry_per_binary_with_its_archive_sbom_and_build_id() {
        let (records, listed) = linux_release();
        let text = render(&records, &listed).unwrap().unwrap();
        let document: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(document["schema_version"], SCHEMA_VERSION);
        assert_eq!(document["git_commit"], COMMIT);
        let entries = document["sidecars"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(entry["binary"], "lumen-argus");
        assert_eq!(entry["build_id"], format!("sha256:{}", hex('a')));
        assert_eq!(entry["archive"], "lumen-argus-0.2.5-x86_64-unknown-linux-gnu.tar.gz");
        assert_eq!(entry["archive_sha256"], hex('b'));
        assert_eq!(entry["sbom"], "lumen-argus-x86_64-unknown-linux-gnu.cdx.json");
        assert_eq!(entry["runner"], "ubuntu-24.04");
        let parsed = parse(&text, FILE_NAME).unwrap();
        assert_eq!(parsed[0].size, 1000);
        assert_eq!(parsed[0].build_seconds, Some(12.5));
        // Equal inputs, equal bytes: re-running checksums changes nothing.
        assert_eq!(render(&records, &listed).unwrap().unwrap(), text);
    }

    #[test]
    fn a_record_that_disagrees_with_the_listed_hash_or_its_name_is_refused() {
        let (records, mut listed) = linux_release();
        listed.insert("lumen-argus-x86_64-unknown-linux-gnu".into(), hex('d'));
        let message = crate::failure::lines(&render(&records, &listed).unwrap_err()).message;
        assert!(message.contains("records another hash"), "{message}");
        let (mut records, listed) = linux_release();
        records[0]["triple"] = json!("aarch64-apple-darwin");
        let message = crate::failure::lines(&render(&records, &listed).unwrap_err()).message;
        assert!(message.contains("another target than its name"), "{message}");
        // A binary published without an archive or SBOM says so with null.
        let (records, mut listed) = linux_release();
        listed.retain(|name, _| !name.ends_with(".tar.gz") && !name.ends_with(".cdx.json"));
        let document: Value = serde_json::from_str(&render(&records, &listed).unwrap().unwrap()).unwrap();
        assert!(document["sidecars"][0]["archive"].is_null() && document["sidecars"][0]["sbom"].is_null());
    }

    #[test]
    fn no_binary_no_index_and_unknown_schemas_are_refused() {
        assert_eq!(render(&[], &BTreeMap::new()).unwrap(), None);
        for (text, expected) in [
            ("{\"schema_version\": 2, \"sidecars\": []}", "reads up to 1"),
            ("{\"sidecars\": []}", "no schema_version"),
            ("[1", "not valid JSON"),
            ("{\"schema_version\": 1, \"sidecars\": [{\"binary\": \"x\"}]}", "entry 1 lacks"),
        ] {
            let message = crate::failure::lines(&parse(text, "old.json").unwrap_err()).message;
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
