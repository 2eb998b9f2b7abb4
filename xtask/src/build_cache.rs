//! Content-addressed cache of built sidecars under `target/sidecar-cache/<key>/`: when nothing
//! that shapes a binary changed, the binary is copied from here instead of running PyInstaller.
//!
//! An entry is a folder holding the unsigned binary, what it bundles (`bundled-contents.json`, the
//! SBOM's source) and a `.sha256` of each, filled under a temporary name and renamed into place; a
//! lookup hashes both again and ignores (and removes) any entry that is incomplete or does not
//! match its checksums.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::bundled_contents::{self, BundledContents};
use crate::workspace::Workspace;
use crate::{files, hashing, naming};

/// Bump when the key's recipe or an entry's contents change, so old entries stop matching.
/// v3: entries carry `bundled-contents.json`; signing is no longer part of the build (it is done
/// after the cache, on a copy), so CODESIGN_IDENTITY and ENTITLEMENTS_FILE left the key.
const KEY_RECIPE: &str = "xtask sidecar cache v3";

/// The bundled contents' file in an entry.
const BUNDLED_CONTENTS_FILE: &str = "bundled-contents.json";

/// Everything that shapes one sidecar binary besides the source files.
pub struct KeyInputs<'a> {
    pub triple: &'a str,
    pub binary: &'a str,
    pub python_version: &'a str,
    pub pyinstaller_version: &'a str,
    /// The exact `_build_info.py` baked in (version, commit, build time).
    pub build_info: &'a str,
}

/// Length-prefixed fields into one SHA-256, as hex.
struct KeyHasher(Sha256);

impl KeyHasher {
    fn field(&mut self, name: &str, value: &[u8]) {
        self.0.update(format!("{name} {}\n", value.len()).as_bytes());
        self.0.update(value);
    }

