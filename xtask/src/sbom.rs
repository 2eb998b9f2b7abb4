//! The CycloneDX 1.6 SBOM published next to each sidecar (`<binary>-<triple>.cdx.json`): what
//! PyInstaller bundled, checked against `uv.lock`, as a deterministic JSON document.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::bundled_contents::{BundledContents, Distribution, normalise_name};
use crate::failure::refuse;

pub const SPEC_VERSION: &str = "1.6";

/// Versions of each package in `uv.lock`, by PEP 503 name (a lock may pin one name at several
/// versions, one per environment marker).
pub type LockedVersions = BTreeMap<String, Vec<String>>;

/// Read the `[[package]]` names and versions of a `uv.lock`.
pub fn locked_versions(lock_text: &str) -> anyhow::Result<LockedVersions> {
    let hint = "run `uv lock` to write a valid uv.lock, then build again";
    let document: toml_edit::DocumentMut =
        lock_text.parse().map_err(|error| refuse(format!("uv.lock is not valid TOML: {error}"), hint))?;
    let packages = document
        .get("package")
        .and_then(|item| item.as_array_of_tables())
        .ok_or_else(|| refuse("uv.lock has no [[package]] tables", hint))?;
    let mut locked = LockedVersions::new();
    for package in packages {
        let (Some(name), Some(version)) =
            (package.get("name").and_then(|v| v.as_str()), package.get("version").and_then(|v| v.as_str()))
        else {
            continue;
        };
        locked.entry(normalise_name(name)).or_default().push(version.to_string());
    }
    Ok(locked)
}

