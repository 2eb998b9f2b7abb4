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

/// A listed file as the folder holds it: the hash its `.sha256` gives, and its size on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedFile {
    pub sha256: String,
    pub size: u64,
}

/// The text of `sidecars.json` for the manifest `records` of the files in `listed` (file name →
/// what the folder holds); `None` when no listed file is a sidecar binary.
///
/// Every listed binary gets an entry with its archive and SBOM (the names `sidecar` gives them for
/// that binary, version and target; `null` when none is listed). A file with several records, or
/// a record whose hash or size is not the file's, is refused: the index would describe other bytes.
pub fn render(records: &[Value], listed: &BTreeMap<String, ListedFile>) -> anyhow::Result<Option<String>> {
    let mut problems = Vec::new();
    let mut by_file: BTreeMap<&str, &Value> = BTreeMap::new();
    for record in records {
        let Some(file) = record["file"].as_str().filter(|file| listed.contains_key(*file)) else { continue };
        if by_file.insert(file, record).is_some() {
            problems.push(format!("{file}: more than one record in manifest.json"));
            continue;
        }
        let on_disk = &listed[file];
        if record["sha256"].as_str() != Some(on_disk.sha256.as_str()) {
            problems.push(format!("{file}: manifest.json records another hash than its .sha256"));
        }
        if record["size"].as_u64() != Some(on_disk.size) {
            let recorded = record["size"].as_u64().map_or("no size".to_string(), |size| format!("{size} bytes"));
            problems.push(format!("{file}: manifest.json records {recorded}, the file is {} bytes", on_disk.size));
        }
    }
    let mut entries = Vec::new();
    let mut commits = std::collections::BTreeSet::new();
    for (file, record) in by_file.iter().filter(|(_, record)| record["kind"].as_str() == Some("binary")) {
        let Some((binary, target)) = naming::parse_sidecar_file_name(file) else {
            problems.push(format!("{}: a binary record whose name names no target", shown(file)));
            continue;
        };
        if record["triple"].as_str() != Some(target.triple) {
            problems.push(format!("{file}: its record says another target than its name"));
            continue;
        }
        let Some(version) = record["version"].as_str() else {
            problems.push(format!("{file}: its record has no version"));
            continue;
        };
        let companion = |name: String| by_file.get(name.as_str()).copied();
        let archive = companion(naming::archive_file_name(binary, version, target));
        let sbom = companion(naming::sbom_file_name(binary, target));
        if let Some(commit) = record["git_commit"].as_str() {
            commits.insert(commit.to_string());
        }
        let text = |value: &Value| value.as_str().map_or(Value::Null, |text| json!(text));
        entries.push(json!({
            "package": text(&record["package"]),
            "binary": binary,
            "version": version,
            "triple": target.triple,
            "file": file,
            "build_id": format!("sha256:{}", listed[*file].sha256),
            "size": listed[*file].size,
            "archive": archive.map_or(Value::Null, |archive| archive["file"].clone()),
            "archive_sha256": archive.map_or(Value::Null, |archive| archive["sha256"].clone()),
            "archive_size": archive.map_or(Value::Null, |archive| archive["size"].clone()),
            "sbom": sbom.map_or(Value::Null, |sbom| sbom["file"].clone()),
            "git_commit": text(&record["git_commit"]),
            "python": text(&record["python"]),
            "pyinstaller": text(&record["pyinstaller"]),
            "build_seconds": record["build_seconds"].as_f64().map_or(Value::Null, |seconds| json!(seconds)),
            "cached": record["cached"].as_bool().map_or(Value::Null, |cached| json!(cached)),
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
    // by_file is sorted by file name; the index is sorted by binary, then target.
    entries.sort_by(|a, b| {
        let key = |entry: &Value| {
            (
                entry["binary"].as_str().unwrap_or_default().to_string(),
                entry["triple"].as_str().unwrap_or_default().to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
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
    match (&document["schema_version"], document["schema_version"].as_u64()) {
        (_, Some(version)) if (1..=SCHEMA_VERSION).contains(&version) => {}
        (_, Some(version)) if version > SCHEMA_VERSION => {
            return Err(refuse(
                format!("{source} has schema_version {version}; this xtask reads up to {SCHEMA_VERSION}"),
                "update this checkout (a newer xtask wrote that file)",
            ));
        }
        (Value::Null, _) => {
            return Err(refuse(format!("{source} has no schema_version: it is not a sidecars.json"), hint));
        }
        (other, _) => {
            return Err(refuse(
                format!(
                    "{source} has schema_version {}, not a version this xtask reads (1 to {SCHEMA_VERSION})",
                    shown(&other.to_string())
                ),
                hint,
            ));
        }
    }
    let Some(entries) = document["sidecars"].as_array() else {
        return Err(refuse(format!("{source} has no `sidecars` list"), hint));
    };
    let mut sidecars = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let field = |key: &str| entry[key].as_str().map(str::to_string);
        match (field("binary"), field("triple"), field("version"), entry["size"].as_u64()) {
            (Some(binary), Some(triple), _, _)
                if sidecars.iter().any(|known: &PublishedSidecar| known.binary == binary && known.triple == triple) =>
            {
                return Err(refuse(
                    format!("{source}: {} for {} is listed twice", shown(&binary), shown(&triple)),
                    hint.to_string(),
                ));
            }
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

    fn linux_release() -> (Vec<Value>, BTreeMap<String, ListedFile>) {
        let triple = "x86_64-unknown-linux-gnu";
        let records = vec![
            record("lumen-argus-x86_64-unknown-linux-gnu", "binary", triple, &hex('a')),
            record("lumen-argus-0.2.5-x86_64-unknown-linux-gnu.tar.gz", "archive", triple, &hex('b')),
            record("lumen-argus-x86_64-unknown-linux-gnu.cdx.json", "sbom", triple, &hex('c')),
        ];
        let listed = records
            .iter()
            .map(|record| {
                let file = record["file"].as_str().unwrap().to_string();
                (file, ListedFile { sha256: record["sha256"].as_str().unwrap().to_string(), size: 1000 })
            })
            .collect();
        (records, listed)
    }

    fn refusal(records: &[Value], listed: &BTreeMap<String, ListedFile>) -> String {
        crate::failure::lines(&render(records, listed).unwrap_err()).message
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
    fn a_record_that_disagrees_with_its_file_or_name_is_refused() {
        let (records, mut listed) = linux_release();
        listed.get_mut("lumen-argus-x86_64-unknown-linux-gnu").unwrap().sha256 = hex('d');
        assert!(refusal(&records, &listed).contains("records another hash"));
        // The size is the file's, not what a record claims: a record cannot shrink a binary.
        for claimed in [json!(100), json!(-5), json!("big"), Value::Null] {
            let (mut records, listed) = linux_release();
            records[0]["size"] = claimed.clone();
            let message = refusal(&records, &listed);
            assert!(message.contains("the file is 1000 bytes"), "{claimed}: {message}");
        }
        let (mut records, listed) = linux_release();
        records[0]["triple"] = json!("aarch64-apple-darwin");
        assert!(refusal(&records, &listed).contains("another target than its name"));
        let (mut records, listed) = linux_release();
        records.push(records[1].clone());
        assert!(refusal(&records, &listed).contains("0.2.5-x86_64-unknown-linux-gnu.tar.gz: more than one record"));
        // A binary published without an archive or SBOM says so with null.
        let (records, mut listed) = linux_release();
        listed.retain(|name, _| !name.ends_with(".tar.gz") && !name.ends_with(".cdx.json"));
        let document: Value = serde_json::from_str(&render(&records, &listed).unwrap().unwrap()).unwrap();
        assert!(document["sidecars"][0]["archive"].is_null() && document["sidecars"][0]["sbom"].is_null());
    }

    #[test]
    fn two_binaries_of_one_package_get_their_own_archive_and_sbom() {
        let (mut records, mut listed) = linux_release();
        let triple = "x86_64-unknown-linux-gnu";
        for (file, kind) in [
            ("lumen-argus-agent-x86_64-unknown-linux-gnu", "binary"),
            ("lumen-argus-agent-0.2.5-x86_64-unknown-linux-gnu.tar.gz", "archive"),
            ("lumen-argus-agent-x86_64-unknown-linux-gnu.cdx.json", "sbom"),
        ] {
            // Inserted first: a match by package and target alone would take these for lumen-argus's.
            records.insert(0, record(file, kind, triple, &hex('e')));
            listed.insert(file.into(), ListedFile { sha256: hex('e'), size: 1000 });
        }
        let document: Value = serde_json::from_str(&render(&records, &listed).unwrap().unwrap()).unwrap();
        for entry in document["sidecars"].as_array().unwrap() {
            let binary = entry["binary"].as_str().unwrap();
            assert_eq!(entry["archive"], format!("{binary}-0.2.5-{triple}.tar.gz"));
            assert_eq!(entry["sbom"], format!("{binary}-{triple}.cdx.json"));
        }
    }

    #[test]
    fn no_binary_no_index_and_unknown_schemas_are_refused() {
        assert_eq!(render(&[], &BTreeMap::new()).unwrap(), None);
        let twice = "{\"schema_version\": 1, \"sidecars\": [\
            {\"binary\": \"x\", \"triple\": \"t\", \"version\": \"1\", \"size\": 1},\
            {\"binary\": \"x\", \"triple\": \"t\", \"version\": \"1\", \"size\": 45}]}";
        for (text, expected) in [
            ("{\"schema_version\": 2, \"sidecars\": []}", "reads up to 1"),
            ("{\"sidecars\": []}", "no schema_version"),
            ("{\"schema_version\": 0, \"sidecars\": []}", "schema_version \"0\", not a version this xtask reads"),
            ("{\"schema_version\": \"1\", \"sidecars\": []}", "not a version this xtask reads"),
            ("[1", "not valid JSON"),
            ("{\"schema_version\": 1, \"sidecars\": [{\"binary\": \"x\"}]}", "entry 1 lacks"),
            (twice, "\"x\" for \"t\" is listed twice"),
        ] {
            let message = crate::failure::lines(&parse(text, "old.json").unwrap_err()).message;
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