    fn finish(self) -> String {
        self.0.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// The key of one sidecar: its own inputs on top of the shared `workspace_digest`.
pub fn key(workspace_digest: &str, inputs: &KeyInputs<'_>) -> String {
    let mut hasher = KeyHasher(Sha256::new());
    hasher.field("recipe", KEY_RECIPE.as_bytes());
    // The cache keeps the bundled-contents report beside the binary: a change to the script that
    // reads it must not serve a report the new script would not write.
    hasher.field("bundled_contents", bundled_contents::SCRIPT.as_bytes());
    hasher.field("workspace", workspace_digest.as_bytes());
    hasher.field("triple", inputs.triple.as_bytes());
    hasher.field("binary", inputs.binary.as_bytes());
    hasher.field("python", inputs.python_version.as_bytes());
    hasher.field("pyinstaller", inputs.pyinstaller_version.as_bytes());
    hasher.field("build_info", inputs.build_info.as_bytes());
    hasher.finish()
}

/// One digest of everything every sidecar shares: the lock, the root manifest and every package's
/// sources. Read once per build, not once per sidecar. (Signing is not an input: the cache keeps
/// unsigned binaries, and `code_signing` signs a copy of each.)
pub fn workspace_digest(workspace: &Workspace) -> anyhow::Result<String> {
    let mut hasher = KeyHasher(Sha256::new());
    let mut field = |name: &str, value: &[u8]| hasher.field(name, value);
    for name in ["uv.lock", "pyproject.toml"] {
        let path = workspace.root.join(name);
        field(name, &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    // Every package's sources: a sidecar bundles its dependencies from the workspace too.
    let packages_dir = workspace.root.join("packages");
    for path in source_files(&packages_dir)? {
        let relative = path.strip_prefix(&workspace.root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        field(
            &format!("file {relative}"),
            &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        );
    }
    Ok(hasher.finish())
}

/// Files under `dir` that go into a build, sorted: no tests, caches, hidden or generated files.
fn source_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("listing {}", folder.display()))? {
            let entry = entry.with_context(|| format!("listing {}", folder.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let skipped_dir =
                matches!(name.as_str(), "tests" | "__pycache__" | "build" | "dist") || name.starts_with('.');
            let skipped_file = name == "_build_info.py" || name.ends_with(".pyc") || name.starts_with('.');
            let kind = entry.file_type().with_context(|| format!("reading {}", entry.path().display()))?;
            if kind.is_dir() && !skipped_dir {
                pending.push(entry.path());
            } else if kind.is_file() && !skipped_file {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

pub fn cache_dir(workspace: &Workspace) -> PathBuf {
    workspace.target_dir().join("sidecar-cache")
}

/// A cache hit: the unsigned binary and what it bundles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedBuild {
    pub binary: PathBuf,
    pub bundled: BundledContents,
}

/// The cached build for `key`, if a complete entry exists whose binary and bundled contents match
/// their checksums.
pub fn lookup(workspace: &Workspace, key: &str, file_name: &str) -> Option<CachedBuild> {
    let entry = cache_dir(workspace).join(key);
    if !entry.exists() {
        return None;
    }
    let intact = |name: &str| {
        let recorded = std::fs::read_to_string(entry.join(naming::checksum_file_name(name))).ok();
        recorded.is_some_and(|line| {
            line == hashing::checksum_line(&hashing::sha256_hex_of_file(&entry.join(name)).unwrap_or_default(), name)
        })
    };
    let bundled = std::fs::read_to_string(entry.join(BUNDLED_CONTENTS_FILE))
        .ok()
        .filter(|_| intact(file_name) && intact(BUNDLED_CONTENTS_FILE))
        .and_then(|text| BundledContents::from_json(&text).ok());
    if let Some(bundled) = bundled {
        return Some(CachedBuild { binary: entry.join(file_name), bundled });
    }
    eprintln!("warning: the cache entry {} is incomplete or damaged; removing it and building again", entry.display());
    let _ = std::fs::remove_dir_all(&entry);
    None
}

/// Store a freshly built (unsigned) binary under `key` with what it bundles, and a checksum of each
/// (a folder renamed into place: never half an entry).
pub fn store(
    workspace: &Workspace,
    key: &str,
    file_name: &str,
    built: &Path,
    bundled: &BundledContents,
) -> anyhow::Result<()> {
    let root = cache_dir(workspace);
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&root)
        .with_context(|| format!("creating a folder in {}", root.display()))?;
    let contents = std::fs::read(built).with_context(|| format!("reading {}", built.display()))?;
    let checksum = hashing::checksum_line(&hashing::sha256_hex_of_bytes(&contents), file_name);
    files::write_atomically_with_mode(&staging.path().join(file_name), &contents, Some(0o755))?;
    files::write_atomically(&staging.path().join(naming::checksum_file_name(file_name)), checksum.as_bytes())?;
    let bundled_text = bundled.to_json();
    let bundled_checksum =
        hashing::checksum_line(&hashing::sha256_hex_of_bytes(bundled_text.as_bytes()), BUNDLED_CONTENTS_FILE);
    files::write_atomically(&staging.path().join(BUNDLED_CONTENTS_FILE), bundled_text.as_bytes())?;
    files::write_atomically(
        &staging.path().join(naming::checksum_file_name(BUNDLED_CONTENTS_FILE)),
        bundled_checksum.as_bytes(),
    )?;
    let entry = root.join(key);
    if entry.exists() {
        std::fs::remove_dir_all(&entry).with_context(|| format!("replacing {}", entry.display()))?;
    }
    std::fs::rename(staging.path(), &entry).with_context(|| format!("filling {}", entry.display()))?;
    // Renamed away: the TempDir has nothing left to delete.
    drop(staging.keep());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_workspace() -> (tempfile::TempDir, Workspace) {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path();
        std::fs::create_dir_all(root.join("packages/tool/tool/__pycache__")).unwrap();
        std::fs::create_dir_all(root.join("packages/tool/tests")).unwrap();
        std::fs::write(root.join("uv.lock"), "lock").unwrap();
        std::fs::write(root.join("pyproject.toml"), "[tool.uv.workspace]").unwrap();
        std::fs::write(root.join("packages/tool/pyproject.toml"), "[project]\nname='tool'\nversion='1.0'\n").unwrap();
        std::fs::write(root.join("packages/tool/tool/app.py"), "print('v1')").unwrap();
        let workspace = Workspace { root: root.to_path_buf(), packages: vec![] };
        (folder, workspace)
    }

    fn bundled() -> BundledContents {
        BundledContents::from_json(
            r#"{"distributions": [{"name": "aiohttp", "version": "3.14.5"}],
                "python": {"implementation": "cpython", "version": "3.12.1"}, "system_libraries": []}"#,
        )
        .unwrap()
    }

    fn key_of(workspace: &Workspace, inputs: &KeyInputs<'_>) -> anyhow::Result<String> {
        Ok(key(&workspace_digest(workspace)?, inputs))
    }

    fn inputs<'a>(build_info: &'a str) -> KeyInputs<'a> {
        KeyInputs {
            triple: "x86_64-unknown-linux-gnu",
            binary: "tool",
            python_version: "3.11.7",
            pyinstaller_version: "6.19.0",
            build_info,
        }
    }

    #[test]
    fn key_changes_with_sources_and_build_facts_only() {
        let (_folder, workspace) = fixture_workspace();
        let root = workspace.root.clone();
        let original = key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap();
        // Tests, bytecode and the generated build info file do not shape the binary.
        std::fs::write(root.join("packages/tool/tests/test_app.py"), "assert True").unwrap();
        std::fs::write(root.join("packages/tool/tool/__pycache__/app.pyc"), "bytes").unwrap();
        std::fs::write(root.join("packages/tool/tool/_build_info.py"), "VERSION = '1.0'").unwrap();
        assert_eq!(key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap(), original);
        assert_ne!(key_of(&workspace, &inputs("VERSION = '1.1'")).unwrap(), original);
        std::fs::write(root.join("packages/tool/tool/app.py"), "print('v2')").unwrap();
        let edited = key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap();
        assert_ne!(edited, original);
        std::fs::write(root.join("uv.lock"), "lock 2").unwrap();
        assert_ne!(key_of(&workspace, &inputs("VERSION = '1.0'")).unwrap(), edited);
    }

    #[test]
    fn store_then_lookup() {
        let (folder, workspace) = fixture_workspace();
        let built = folder.path().join("built");
        std::fs::write(&built, "binary bytes").unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        let cached = lookup(&workspace, "abc", "tool").unwrap();
        assert_eq!(std::fs::read(cached.binary).unwrap(), b"binary bytes");
        assert_eq!(cached.bundled, bundled(), "a cached build writes the same SBOM");
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        assert!(lookup(&workspace, "abc", "tool").is_some());
        let leftovers: Vec<_> =
            std::fs::read_dir(cache_dir(&workspace)).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, ["abc"], "no staging folder is left behind");
    }

    #[test]
    fn a_damaged_or_partial_entry_is_never_used_and_is_removed() {
        let (folder, workspace) = fixture_workspace();
        let built = folder.path().join("built");
        std::fs::write(&built, "binary bytes").unwrap();
        let entry = cache_dir(&workspace).join("abc");
        // Same size, other bytes: only the hash tells.
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::write(entry.join("tool"), "binary BYTES").unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        assert!(!entry.exists(), "the damaged entry is removed");
        // An entry without its checksum (an old or half-made one).
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::remove_file(entry.join("tool.sha256")).unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        // A truncated binary.
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::write(entry.join("tool"), "binary").unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        // Bundled contents edited (another version), or an entry from before they were kept.
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        let text = std::fs::read_to_string(entry.join(BUNDLED_CONTENTS_FILE)).unwrap();
        std::fs::write(entry.join(BUNDLED_CONTENTS_FILE), text.replace("3.14.5", "3.14.6")).unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
        assert!(!entry.exists());
        store(&workspace, "abc", "tool", &built, &bundled()).unwrap();
        std::fs::remove_file(entry.join(BUNDLED_CONTENTS_FILE)).unwrap();
        assert_eq!(lookup(&workspace, "abc", "tool"), None);
    }
}