/// Every bundled distribution must be in `uv.lock` at the version bundled: anything else came from
/// outside the lock (a stale environment, a hand install) and would be published unlocked.
pub fn check_against_lock(binary: &str, contents: &BundledContents, locked: &LockedVersions) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for Distribution { name, version } in &contents.distributions {
        match locked.get(name) {
            None => problems.push(format!("{name} {version} is not in uv.lock")),
            Some(versions) if !versions.iter().any(|locked_version| locked_version == version) => {
                problems.push(format!("{name} {version} is bundled but uv.lock pins {}", versions.join(" or ")));
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(refuse(
        format!("{binary} bundles what uv.lock does not pin: {}; it is not published", problems.join("; ")),
        "add the package to a pyproject.toml and run `uv lock` (or undo the change that brought it in), then \
         rebuild with `cargo xtask sidecar --no-cache` so the environment is synced to the lock again",
    ))
}

/// What the document describes besides the bundled contents.
pub struct Subject<'a> {
    /// The binary's name as declared, e.g. `lumen-argus`.
    pub binary: &'a str,
    /// The file name it is published under, e.g. `lumen-argus-x86_64-unknown-linux-gnu`.
    pub file_name: &'a str,
    /// The version of the package that ships it.
    pub version: &'a str,
    pub triple: &'a str,
    /// SHA-256 (hex) of the exact bytes published (signed, when they are).
    pub sha256: &'a str,
    pub git_commit: &'a str,
    /// The build time: `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: i64,
    /// The PyInstaller that built it: its bootloader is in every binary.
    pub pyinstaller_version: &'a str,
}

/// `urn:uuid:` of a UUID taken from the binary's hash (RFC 9562 version 8, "custom"): the same
/// bytes give the same serial number, so builds stay byte-reproducible, and other bytes another.
pub fn serial_number(binary_sha256: &str) -> String {
    let digest = crate::hashing::sha256_hex_of_bytes(format!("xtask sbom serial number\n{binary_sha256}").as_bytes());
    let mut hex: Vec<char> = digest.chars().take(32).collect();
    hex[12] = '8';
    let variant = hex[16].to_digit(16).unwrap_or(0);
    hex[16] = char::from_digit(0x8 | (variant & 0x3), 16).unwrap_or('8');
    let hex: String = hex.into_iter().collect();
    format!("urn:uuid:{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// `pkg:pypi/<name>@<version>`: the package URL of a PyPI distribution (the name normalised).
pub fn pypi_purl(name: &str, version: &str) -> String {
    format!("pkg:pypi/{}@{}", normalise_name(name), version)
}

/// The CycloneDX 1.6 document of one sidecar, as pretty JSON ending in a newline. The same inputs
/// always give the same text.
pub fn render(subject: &Subject<'_>, contents: &BundledContents) -> String {
    let mut text = serde_json::to_string_pretty(&document(subject, contents)).unwrap_or_default();
    text.push('\n');
    text
}

fn document(subject: &Subject<'_>, contents: &BundledContents) -> Value {
    let sidecar_ref = format!("sidecar:{}", subject.file_name);
    let mut distributions = contents.distributions.clone();
    // The bootloader is in every binary, whether or not a bootstrap module was traced to the package.
    if !distributions.iter().any(|each| each.name == "pyinstaller") {
        distributions.push(Distribution { name: "pyinstaller".into(), version: subject.pyinstaller_version.into() });
        distributions.sort();
    }
    let mut components: Vec<Value> = distributions
        .iter()
        .map(|Distribution { name, version }| {
            let purl = pypi_purl(name, version);
            let mut component = json!({
                "type": "library",
                "bom-ref": purl,
                "name": name,
                "version": version,
                "purl": purl,
            });
            if name == "pyinstaller" {
                component["description"] = json!("PyInstaller's bootloader and bootstrap modules");
            }
            component
        })
        .collect();
    let runtime_name = contents.python_implementation.to_ascii_lowercase();
    components.push(json!({
        "type": "platform",
        "bom-ref": format!("runtime:{runtime_name}@{}", contents.python_version),
        "name": runtime_name,
        "version": contents.python_version,
        "description": "The Python runtime: interpreter, standard library and its extension modules",
    }));
    for library in &contents.system_libraries {
        components.push(json!({
            "type": "file",
            "bom-ref": format!("system-library:{library}"),
            "name": library,
            "description": "A shared library of the build machine's system, bundled by PyInstaller",
        }));
    }
    let depends_on: Vec<Value> = components.iter().map(|component| component["bom-ref"].clone()).collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial_number(subject.sha256),
        "version": 1,
        "metadata": {
            "timestamp": crate::clock::format_utc(subject.source_date_epoch),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "xtask",
                    "version": env!("CARGO_PKG_VERSION"),
                    "description": "cargo xtask sidecar: the lumen-argus release tool",
                }],
            },
            "component": {
                "type": "application",
                "bom-ref": sidecar_ref,
                "name": subject.binary,
                "version": subject.version,
                "hashes": [{"alg": "SHA-256", "content": subject.sha256}],
                "properties": [
                    {"name": "xtask:file", "value": subject.file_name},
                    {"name": "xtask:git_commit", "value": subject.git_commit},
                    {"name": "xtask:target", "value": subject.triple},
                ],
            },
        },
        "components": components,
        "dependencies": [{"ref": sidecar_ref, "dependsOn": depends_on}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 1
requires-python = ">=3.11"

[[package]]
name = "aiohttp"
version = "3.14.5"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "lumen-argus-core"
version = "0.3.1"
source = { editable = "packages/core" }

[[package]]
name = "pyinstaller"
version = "6.22.3"

[[package]]
name = "typing-extensions"
version = "4.15.0"
resolution-markers = ["python_full_version >= '3.13'"]

[[package]]
name = "typing-extensions"
version = "4.16.0"
resolution-markers = ["python_full_version < '3.13'"]
"#;

    /// What `bundled_contents.py` reported for a build, in its cached form.
    fn contents() -> BundledContents {
        BundledContents::from_json(
            r#"{"distributions": [
                {"name": "aiohttp", "version": "3.14.5"},
                {"name": "lumen_argus_core", "version": "0.3.1"},
                {"name": "Typing_Extensions", "version": "4.16.0"},
                {"name": "pyinstaller", "version": "6.22.3"}],
              "python": {"implementation": "cpython", "version": "3.12.1"},
              "system_libraries": ["libssl.so.3"], "unowned": []}"#,
        )
        .unwrap()
    }

    fn subject(sha256: &str) -> Subject<'_> {
        Subject {
            binary: "lumen-argus",
            file_name: "lumen-argus-x86_64-unknown-linux-gnu",
            version: "0.2.5",
            triple: "x86_64-unknown-linux-gnu",
            sha256,
            git_commit: "0123456789abcdef0123456789abcdef01234567",
            source_date_epoch: 1_700_000_000,
            pyinstaller_version: "6.22.3",
        }
    }

    const HASH: &str = "87b832519fc34e8199c5fb3cfb86e3c925dbc92de694d15d37ed2acf8c45f1cc";

    #[test]
    fn locked_distributions_pass_at_any_of_their_locked_versions() {
        let locked = locked_versions(LOCK).unwrap();
        assert_eq!(locked["typing-extensions"], ["4.15.0", "4.16.0"]);
        check_against_lock("lumen-argus", &contents(), &locked).unwrap();
    }

    #[test]
    fn an_unlocked_or_other_version_distribution_is_refused_with_both_named() {
        let mut bundled = contents();
        bundled.distributions.push(Distribution { name: "requests".into(), version: "2.32.0".into() });
        bundled.distributions[0].version = "3.13.0".into();
        let error = check_against_lock("lumen-argus", &bundled, &locked_versions(LOCK).unwrap()).unwrap_err();
        let lines = crate::failure::lines(&error);
        assert!(lines.message.starts_with("lumen-argus bundles what uv.lock does not pin"), "{}", lines.message);
        assert!(lines.message.contains("aiohttp 3.13.0 is bundled but uv.lock pins 3.14.5"), "{}", lines.message);
        assert!(lines.message.contains("requests 2.32.0 is not in uv.lock"), "{}", lines.message);
        assert!(lines.message.ends_with("it is not published"), "{}", lines.message);
        let hint = lines.hint.unwrap();
        assert!(hint.contains("`uv lock`") && hint.contains("--no-cache"), "{hint}");
    }

    #[test]
    fn a_lock_that_is_not_toml_or_has_no_packages_is_refused() {
        assert!(locked_versions("[[package]\nname=").is_err());
        let lines = crate::failure::lines(&locked_versions("version = 1\n").unwrap_err());
        assert!(lines.message.contains("no [[package]]"), "{}", lines.message);
    }

    #[test]
    fn the_serial_number_is_a_uuid_taken_from_the_binary_hash() {
        let serial = serial_number(HASH);
        assert_eq!(serial, serial_number(HASH));
        assert_ne!(serial, serial_number(&HASH.replace('8', "9")));
        let uuid = serial.strip_prefix("urn:uuid:").unwrap();
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(groups.iter().map(|group| group.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)), "{uuid}");
        assert!(groups[2].starts_with('8'), "version 8: {uuid}");
        assert!(groups[3].starts_with(['8', '9', 'a', 'b']), "RFC variant: {uuid}");
    }

    /// The fields and types CycloneDX 1.6 requires of what this document uses (bom-1.6.schema.json:
    /// the BOM's bomFormat and specVersion, a component's type and name, hashes' alg and content,
    /// a dependency's ref, unique bom-refs, the serial number's pattern).
    fn assert_cyclonedx_1_6(document: &Value) {
        assert_eq!(document["bomFormat"], "CycloneDX");
        assert_eq!(document["specVersion"], "1.6");
        assert!(document["version"].as_u64().is_some_and(|version| version >= 1));
        assert!(serial_number_is_valid(document["serialNumber"].as_str().unwrap()));
        let timestamp = document["metadata"]["timestamp"].as_str().unwrap();
        assert!(timestamp.len() == 20 && timestamp.ends_with('Z') && &timestamp[10..11] == "T", "{timestamp}");
        let types = [
            "application",
            "framework",
            "library",
            "container",
            "platform",
            "operating-system",
            "device",
            "device-driver",
            "firmware",
            "file",
            "machine-learning-model",
            "data",
            "cryptographic-asset",
        ];
        let tools = document["metadata"]["tools"]["components"].as_array().unwrap();
        let main = &document["metadata"]["component"];
        let components = document["components"].as_array().unwrap();
        let mut refs = std::collections::BTreeSet::new();
        for component in tools.iter().chain([main]).chain(components) {
            assert!(types.contains(&component["type"].as_str().unwrap()), "{component}");
            assert!(!component["name"].as_str().unwrap().is_empty(), "{component}");
            for key in ["version", "description", "purl"] {
                assert!(component.get(key).is_none_or(Value::is_string), "{key} of {component}");
            }
            if let Some(reference) = component.get("bom-ref") {
                assert!(refs.insert(reference.as_str().unwrap().to_string()), "bom-ref {reference} twice");
            }
        }
        for hash in main["hashes"].as_array().unwrap() {
            assert_eq!(hash["alg"], "SHA-256");
            let content = hash["content"].as_str().unwrap();
            assert!(content.len() == 64 && content.chars().all(|c| c.is_ascii_hexdigit()), "{content}");
        }
        for dependency in document["dependencies"].as_array().unwrap() {
            assert!(refs.contains(dependency["ref"].as_str().unwrap()), "{dependency}");
            for target in dependency["dependsOn"].as_array().unwrap() {
                assert!(refs.contains(target.as_str().unwrap()), "{target} is no bom-ref");
            }
        }
    }

    fn serial_number_is_valid(serial: &str) -> bool {
        serial.strip_prefix("urn:uuid:").is_some_and(|uuid| {
            let lengths: Vec<usize> = uuid.split('-').map(str::len).collect();
            lengths == [8, 4, 4, 4, 12] && uuid.chars().all(|c| c == '-' || matches!(c, '0'..='9' | 'a'..='f'))
        })
    }

    #[test]
    fn the_document_lists_every_bundled_distribution_the_runtime_and_the_bootloader() {
        let text = render(&subject(HASH), &contents());
        let document: Value = serde_json::from_str(&text).unwrap();
        assert_cyclonedx_1_6(&document);
        assert_eq!(document["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
        let main = &document["metadata"]["component"];
        assert_eq!((main["name"].as_str(), main["version"].as_str()), (Some("lumen-argus"), Some("0.2.5")));
        assert_eq!(main["hashes"][0]["content"], HASH);
        let listed: Vec<(String, String, String)> = document["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let text = |key: &str| c.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
                (text("type"), text("name"), text("purl"))
            })
            .collect();
        let expected = [
            ("library", "aiohttp", "pkg:pypi/aiohttp@3.14.5"),
            ("library", "lumen-argus-core", "pkg:pypi/lumen-argus-core@0.3.1"),
            ("library", "pyinstaller", "pkg:pypi/pyinstaller@6.22.3"),
            ("library", "typing-extensions", "pkg:pypi/typing-extensions@4.16.0"),
            ("platform", "cpython", ""),
            ("file", "libssl.so.3", ""),
        ];
        let expected: Vec<(String, String, String)> =
            expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
        assert_eq!(listed, expected);
        assert_eq!(document["components"][4]["version"], "3.12.1");
        assert_eq!(document["dependencies"][0]["ref"], main["bom-ref"]);
        assert_eq!(document["dependencies"][0]["dependsOn"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn the_document_is_deterministic_and_follows_the_bytes() {
        assert_eq!(render(&subject(HASH), &contents()), render(&subject(HASH), &contents()));
        let other = HASH.replace('8', "0");
        let (first, second) = (render(&subject(HASH), &contents()), render(&subject(&other), &contents()));
        assert_ne!(first, second);
        let serial = |text: &str| serde_json::from_str::<Value>(text).unwrap()["serialNumber"].clone();
        assert_ne!(serial(&first), serial(&second));
        assert!(first.ends_with("}\n"));
    }

    #[test]
    fn the_bootloader_is_listed_even_when_no_bootstrap_module_was_traced_to_it() {
        let mut bundled = contents();
        bundled.distributions.retain(|each| each.name != "pyinstaller");
        let document: Value = serde_json::from_str(&render(&subject(HASH), &bundled)).unwrap();
        let purls: Vec<&str> =
            document["components"].as_array().unwrap().iter().filter_map(|c| c["purl"].as_str()).collect();
        assert!(purls.contains(&"pkg:pypi/pyinstaller@6.22.3"), "{purls:?}");
    }
}
